"""`halo-mcp` command line: one subcommand per module in `halo_mcp.commands`.

Each command module exposes `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Progress and logs go to stderr; stdout carries only the
command's result (and, for `serve --stdio`, the protocol).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from halo_mcp import __version__
from halo_mcp.coexist import engine_conflict

__all__ = ["main", "COMMANDS"]

COMMANDS = (
    "demo", "serve", "receive", "index", "overview", "patterns",
    "compare", "diagnose", "report", "view", "config", "prune",
)  # fmt: skip
# Exit status when the reader of stdout went away (`halo-mcp … | head`): what a
# shell reports for a process killed by SIGPIPE (128 + 13).
BROKEN_PIPE_EXIT = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halo-mcp",
        description="Find out why LLM agents fail, from their traces: MCP server, CLI and diagnosis engine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"halo_mcp.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"halo_mcp.commands.{name}":
                raise
            continue
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def _quiet_broken_pipe() -> int:
    """stdout's reader is gone: exit without a traceback, and without another one at shutdown.

    Python flushes stdout again on exit and would print a second BrokenPipeError
    there; pointing the descriptor at /dev/null makes that flush succeed.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or not a real file
        pass
    return BROKEN_PIPE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return code


def _main(argv: Sequence[str] | None) -> int:
    conflict = engine_conflict()  # before any command module imports `engine`
    if conflict is not None:
        message, fatal = conflict
        print(f"halo-mcp: {'error' if fatal else 'warning'}: {message}", file=sys.stderr)
        if fatal:
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
