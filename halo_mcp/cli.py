"""`halo-mcp` command line: one subcommand per module in `halo_mcp.commands`.

Each command module exposes `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Progress and logs go to stderr; stdout carries only the
command's result (and, for `serve --stdio`, the protocol).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["main", "COMMANDS"]

COMMANDS = ("serve", "index", "overview", "patterns", "diagnose", "config", "prune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halo-mcp",
        description="Find out why LLM agents fail, from their traces: MCP server, CLI and diagnosis engine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
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


def main(argv: Sequence[str] | None = None) -> int:
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
