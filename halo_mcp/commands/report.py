"""`halo-mcp report RUN_ID`: a saved diagnose run's report, as Markdown, JSON or one HTML page.

Runs are read from the runs directory (`--runs-dir`, $HALO_MCP_RUNS_DIR), so a
report made by another process, or an MCP server, can be read and drawn later.
`--html` needs the traces the run read to draw its evidence: the dataset the run
recorded, or `--dataset` when that moved; without either the page still shows
the findings and says why the traces are missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.errors import HaloError
from halo_mcp.settings import add_dataset_arguments

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "report"
HELP = "print a saved diagnose run's report (Markdown, --json, or --html FILE with its evidence drawn)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_id", metavar="RUN_ID", help="a run id, as `diagnose` printed it (e.g. 20260101T120000Z-a1b2c3)"
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument("--html", type=Path, metavar="FILE", help="write the report as one self-contained HTML page")
    parser.add_argument(
        "--dataset", metavar="DATASET", help="the traces to draw evidence from (default: the run's own)"
    )
    parser.add_argument("--runs-dir", type=Path, help="where runs are saved ($HALO_MCP_RUNS_DIR)")
    add_dataset_arguments(parser)


def _dataset(args: argparse.Namespace, spec: str | None) -> Any | None:
    """The dataset to draw from, or None (with the reason on stderr)."""
    from halo_mcp.datasets import DatasetCatalog, is_glob

    if spec is None:
        print("halo-mcp: the run read several files; pass --dataset to draw its traces", file=sys.stderr)
        return None
    if not is_glob(spec) and not Path(spec).expanduser().exists():
        print(f"halo-mcp: the run's dataset {spec!r} is gone; pass --dataset to draw its traces", file=sys.stderr)
        return None
    try:
        return DatasetCatalog([spec], cache_dir=args.cache_dir, shape=args.shape).open(None)
    except HaloError as err:
        print(f"halo-mcp: cannot draw the run's traces: {err}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from engine.agents import DiagnoseConfig, RunStore
    from engine.viewer.report_page import report_dataset
    from halo_mcp.commands.diagnose import write_html

    store = RunStore(DiagnoseConfig(runs_dir=args.runs_dir).resolved_runs_dir())
    try:
        report = store.report(args.run_id)
    except HaloError as err:
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    if report is None:
        status = store.status(args.run_id)
        print(f"halo-mcp: run {args.run_id} has no report ({status.state})", file=sys.stderr)
        return 1
    if args.html is not None:
        ds = _dataset(args, args.dataset or report_dataset(report))
        return 0 if write_html(report, ds, args.html, sys.stderr) else 1
    text = report.model_dump_json(indent=2) if args.json else report.to_markdown()
    sys.stdout.write(text.rstrip("\n") + "\n")
    return 0
