"""The argv prefix and environment every `git` this server runs gets: nothing configured runs.

Apart from `git` (the commands) so that listing a repository's files
(`paths.Repo`) and running history commands share one prefix without the two
importing each other. See `engine.repo.git` for what is and is not protected.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

__all__ = ["GIT_TIMEOUT_FALLBACK", "git_env", "git_prefix"]

# -c settings that keep git from running programs or paging.
_SAFE_CONFIG = (
    "core.pager=cat",
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "log.showSignature=false",
    "color.ui=false",
    "core.quotePath=false",
)


def git_env(root: Path) -> dict[str, str]:
    """A clean environment: PATH and HOME only, no system config, no prompts, no optional locks."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C.UTF-8",
        GIT_CEILING_DIRECTORIES=str(root.parent), GIT_PAGER="cat", PAGER="cat",
    )  # fmt: skip
    return env


def git_prefix(root: Path) -> list[str]:
    """`git` with the work tree, git directory and the safe settings fixed."""
    argv = ["git", "--no-pager", "--literal-pathspecs", f"--work-tree={root}", f"--git-dir={_git_dir_of(str(root))}"]
    for setting in (*_SAFE_CONFIG, *_filter_overrides(root)):
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


def _filter_overrides(root: Path) -> list[str]:
    out = []
    for driver in _filters_of(_git_dir_of(str(root))):
        out += [f"{driver}.clean=", f"{driver}.smudge=", f"{driver}.process=", f"{driver}.required=false"]
    return out
