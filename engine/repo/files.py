"""The working-tree tools: list files, search them with a regex, read a window of one.

Searching uses `engine.traces.user_regex.compile_pattern` (RE2): matching is
linear in the text for any pattern, so no pattern an agent writes can hang a
run; a pattern that needs backtracking is refused with a sentence. Each file is
read once, up to `MAX_FILE_BYTES`, binary files are skipped, and a search stops
after `MAX_SEARCH_BYTES` in all, saying so.
"""

from __future__ import annotations

from bisect import bisect_right

import anyio.to_thread
from pydantic import Field

from engine.errors import HaloError, InvalidArgumentError, InvalidPatternError
from engine.repo.answer import RepoAnswer, fitted
from engine.repo.git import file_at, resolve_revision
from engine.repo.paths import MAX_FILE_BYTES, Repo, matches_glob
from engine.tools.common import ToolArgs
from engine.traces.user_regex import compile_pattern

__all__ = ["ListFilesArgs", "SearchCodeArgs", "ReadFileArgs", "list_files", "search_code", "read_file",
           "read_text", "MAX_SEARCH_BYTES", "MAX_MATCHES", "MAX_CONTEXT_LINES", "MAX_WINDOW_LINES"]  # fmt: skip

# Bytes one search reads in all before it stops (and says where).
MAX_SEARCH_BYTES = 64_000_000
# Matches one search collects at most; the answer then shows as many as fit.
MAX_MATCHES = 200
# Lines of context a search may show around each match.
MAX_CONTEXT_LINES = 5
# Lines one read_file call may ask for.
MAX_WINDOW_LINES = 1_000
# Bytes sniffed for a NUL to tell a binary file.
_SNIFF_BYTES = 8192


class ListFilesArgs(ToolArgs):
    glob: str | None = Field(default=None, description="fnmatch pattern like 'prompts/*.md' or '*.py'; omit for all")
    offset: int = Field(default=0, ge=0, description="skip this many files (to page on)")


class SearchCodeArgs(ToolArgs):
    pattern: str = Field(description="regular expression (RE2 syntax: no lookaround or backreferences)")
    glob: str | None = Field(default=None, description="only files matching this fnmatch pattern, like '*.py'")
    ignore_case: bool = False
    context: int = Field(default=2, ge=0, le=MAX_CONTEXT_LINES, description="lines shown before and after")


class ReadFileArgs(ToolArgs):
    path: str = Field(description="path relative to the repository root, as list_files shows it")
    start: int = Field(default=1, ge=1, description="first line (1-based)")
    count: int = Field(default=200, ge=1, le=MAX_WINDOW_LINES, description="lines to read")
    revision: str | None = Field(default=None, description="read the file at this commit; omit for the working tree")


def read_text(repo: Repo, path: str) -> tuple[str, str]:
    """(relative path, text) of a working-tree file; raises in a sentence for one that cannot be read."""
    rel, real = repo.confine(path)
    if not real.is_file():
        what = "a directory" if real.is_dir() else "not in the working tree"
        raise InvalidArgumentError(f"{rel or '.'!r} is {what}; list_files shows the files")
    size = real.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidArgumentError(f"{rel!r} has {size:,} bytes, over the {MAX_FILE_BYTES:,} read here; "
                                   "search_code finds lines in it")  # fmt: skip
    data = real.read_bytes()
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise InvalidArgumentError(f"{rel!r} is a binary file")
    return rel, data.decode("utf-8", "replace")


async def list_files(repo: Repo, args: ListFilesArgs, budget: int) -> RepoAnswer:
    names, capped = await anyio.to_thread.run_sync(repo.files)
    chosen = [n for n in names if matches_glob(n, args.glob)]
    page = chosen[args.offset :]
    notes = [f"the listing stopped at {len(names):,} files"] if capped else []
    glob = f" matching {args.glob!r}" if args.glob else ""
    header = f"{len(chosen)} files{glob}" + (f", from #{args.offset}" if args.offset else "")
    glob_arg = f"glob={args.glob!r}, " if args.glob else ""
    def more(n: int) -> str:
        return f"list_files({glob_arg}offset={args.offset + n}) shows more"

    return fitted(header, page, budget, more=more, notes=notes)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _search(repo: Repo, args: SearchCodeArgs) -> tuple[list[str], int, int, list[str]]:
    """(output lines, matches, files searched, notes)."""
    try:  # line by line, as grep: ^ and $ match at line ends
        regex = compile_pattern(f"(?m){args.pattern}", ignore_case=args.ignore_case)
    except InvalidPatternError as exc:
        raise type(exc)(str(exc).replace("'(?m)", "'", 1)) from None
    names, capped = repo.files()
    notes = [f"only the first {len(names):,} files were searched"] if capped else []
    out: list[str] = []
    matches = files = read = 0
    for name in names:
        if not matches_glob(name, args.glob):
            continue
        try:
            _rel, real = repo.confine(name)
            if not real.is_file() or real.stat().st_size > MAX_FILE_BYTES:
                continue
            data = real.read_bytes()
        except (OSError, HaloError, ValueError):
            continue  # a symlink out of the root, a file gone: not searched
        if b"\x00" in data[:_SNIFF_BYTES]:
            continue
        read += len(data)
        files += 1
        text = data.decode("utf-8", "replace")
        lines = text.split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # the newline that ends the last line starts no line
        starts = _line_starts(text)
        shown_until = -1
        for start, _end in regex.spans(text):
            line = min(bisect_right(starts, start) - 1, len(lines) - 1)
            matches += 1
            low, high = max(line - args.context, shown_until + 1), min(len(lines) - 1, line + args.context)
            if out and low > shown_until + 1 and out[-1] != "--":
                out.append("--")
            for n in range(low, high + 1):
                mark = ":" if n == line else "-"
                out.append(f"{name}{mark}{n + 1}{mark} {lines[n]}")
            shown_until = max(shown_until, high)
            if matches >= MAX_MATCHES:
                notes.append(f"stopped at {MAX_MATCHES} matches; narrow the pattern or the glob")
                return out, matches, files, notes
        if read >= MAX_SEARCH_BYTES:
            notes.append(f"stopped after reading {read:,} bytes (in {name}); narrow it with glob")
            break
    return out, matches, files, notes


async def search_code(repo: Repo, args: SearchCodeArgs) -> tuple[list[str], int, int, list[str]]:
    return await anyio.to_thread.run_sync(_search, repo, args)


async def search_code_tool(repo: Repo, args: SearchCodeArgs, budget: int) -> RepoAnswer:
    lines, matches, files, notes = await search_code(repo, args)
    header = f"{matches} matches of {args.pattern!r} in {files} files searched (path:line: text; '-' marks context)"
    return fitted(header, lines, budget, notes=notes,
                  more="narrow the pattern or glob, or read_file around a match")  # fmt: skip


async def read_file(repo: Repo, args: ReadFileArgs, budget: int) -> RepoAnswer:
    if args.revision:
        rel = repo.relative(args.path)
        commit = await resolve_revision(repo, args.revision)
        found = await file_at(repo, commit, rel)
        if found is None:
            raise InvalidArgumentError(f"{rel!r} does not exist at {args.revision} ({commit[:12]}); "
                                       f"git_log(path={rel!r}) shows the commits that touched it")  # fmt: skip
        text, where = found, f" at {args.revision} ({commit[:12]})"
    else:
        rel, text = await anyio.to_thread.run_sync(read_text, repo, args.path)
        where = ""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = min(args.start, max(1, len(lines)))
    window = lines[first - 1 : first - 1 + args.count]
    width = len(str(first + len(window)))
    numbered = [f"{n:>{width}}| {line}" for n, line in enumerate(window, first)]
    header = f"{rel}{where}: lines {first}-{first + len(window) - 1} of {len(lines)}"
    rev = f", revision={args.revision!r}" if args.revision else ""
    def more(n: int) -> str:
        return f"read_file(path={rel!r}, start={first + n}{rev}) reads on"

    answer = fitted(header, numbered, budget, more=more)
    if answer.more is None and first - 1 + len(window) < len(lines):  # the window fit; the file goes on
        end = first + len(window)
        answer = answer.model_copy(update={"more": f"read_file(path={rel!r}, start={end}{rev}) reads on",
                                           "total": len(lines) - first + 1})  # fmt: skip
    return answer
