"""Running the real `git`, read-only, with fixed argument lists and a time limit.

Every command is built here from validated parts: a revision is first resolved
to a commit id with `rev-parse --verify` (so nothing an agent sends is read as
an option), paths come after `--` under `--literal-pathspecs`, and the work
tree and git directory are named explicitly (a `core.worktree` in the
repository's config cannot point git elsewhere, and git never looks above the
root). Configuration that runs programs is switched off on the command line:
pager, fsmonitor, external diff and textconv, signature checks, and the
repository's clean/smudge filters. The environment is rebuilt from scratch
(no `GIT_*` or pager variable of the caller reaches git), system config is not
read, and optional locks are off, so a `git diff` does not rewrite the index.
Output is read up to `MAX_GIT_OUTPUT_BYTES`; past that, or past the time limit,
the process is killed and the caller is told.

Not protected: the repository's own objects may be large or many; git's time
and output limits bound what that costs.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache

import anyio

from engine.errors import InvalidArgumentError
from engine.repo.paths import Repo

__all__ = ["GitOutput", "run_git", "resolve_revision", "git_env", "git_prefix", "file_at", "MAX_GIT_OUTPUT_BYTES"]

# Bytes of output one git command may produce before it is stopped (the tools then fit
# what they show to their token budget).
MAX_GIT_OUTPUT_BYTES = 4_000_000
# A revision as an agent may write it: names, ids, HEAD~2, main^, v1.0, HEAD@{1}.
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./~^@{}+-]{0,199}")

# -c settings that keep git from running programs or paging.
_SAFE_CONFIG = (
    "core.pager=cat",
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "log.showSignature=false",
    "color.ui=false",
    "core.quotePath=false",
)


@dataclass(frozen=True)
class GitOutput:
    stdout: bytes
    stderr: str
    returncode: int
    truncated: bool = False  # stopped at MAX_GIT_OUTPUT_BYTES

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def git_env(repo: Repo) -> dict[str, str]:
    """A clean environment: PATH and HOME only, no system config, no prompts, no optional locks."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C.UTF-8",
        GIT_CEILING_DIRECTORIES=str(repo.root.parent), GIT_PAGER="cat", PAGER="cat",
    )  # fmt: skip
    return env


def git_prefix(repo: Repo) -> list[str]:
    """`git` with the work tree, git directory and the safe settings fixed."""
    argv = ["git", "--no-pager", "--literal-pathspecs", f"--work-tree={repo.root}", f"--git-dir={_git_dir(repo)}"]
    for setting in (*_SAFE_CONFIG, *_filter_overrides(repo)):
        argv += ["-c", setting]
    return argv


@cache
def _git_dir_of(root: str) -> str:
    """The git directory: root/.git, or where a `.git` file (a worktree, a submodule) points."""
    dot = os.path.join(root, ".git")
    if os.path.isfile(dot):
        with open(dot, encoding="utf-8", errors="replace") as fh:
            line = fh.readline().strip()
        if line.startswith("gitdir:"):
            target = line.removeprefix("gitdir:").strip()
            return os.path.normpath(os.path.join(root, target))
    return dot


def _git_dir(repo: Repo) -> str:
    return _git_dir_of(str(repo.root))


def _filters_of(git_dir: str) -> tuple[str, ...]:
    """The filter drivers the repository's config defines (their clean, smudge and process
    commands would run on `git diff` of the working tree). Read for every command, not
    cached: a config edited during a long-lived server's life is still covered."""
    try:
        done = subprocess.run(
            ["git", f"--git-dir={git_dir}", "config", "--name-only", "--get-regexp", r"^filter\."],
            capture_output=True, timeout=GIT_TIMEOUT_FALLBACK, stdin=subprocess.DEVNULL, check=False,
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), "GIT_CONFIG_NOSYSTEM": "1"},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ()
    names = {line.rsplit(".", 1)[0] for line in done.stdout.decode("utf-8", "replace").splitlines() if "." in line}
    return tuple(sorted(names))


# Seconds the one-off config read that lists filter drivers may take.
GIT_TIMEOUT_FALLBACK = 5.0


def _filter_overrides(repo: Repo) -> list[str]:
    out = []
    for driver in _filters_of(_git_dir(repo)):
        out += [f"{driver}.clean=", f"{driver}.smudge=", f"{driver}.process=", f"{driver}.required=false"]
    return out


async def run_git(repo: Repo, args: list[str]) -> GitOutput:
    """Run `git <args>` in the repository; raises InvalidArgumentError when it is not a git
    repository or the command ran past its time limit."""
    if not repo.is_git:
        raise InvalidArgumentError(
            "the repository is not a git repository (no .git at its root), so git history is not available; "
            "list_files, search_code and read_file still work"
        )
    argv = [*git_prefix(repo), *args]
    out = bytearray()
    err = bytearray()
    truncated = False
    with anyio.move_on_after(repo.git_timeout_s) as clock:
        async with await anyio.open_process(argv, stdin=subprocess.DEVNULL, env=git_env(repo), cwd=repo.root) as proc:
            try:
                async with anyio.create_task_group() as tg:

                    async def drain_err() -> None:
                        assert proc.stderr is not None
                        async for chunk in proc.stderr:
                            if len(err) < 8192:
                                err.extend(chunk)

                    tg.start_soon(drain_err)
                    assert proc.stdout is not None
                    async for chunk in proc.stdout:
                        out.extend(chunk)
                        if len(out) > MAX_GIT_OUTPUT_BYTES:
                            truncated = True
                            proc.kill()
                            break
                code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    with anyio.CancelScope(shield=True):
                        await proc.wait()
    if clock.cancelled_caught:
        raise InvalidArgumentError(
            f"git {args[0]} ran longer than {repo.git_timeout_s:g}s and was stopped; narrow it to a path "
            "or fewer commits"
        )
    return GitOutput(bytes(out[:MAX_GIT_OUTPUT_BYTES]), err.decode("utf-8", "replace").strip(),
                     0 if truncated else code, truncated)  # fmt: skip


async def resolve_revision(repo: Repo, revision: str | None) -> str:
    """The full commit id of `revision` (default HEAD); raises in a sentence for one that is not a commit."""
    rev = (revision or "HEAD").strip()
    if not _REVISION.fullmatch(rev) or ".." in rev:
        raise InvalidArgumentError(
            f"{revision!r} is not a revision; give a commit id, a branch or tag name, or HEAD~N "
            "(one revision; for a range give base and target separately)"
        )
    done = await run_git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"])
    commit = done.text.strip()
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        raise InvalidArgumentError(f"the revision {rev!r} is not a commit of this repository; git_log lists them")
    return commit


async def file_at(repo: Repo, commit: str, rel: str) -> str | None:
    """The text of `rel` at `commit` (a resolved id), or None when the file is not there."""
    done = await run_git(repo, ["cat-file", "blob", f"{commit}:{rel}"])
    if done.returncode != 0:
        return None
    return done.text
