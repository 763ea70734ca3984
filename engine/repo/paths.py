"""The harness repository an agent may read, and the one rule for every path into it.

A `Repo` is a directory (usually a git work tree) that the diagnose engine's
agents read to name the prompt, tool description or retry code behind a
failure. Every path an agent sends comes through `Repo.relative` (a path as
git knows it) or `Repo.confine` (a file in the working tree): relative to the
root, no `..` out of it, nothing under `.git`, and, for working-tree files, the
target of every symlink inside the root too. A refused path gets one sentence
that names the rule, never what lies outside.

Not protected here: a file inside the root that another process changes while
it is read (the agent then reads the new text), and what git itself does with
the repository's own configuration (see `engine.repo.safe_git`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from engine.errors import InvalidArgumentError, PathNotAllowedError
from engine.repo.safe_git import git_env, git_prefix

__all__ = ["Repo", "open_repo", "MAX_LISTED_FILES", "MAX_FILE_BYTES", "GIT_TIMEOUT_S", "matches_glob"]

# Files a listing or a search walks at most: a repository larger than this is read
# in part, and the answer says so.
MAX_LISTED_FILES = 50_000
# Working-tree files larger than this are not read or searched (bundles, data, lock files).
MAX_FILE_BYTES = 2_000_000
# Seconds one git command may run before it is stopped.
GIT_TIMEOUT_S = 10.0
# Directory names a listing outside git skips: never the harness's own code.
_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
                           ".pytest_cache", ".ruff_cache", ".tox"})  # fmt: skip


class _Refused(PathNotAllowedError):
    """A path the repository tools will not read."""


@dataclass(frozen=True)
class Repo:
    """A repository root (resolved), whether git manages it, and its limits."""

    root: Path
    is_git: bool
    git_timeout_s: float = GIT_TIMEOUT_S

    def relative(self, path: str) -> str:
        """`path` as a normalised POSIX path relative to the root; raises for one that leaves it."""
        text = (path or "").strip().replace("\\", "/")
        if not text or text in {".", "./"}:
            return ""
        if text.startswith("/") or (len(text) > 1 and text[1] == ":") or text.startswith("~"):
            raise _Refused(f"the path {path!r} is absolute; give a path relative to the repository root, "
                           "like prompts/system.md (list_files shows them)")  # fmt: skip
        parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
        if ".." in parts:
            raise _Refused(f"the path {path!r} goes up with '..'; the repository tools read only inside the "
                           "repository, with paths relative to its root")  # fmt: skip
        if any(p.lower() == ".git" for p in parts):
            raise _Refused(f"the path {path!r} is inside .git; git's own files are read only through "
                           "git_log, git_show, git_diff and git_blame")  # fmt: skip
        if any("\x00" in p for p in parts):
            raise InvalidArgumentError(f"the path {path!r} contains a NUL character")
        return "/".join(parts)

    def confine(self, path: str) -> tuple[str, Path]:
        """(relative path, real file) of a working-tree path, with every symlink resolved inside the root."""
        rel = self.relative(path)
        real = (self.root / rel).resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise _Refused(f"the path {path!r} leads out of the repository (through a symlink); "
                           "the repository tools read only inside it")  # fmt: skip
        inside = real.relative_to(self.root).parts
        if any(p.lower() == ".git" for p in inside):
            raise _Refused(f"the path {path!r} leads into .git; git's own files are read only through "
                           "git_log, git_show, git_diff and git_blame")  # fmt: skip
        return rel, real

    def files(self, limit: int = MAX_LISTED_FILES) -> tuple[list[str], bool]:
        """(working-tree files as relative paths, sorted; whether the listing stopped at `limit`).

        In a git repository: tracked and untracked files that are not ignored
        (`git ls-files`), so build output and virtualenvs stay out; elsewhere a walk
        that skips the usual tool directories. Symlinks are listed as they are.
        """
        names = self._git_files() if self.is_git else None
        if names is None:
            names = self._walk(limit + 1)
        names = sorted(n for n in set(names) if n and not any(p == ".git" for p in n.split("/")))
        return names[:limit], len(names) > limit

    def _git_files(self) -> list[str] | None:
        try:
            done = subprocess.run(
                [*git_prefix(self.root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                capture_output=True, timeout=self.git_timeout_s, env=git_env(self.root), stdin=subprocess.DEVNULL,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        return [n.decode("utf-8", "replace") for n in done.stdout.split(b"\x00") if n]

    def _walk(self, limit: int) -> list[str]:
        out: list[str] = []
        for top, dirs, names in os.walk(self.root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
            base = Path(top).relative_to(self.root)
            for name in sorted(names):
                out.append((base / name).as_posix())
                if len(out) >= limit:
                    return out
        return out


def matches_glob(path: str, pattern: str | None) -> bool:
    """Whether `path` matches a glob like `prompts/*.md` or `**/*.py` (a bare name matches in any folder)."""
    if not pattern:
        return True
    pattern = pattern.strip().lstrip("./") if pattern.strip().startswith("./") else pattern.strip()
    if fnmatchcase(path, pattern):
        return True
    if pattern.startswith("**/") and fnmatchcase(path, pattern[3:]):
        return True
    return "/" not in pattern and fnmatchcase(path.rsplit("/", 1)[-1], pattern)


def open_repo(path: Path | str, *, git_timeout_s: float = GIT_TIMEOUT_S) -> Repo:
    """The repository at `path`; raises InvalidArgumentError in a sentence when it is not a directory."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"the repository {str(path)!r} is not a directory; give the folder of the "
                                   "agent's code (its git work tree) with --repo or HALO_MCP_REPO")  # fmt: skip
    root = root.resolve()
    return Repo(root=root, is_git=(root / ".git").exists(), git_timeout_s=git_timeout_s)
