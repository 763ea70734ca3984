"""A small fake agent's code as a real git repository: a prompt, a tool description, retry code.

Two commits: the first prompt said "Answer in one word." on line 3; the second
replaced it with the line that the diagnose tests cite as prompts/system.md:3.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["make_harness", "PROMPT_LINE_3", "OLD_PROMPT_LINE_3", "git"]

PROMPT_LINE_3 = "Never call search_flights more than once per question."
OLD_PROMPT_LINE_3 = "Answer in one word."

_PROMPT = """# Travel agent
You are a travel agent that books flights.
{line3}
Give prices in EUR.
"""
_TOOL = """search_flights: find flights between two airports.
Arguments: origin, destination (IATA codes), date (YYYY-MM-DD).
"""
_RETRY = """MAX_RETRIES = 0  # a failed call is never retried
TIMEOUT_S = 5
"""


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ann", "GIT_AUTHOR_EMAIL": "ann@example.org",
           "GIT_COMMITTER_NAME": "Ann", "GIT_COMMITTER_EMAIL": "ann@example.org",
           "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def make_harness(root: Path) -> Path:
    """The fake agent's repository at `root`, with two commits; returns `root`."""
    (root / "prompts").mkdir(parents=True)
    (root / "tools").mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "prompts" / "system.md").write_text(_PROMPT.format(line3=OLD_PROMPT_LINE_3))
    (root / "tools" / "search_flights.md").write_text(_TOOL)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "First prompt and tool")
    (root / "prompts" / "system.md").write_text(_PROMPT.format(line3=PROMPT_LINE_3))
    (root / "retry.py").write_text(_RETRY)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "One search per question; no retries")
    return root
