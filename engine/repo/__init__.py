"""Read-only tools over the agent's own code: the harness repository.

Given `--repo PATH` (or `HALO_MCP_REPO` for the server), the diagnose engine's
agents may list, search and read the files of the agent they diagnose, and read
its git history, so findings name the prompt line, tool description or retry
code to change as `path:line`. These are agent tools, not MCP tools (an MCP
client has its own file access): `REPO_TOOLS` is their registry, called through
`engine.tools.registry.call_tool` like every trace tool, with the `Repo` as
context and the same token budgets.

    paths.py    the repository and the one rule for every path into it
    git.py      the real git, read-only, fixed argument lists, time and output limits
    files.py    list_files, search_code (RE2), read_file
    history.py  git_log, git_show, git_diff, git_blame
    answer.py   the answer every tool gives, fitted to its budget
"""

from __future__ import annotations

from typing import Any

from engine.repo.answer import RepoAnswer, description
from engine.repo.files import ListFilesArgs, ReadFileArgs, SearchCodeArgs, list_files, read_file, search_code_tool
from engine.repo.history import (
    GitBlameArgs,
    GitDiffArgs,
    GitLogArgs,
    GitShowArgs,
    git_blame,
    git_diff,
    git_log,
    git_show,
)
from engine.repo.paths import Repo, open_repo
from engine.tools.registry import ToolSpec

__all__ = ["Repo", "open_repo", "REPO_TOOLS", "RepoAnswer"]


def _spec(name: str, title: str, args: type[Any], handler: Any) -> ToolSpec[Any, Any]:
    return ToolSpec(name=name, title=title, description=description(name), args=args, result=RepoAnswer,
                    handler=handler)  # fmt: skip


REPO_TOOLS: dict[str, ToolSpec[Any, Any]] = {
    spec.name: spec
    for spec in (
        _spec("list_files", "List the harness's files", ListFilesArgs, list_files),
        _spec("search_code", "Search the harness's code", SearchCodeArgs, search_code_tool),
        _spec("read_file", "Read a window of a harness file", ReadFileArgs, read_file),
        _spec("git_log", "The harness's git history", GitLogArgs, git_log),
        _spec("git_show", "One commit of the harness", GitShowArgs, git_show),
        _spec("git_diff", "Differences in the harness", GitDiffArgs, git_diff),
        _spec("git_blame", "Who changed each line", GitBlameArgs, git_blame),
    )
}
