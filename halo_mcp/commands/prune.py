"""`halo-mcp prune [--json]`: remove what the index cache holds for nothing.

Segments of deleted files, packs nothing uses, indexes written by older
versions (see `engine.traces.index.prune`). Opening a dataset does this by itself
once a day; this command does it now.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import orjson

from engine.traces.index import cache
from engine.traces.index.prune import prune

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "prune"
HELP = "remove index cache entries nothing can use any more (deleted files, older versions)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None, help="index cache (default: $HALO_MCP_CACHE_DIR)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the counts on stdout")


def run(args: argparse.Namespace) -> int:
    root = args.cache_dir if args.cache_dir is not None else cache.cache_root()
    report = prune(root)
    if args.json:
        sys.stdout.write(orjson.dumps(asdict(report)).decode() + "\n")
    else:
        sys.stdout.write(f"{root}: {report}\n")
    return 0
