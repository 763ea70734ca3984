"""`halo-mcp overview DATASET`: the `overview` tool's answer, for people and scripts."""

from __future__ import annotations

import argparse
import sys

import anyio
import orjson

from engine.errors import HaloError
from halo_mcp.progress import ProgressBar, progress_delay
from halo_mcp.settings import add_dataset_arguments

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "overview"
HELP = "print a dataset's overview: counts, models, tools with error rates, error signatures, data quality"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="trace files, directories or globs")
    parser.add_argument("--json", action="store_true", help="print the structured result as JSON")
    add_dataset_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import engine.tools  # noqa: F401  (fills REGISTRY)
    from engine.tools.registry import call_tool
    from halo_mcp.datasets import DatasetCatalog
    from halo_mcp.tools import ServerState, tool_context

    catalog = DatasetCatalog(args.datasets, cache_dir=args.cache_dir, shape=args.shape)
    context = tool_context(ServerState(catalog=catalog))
    bar = ProgressBar(delay_s=progress_delay())
    try:
        # Index first, with progress: the tool then finds the dataset open.
        catalog.open(None, progress=bar)
        bar.close()
        answer = anyio.run(call_tool, "overview", context, {})
    except HaloError as err:
        bar.close()
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(answer.structured(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(answer.text.rstrip("\n") + "\n")
    return 0
