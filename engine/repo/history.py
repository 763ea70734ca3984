"""The git tools: log, show, diff and blame, each one fixed command over validated parts.

Revisions are resolved to commit ids first (`git.resolve_revision`), paths are
checked by `Repo.relative` and passed after `--`; no argument an agent sends
reaches git as an option. Answers are fitted to the token budget line by line.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from engine.errors import InvalidArgumentError
from engine.repo.answer import RepoAnswer, fitted
from engine.repo.git import GitOutput, resolve_revision, run_git
from engine.repo.paths import Repo
from engine.tools.common import ToolArgs

__all__ = ["GitLogArgs", "GitShowArgs", "GitDiffArgs", "GitBlameArgs", "git_log", "git_show", "git_diff",
           "git_blame", "MAX_LOG_COMMITS", "MAX_BLAME_LINES"]  # fmt: skip

# Commits one git_log call may list.
MAX_LOG_COMMITS = 200
# Lines one git_blame call may cover.
MAX_BLAME_LINES = 500
# Options every patch is produced with: no external diff, no textconv, no colour.
_PATCH = ["--no-ext-diff", "--no-textconv", "--no-color"]


class GitLogArgs(ToolArgs):
    path: str | None = Field(default=None, description="only commits touching this file or folder")
    revision: str | None = Field(default=None, description="start from this commit or branch; omit for HEAD")
    max_count: int = Field(default=20, ge=1, le=MAX_LOG_COMMITS)
    skip: int = Field(default=0, ge=0, description="skip this many commits (to page on)")


class GitShowArgs(ToolArgs):
    revision: str = Field(description="commit id, branch, tag or HEAD~N")
    path: str | None = Field(default=None, description="only this file's or folder's part of the patch")


class GitDiffArgs(ToolArgs):
    base: str | None = Field(default=None, description="from this commit; omit for HEAD")
    target: str | None = Field(default=None, description="to this commit; omit for the working tree")
    path: str | None = Field(default=None, description="only this file or folder")


class GitBlameArgs(ToolArgs):
    path: str = Field(description="file relative to the repository root")
    start: int = Field(default=1, ge=1, description="first line (1-based)")
    count: int = Field(default=50, ge=1, le=MAX_BLAME_LINES)
    revision: str | None = Field(default=None, description="blame as of this commit; omit for the working tree")


def _pathspec(repo: Repo, path: str | None) -> list[str]:
    rel = repo.relative(path) if path else ""
    return ["--", rel] if rel else ["--"]


def _failed(command: str, done: GitOutput) -> InvalidArgumentError:
    first = done.stderr.splitlines()[0] if done.stderr else f"exit status {done.returncode}"
    return InvalidArgumentError(f"git {command} failed: {first}")


def _notes(done: GitOutput) -> list[str]:
    return ["git's output was longer than is read here; it is cut: narrow it with path"] if done.truncated else []


async def git_log(repo: Repo, args: GitLogArgs, budget: int) -> RepoAnswer:
    commit = await resolve_revision(repo, args.revision)
    fmt = "--format=%h %ad %an: %s"
    argv = ["log", fmt, "--date=short", f"--max-count={args.max_count}", f"--skip={args.skip}", commit]
    done = await run_git(repo, [*argv, *_pathspec(repo, args.path)])
    if done.returncode != 0:
        raise _failed("log", done)
    lines = done.text.splitlines()
    where = f" touching {args.path!r}" if args.path else ""
    header = f"{len(lines)} commits{where} from {args.revision or 'HEAD'} (id date author: subject)"
    path = f"path={args.path!r}, " if args.path else ""

    def more(n: int) -> str:
        return f"git_log({path}skip={args.skip + n}) lists more"

    if len(lines) == args.max_count:
        notes = [f"there may be more: git_log({path}skip={args.skip + len(lines)})", *_notes(done)]
    else:
        notes = _notes(done)
    return fitted(header, lines, budget, more=more, notes=notes)


async def git_show(repo: Repo, args: GitShowArgs, budget: int) -> RepoAnswer:
    commit = await resolve_revision(repo, args.revision)
    argv = ["show", *_PATCH, "--stat", "--patch", "--format=commit %H%nAuthor: %an <%ae>%nDate: %aI%n%n%B", commit]
    done = await run_git(repo, [*argv, *_pathspec(repo, args.path)])
    if done.returncode != 0:
        raise _failed("show", done)
    lines = done.text.splitlines()
    hint = "git_show with path=... shows one file's part; read_file with revision=... the file itself"
    return fitted(f"git show {commit[:12]}", lines, budget, more=hint, notes=_notes(done))


async def git_diff(repo: Repo, args: GitDiffArgs, budget: int) -> RepoAnswer:
    base = await resolve_revision(repo, args.base)
    revisions = [base]
    if args.target:
        revisions.append(await resolve_revision(repo, args.target))
    done = await run_git(repo, ["diff", *_PATCH, "--stat", "--patch", *revisions, *_pathspec(repo, args.path)])
    if done.returncode != 0:
        raise _failed("diff", done)
    lines = done.text.splitlines()
    to = args.target or "the working tree"
    header = f"diff from {args.base or 'HEAD'} ({base[:12]}) to {to}" + (f", {args.path!r} only" if args.path else "")
    if not lines:
        return RepoAnswer(header=header, lines=["(no differences)"], total=1, shown=1, notes=_notes(done))
    return fitted(header, lines, budget, more="git_diff with path=... shows one file", notes=_notes(done))


def _blame_lines(porcelain: str) -> list[str]:
    """`git blame --line-porcelain` as 'commit date author  n| text' lines."""
    out: list[str] = []
    info: dict[str, str] = {}
    commit, line_no = "", 0
    for raw in porcelain.split("\n"):
        if raw.startswith("\t"):
            date = info.get("author-time", "")
            out.append(f"{commit[:8]} {info.get('author', '?')[:20]} {date} {line_no:>5}| {raw[1:]}")
            info = {}
            continue
        head, _, rest = raw.partition(" ")
        if len(head) >= 40 and all(c in "0123456789abcdef" for c in head):
            commit, line_no = head, int(rest.split(" ")[1]) if len(rest.split(" ")) > 1 else 0
        elif head == "author-time":
            info["author-time"] = (
                datetime.fromtimestamp(int(rest), UTC).strftime("%Y-%m-%d") if rest.isdigit() else rest
            )
        elif head in ("author",):
            info[head] = rest
    return out


async def git_blame(repo: Repo, args: GitBlameArgs, budget: int) -> RepoAnswer:
    rel = repo.relative(args.path)
    if not rel:
        raise InvalidArgumentError("git_blame needs a file path, like prompts/system.md")
    revisions = [await resolve_revision(repo, args.revision)] if args.revision else []
    span = f"-L{args.start},+{args.count}"
    done = await run_git(repo, ["blame", "--line-porcelain", "--no-textconv", span, *revisions, "--", rel])
    if done.returncode != 0:
        raise _failed("blame", done)
    lines = _blame_lines(done.text)
    header = f"blame of {rel}" + (f" at {args.revision}" if args.revision else "") + " (commit author date line| text)"

    def more(n: int) -> str:
        return f"git_blame(path={rel!r}, start={args.start + n}) goes on"

    return fitted(header, lines, budget, more=more, notes=_notes(done))
