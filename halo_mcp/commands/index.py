"""`halo-mcp index PATH... [--json]`: build or refresh the index of trace files ahead of time.

The index is a cache (see `engine.traces.index.segments`); building it here makes the
first tool call on a big dataset instant. A progress bar goes to stderr; the
result (counts, data quality, time) to stdout, as text or one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from engine.errors import HaloError
from engine.traces.dataset import Dataset
from halo_mcp.progress import ProgressBar
from halo_mcp.settings import add_dataset_arguments

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "index"
HELP = "build or refresh the index of trace files (progress on stderr; --json prints the counts)"
# Skipped (non-trace) files named in the text output; the count is always exact.
SKIPPED_SHOWN = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="trace files, directories or globs")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the counts on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_dataset_arguments(parser)


def summary(ds: Dataset, seconds: float) -> dict[str, Any]:
    """What `--json` prints: totals, per-file counts and the data-quality notes."""
    q = ds.quality
    size = sum(f.size for f in ds.files)
    return {
        "traces": ds.n_traces,
        "spans": ds.n_spans,
        "files": len(ds.files),
        "bytes": size,
        "malformed": q.malformed_lines,
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1) if seconds > 0 else None,
        "built": sum(1 for f in ds.files if f.index != "fresh"),
        "quality": q.model_dump(),
        "file_list": [f._asdict() for f in ds.files],
    }


def run(args: argparse.Namespace) -> int:
    bar = None if args.no_progress else ProgressBar()
    started = time.perf_counter()
    try:
        ds = Dataset.open(args.paths, cache_dir=args.cache_dir, shape=args.shape, progress=bar)
    except HaloError as err:
        if bar:
            bar.close()
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    if bar:
        bar.close()
    result = summary(ds, time.perf_counter() - started)
    if args.json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return 0
    q = ds.quality
    lines = [
        f"{result['files']} files, {result['traces']:,} traces, {result['spans']:,} spans "
        f"({result['built']} indexed now, {result['seconds']} s)"
    ]
    lines += [f"source {line}" for line in q.sources]
    if q.malformed_lines:
        lines.append(f"{q.malformed_lines:,} malformed lines, e.g. " + "; ".join(q.malformed_samples[:3]))
    if q.orphan_spans:
        lines.append(f"{q.orphan_spans:,} spans whose parent was never exported (kept as roots)")
    if q.duplicate_span_ids:
        lines.append(f"{q.duplicate_span_ids:,} spans share a span id, e.g. " + ", ".join(q.duplicate_examples[:3]))
    if q.traces_in_several_files:
        lines.append(
            f"{q.traces_in_several_files:,} trace ids appear in several files, e.g. "
            + "; ".join(q.several_files_examples[:3])
        )
    if q.skipped_total:
        lines.append(f"{q.skipped_total:,} files skipped: they hold no trace shape, e.g.")
        lines += [f"  - {s}" for s in q.skipped_files[:SKIPPED_SHOWN]]
        if q.skipped_total > SKIPPED_SHOWN:
            lines.append(f"  … and {q.skipped_total - SKIPPED_SHOWN:,} more")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
