"""`halo-mcp patterns DATASET... --json`: every failure pattern with every flagged span.

The contract dashboards and detector measurements read (issue 11): one JSON object,
`{"patterns": [{"kind", "title", "traces_affected", "total_traces", "flagged":
[{"trace_id", "span_id"}, ...]}, ...]}`, with no cap on flagged spans. Without `--json`
it prints the `patterns` tool's text (top patterns with quoted examples).
"""

from __future__ import annotations

import argparse
import sys

import orjson

from engine.errors import HaloError
from halo_mcp.settings import add_dataset_arguments

__all__ = ["NAME", "HELP", "add_arguments", "run", "flags_document"]

NAME = "patterns"
HELP = "print the failure patterns the analytics measure; --json lists every flagged span of each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="trace files, directories or globs")
    parser.add_argument("--json", action="store_true", help="print every pattern with all its flagged spans as JSON")
    add_dataset_arguments(parser)


def flags_document(analytics: object) -> dict[str, object]:
    """The `--json` document of an `Analytics`: the exported-flags contract, nothing more."""
    return {
        "patterns": [
            {
                "kind": p.kind,
                "title": p.title,
                "traces_affected": p.traces_affected,
                "total_traces": p.total_traces,
                "flagged": [{"trace_id": f.trace_id, "span_id": f.span_id} for f in p.flagged],
            }
            for p in analytics.patterns  # type: ignore[attr-defined]
        ]
    }


def run(args: argparse.Namespace) -> int:
    from engine.traces.analytics import analyze
    from halo_mcp.datasets import DatasetCatalog

    catalog = DatasetCatalog(args.datasets, cache_dir=args.cache_dir, shape=args.shape)
    try:
        analytics = analyze(catalog.open(None))
    except HaloError as err:
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(flags_document(analytics)).decode() + "\n")
        return 0
    from engine.tools.patterns import pattern_view, render_pattern

    lines = [
        f"{analytics.total_traces} traces, {analytics.total_spans} spans; {len(analytics.patterns)} failure patterns"
    ]
    lines += [render_pattern(pattern_view(p, 400), n) for n, p in enumerate(analytics.patterns, 1)]
    lines += [f"note: {n}" for n in analytics.notes]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
