"""The repository tools over a real git repository made in tmp_path, through `call_tool`."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from support.fake_harness import OLD_PROMPT_LINE_3, PROMPT_LINE_3, git, make_harness

from engine.errors import HaloError, InvalidPatternError, PathNotAllowedError
from engine.repo import REPO_TOOLS, Repo, open_repo
from engine.tools.registry import call_tool

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return open_repo(make_harness(tmp_path / "agent"))


async def call(repo: Repo, name: str, budget: int = 4000, **arguments: object) -> str:
    return (await call_tool(name, repo, dict(arguments), budget_tokens=budget, registry=REPO_TOOLS)).text


async def test_list_files_shows_the_tracked_files_and_not_git_internals(repo: Repo) -> None:
    text = await call(repo, "list_files")
    assert text.splitlines()[1:] == ["prompts/system.md", "retry.py", "tools/search_flights.md"]
    assert "prompts/system.md" in await call(repo, "list_files", glob="*.md")
    assert "retry.py" not in await call(repo, "list_files", glob="prompts/*")


async def test_search_code_finds_lines_with_context_and_line_numbers(repo: Repo) -> None:
    text = await call(repo, "search_code", pattern="search_flights", context=1)
    assert f"prompts/system.md:3: {PROMPT_LINE_3}" in text
    assert "prompts/system.md-2- You are a travel agent that books flights." in text
    assert "tools/search_flights.md:1: search_flights: find flights" in text
    assert "2 matches" in text


async def test_read_file_reads_a_window_in_the_working_tree_and_at_a_revision(repo: Repo) -> None:
    text = await call(repo, "read_file", path="prompts/system.md", start=3, count=1)
    assert f"3| {PROMPT_LINE_3}" in text and "start=4" in text
    old = await call(repo, "read_file", path="prompts/system.md", revision="HEAD~1")
    assert f"3| {OLD_PROMPT_LINE_3}" in old and "at HEAD~1" in old
    with pytest.raises(HaloError, match=r"does not exist at HEAD~1"):
        await call(repo, "read_file", path="retry.py", revision="HEAD~1")


async def test_git_log_show_diff_and_blame_answer_from_the_real_history(repo: Repo) -> None:
    log = await call(repo, "git_log")
    assert "One search per question; no retries" in log and "First prompt and tool" in log
    assert "One search" not in await call(repo, "git_log", path="tools")
    show = await call(repo, "git_show", revision="HEAD")
    assert f"+{PROMPT_LINE_3}" in show and f"-{OLD_PROMPT_LINE_3}" in show
    (repo.root / "retry.py").write_text("MAX_RETRIES = 2\n")
    diff = await call(repo, "git_diff")
    assert "+MAX_RETRIES = 2" in diff and "to the working tree" in diff
    between = await call(repo, "git_diff", base="HEAD~1", target="HEAD", path="prompts/system.md")
    assert f"+{PROMPT_LINE_3}" in between and "retry.py" not in between
    blame = await call(repo, "git_blame", path="prompts/system.md", start=3, count=1)
    assert f"3| {PROMPT_LINE_3}" in blame and "Ann" in blame
    assert git(repo.root, "status", "--porcelain") == " M retry.py\n"  # nothing but our own edit changed


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("../outside.txt", "goes up with '..'"),
        ("prompts/../../outside.txt", "goes up with '..'"),
        ("/etc/passwd", "is absolute"),
        ("~/.ssh/id_rsa", "is absolute"),
        (".git/config", "inside .git"),
        ("prompts/../.git/HEAD", "goes up"),
        ("link_out", "leads out of the repository"),
        ("link_git", "leads into .git"),
    ],
)
async def test_paths_that_leave_the_repository_are_refused_in_a_sentence(repo: Repo, path: str, says: str) -> None:
    (repo.root.parent / "outside.txt").write_text("secret outside the repository")
    os.symlink(repo.root.parent / "outside.txt", repo.root / "link_out")
    os.symlink(repo.root / ".git" / "config", repo.root / "link_git")
    for tool, extra in (("read_file", {}), ("git_blame", {})):
        if tool == "git_blame" and path.startswith("link"):
            continue  # git reads its own objects; a working-tree symlink is not followed there
        with pytest.raises(PathNotAllowedError, match=says) as caught:
            await call(repo, tool, path=path, **extra)
        assert "secret" not in str(caught.value)
    listing = await call(repo, "search_code", pattern="secret|repositoryformatversion")
    assert "0 matches" in listing  # search does not follow a symlink out, nor into .git


async def test_a_revision_that_looks_like_an_option_is_refused_before_git_sees_it(repo: Repo) -> None:
    written = repo.root.parent / "written"
    for revision in (f"--output={written}", "-p", "HEAD..main", "HEAD;rm -rf /", "no-such-branch"):
        with pytest.raises(HaloError, match=r"not a revision|not a commit"):
            await call(repo, "git_show", revision=revision)
        with pytest.raises(HaloError, match=r"not a revision|not a commit"):
            await call(repo, "git_diff", base=revision)
    assert not written.exists()


async def test_configuration_that_runs_programs_runs_none(repo: Repo) -> None:
    marker = repo.root.parent / "ran"
    program = f"sh -c 'echo $0 >> {marker}'"
    for key, value in [
        ("core.pager", program), ("core.fsmonitor", program), ("diff.external", program),
        ("filter.evil.clean", program), ("filter.evil.smudge", program),
        ("diff.evil.textconv", program), ("log.showSignature", "true"), ("gpg.program", program),
    ]:  # fmt: skip
        git(repo.root, "config", key, value)
    (repo.root / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (repo.root / "retry.py").write_text("MAX_RETRIES = 3\n")
    for name, arguments in [
        ("git_diff", {}), ("git_diff", {"base": "HEAD~1", "target": "HEAD"}), ("git_show", {"revision": "HEAD"}),
        ("git_log", {}), ("git_blame", {"path": "retry.py"}), ("list_files", {}),
        ("read_file", {"path": "prompts/system.md", "revision": "HEAD~1"}),
    ]:  # fmt: skip
        await call(repo, name, **arguments)
    assert not marker.exists(), marker.read_text()
    subprocess.run(["git", "diff"], cwd=repo.root, capture_output=True, check=False)  # plain git runs them
    assert marker.exists()


async def test_a_pattern_that_would_backtrack_is_refused_or_runs_in_linear_time(repo: Repo) -> None:
    (repo.root / "data.txt").write_text("a" * 100_000 + "!\n")
    with pytest.raises(InvalidPatternError, match=r"needs a backtracking regex engine") as caught:
        await call(repo, "search_code", pattern=r"(a+)+\1")
    assert "(?m)" not in str(caught.value)
    # catastrophic for a backtracking engine; RE2 answers at once
    assert "0 matches" in await call(repo, "search_code", pattern=r"(a+)+$x")


async def test_answers_fit_their_budget_and_say_how_to_see_the_rest(repo: Repo) -> None:
    (repo.root / "long.py").write_text("".join(f"line_{n} = {n}  # {'x' * 60}\n" for n in range(3000)))
    text = await call(repo, "read_file", budget=600, path="long.py", count=1000)
    assert "line_0 = 0" in text and "line_999" not in text
    assert "read_file(path='long.py', start=" in text
    hits = await call(repo, "search_code", budget=600, pattern="line_1")
    assert "shown" in hits and "narrow" in hits


async def test_a_git_command_past_its_time_limit_is_stopped_and_said_so(repo: Repo) -> None:
    hasty = dataclasses.replace(repo, git_timeout_s=1e-6)
    with pytest.raises(HaloError, match=r"ran longer than 1e-06s and was stopped; narrow it"):
        await call(hasty, "git_log")


async def test_a_plain_directory_has_file_tools_but_no_history(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "prompt.md").write_text("Be brief.\n")
    repo = open_repo(tmp_path / "plain")
    assert "prompt.md" in await call(repo, "list_files")
    with pytest.raises(HaloError, match=r"not a git repository"):
        await call(repo, "git_log")
    with pytest.raises(HaloError, match=r"is not a directory"):
        open_repo(tmp_path / "missing")
