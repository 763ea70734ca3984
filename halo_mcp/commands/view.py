"""`halo-mcp view DATASET TRACE_ID --html FILE`: one trace as a self-contained HTML page.

The page is the one `serve --http` shows at `/ui/traces/<id>` (`engine.viewer`):
a waterfall of every span (up to `TRACE_PAGE_LIMITS`), subtrees opened on demand,
each span's input, output and conversation a click away. Without `--html` the
page goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import HaloError
from halo_mcp.progress import ProgressBar, progress_delay
from halo_mcp.settings import add_dataset_arguments

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "view"
HELP = "draw one trace as a self-contained HTML page (waterfall, spans, conversations)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="trace file, directory or glob")
    parser.add_argument("trace_id", metavar="TRACE_ID", help="the trace to draw")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the page here (default: stdout)")
    add_dataset_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from engine.viewer import trace_page
    from halo_mcp.datasets import DatasetCatalog

    catalog = DatasetCatalog([args.dataset], cache_dir=args.cache_dir, shape=args.shape)
    bar = ProgressBar(delay_s=progress_delay())
    try:
        ds = catalog.open(None, progress=bar)
        bar.close()
        html = trace_page(ds, args.trace_id)
    except HaloError as err:
        bar.close()
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    if args.html is None:
        sys.stdout.write(html)
        return 0
    try:
        args.html.write_text(html, encoding="utf-8")
    except OSError as exc:
        print(f"halo-mcp: cannot write --html {str(args.html)!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"trace page written to {args.html}", file=sys.stderr)
    return 0
