"""`halo-mcp demo`: diagnose the real traces shipped with the package, then say what to do next.

The first thing a new user runs. The traces (`halo_mcp/demo/traces/`, with
their licences) are real runs of other projects' agents, so the report shows
real failures, and they are package data, so a plain `pip install halo-mcp`
can run it too. The report goes to stdout as with `diagnose`; where it was
saved (printed by `diagnose`) and the command that adds the server to a client go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from halo_mcp.commands import diagnose

__all__ = ["NAME", "HELP", "add_arguments", "run", "demo_traces"]

NAME = "demo"
HELP = "diagnose the real agent traces shipped with halo-mcp, then print the next step"


def demo_traces() -> Path:
    """The packaged demo dataset (a directory of real third-party traces)."""
    return Path(__file__).resolve().parent.parent / "demo" / "traces"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    diagnose.add_run_arguments(parser)


def next_step() -> str:
    """What the user reads after the report (and after where it was saved): use it on their own traces."""
    halo = Path(sys.executable).parent / "halo-mcp"
    command = str(halo) if halo.is_file() else "halo-mcp"
    lines = [
        "Next: add the server to your coding agent, with your own traces as its dataset:",
        f"  {command} config claude-code --dataset /path/to/your/traces      # or: config cursor",
        "then ask it: \"run HALO over my traces\".",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    args.datasets = [str(demo_traces())]
    code = diagnose.run(args)
    if code == 0:
        print(next_step(), file=sys.stderr)
    return code
