"""`halo-mcp compare BASELINE [CANDIDATE] [--json] [--html FILE]`: did the change fix it?

Two datasets, or one split with `--before/--after TIME` or `--attribute KEY
--baseline-value V --candidate-value W`. Prints the `compare` tool's text, or with
`--json` the whole comparison, uncut: `{"baseline", "candidate", "baseline_traces",
"candidate_traces", "small_sample", "sample", "patterns": [{"kind", "title",
"subject", "baseline", "baseline_total", "candidate", "candidate_total",
"difference", "low", "high", "p_value", "test", "detectable", "verdict"}, ...],
"success", "tools", "runs", "tests", "notes"}`. `--html FILE` also writes the
comparison as one self-contained page (`engine.viewer.compare_page`): each
pattern's and tool's rate before and after as bars with intervals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from engine.errors import HaloError
from halo_mcp.settings import add_dataset_arguments

if TYPE_CHECKING:
    from engine.compare import FindingRef
    from engine.tools.compare import CompareResult

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "compare"
HELP = "compare failure rates, tool errors and run costs before and after a change, with tests and verdicts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", metavar="BASELINE", help="traces before the change: file, directory or glob")
    parser.add_argument(
        "candidate", metavar="CANDIDATE", nargs="?", default=None,
        help="traces after it; omit to split BASELINE with --before/--after or --attribute",
    )  # fmt: skip
    parser.add_argument("--before", metavar="TIME", help="baseline = traces starting before TIME (ISO-8601)")
    parser.add_argument("--after", metavar="TIME", help="candidate = traces starting at or after TIME")
    parser.add_argument(
        "--attribute", metavar="KEY", help="split by this attribute: service.version, model, any span attribute"
    )
    parser.add_argument("--baseline-value", metavar="VALUE", help="the attribute's value on the baseline side")
    parser.add_argument("--candidate-value", metavar="VALUE", help="the attribute's value on the candidate side")
    parser.add_argument(
        "--run-id", metavar="RUN_ID", help="a saved diagnose run whose finding to check (with --finding)"
    )
    parser.add_argument("--finding", type=int, metavar="N", help="that run's finding N (1-based): does it still occur?")
    parser.add_argument("--runs-dir", type=Path, help="where runs are saved ($HALO_MCP_RUNS_DIR)")
    parser.add_argument("--json", action="store_true", help="print the whole comparison as JSON")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write it as an HTML page with charts")
    add_dataset_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from engine.compare import compare_datasets
    from engine.tools.compare import CompareResult
    from halo_mcp.datasets import DatasetCatalog

    specs = [args.baseline] + ([args.candidate] if args.candidate else [])
    catalog = DatasetCatalog(specs, cache_dir=args.cache_dir, shape=args.shape)
    try:
        ref = _finding_ref(args)
        base = catalog.open(args.baseline)
        cand = catalog.open(args.candidate) if args.candidate else None
        comparison = compare_datasets(
            base, cand, before=args.before, after=args.after, attribute=args.attribute,
            baseline_value=args.baseline_value, candidate_value=args.candidate_value,
            baseline_label=args.baseline, candidate_label=args.candidate or args.baseline, finding=ref,
        )  # fmt: skip
    except HaloError as err:
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    result = CompareResult(**comparison.model_dump(), shown_patterns=len(comparison.patterns))
    if args.json:
        sys.stdout.write(orjson.dumps(result.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(result.render() + "\n")
    if args.html is not None:
        return _write_html(result, args.html)
    return 0


def _write_html(result: CompareResult, path: Path) -> int:
    from engine.viewer import compare_page

    try:
        path.write_text(compare_page(result, result.tests), encoding="utf-8")
    except OSError as exc:
        print(f"halo-mcp: cannot write --html {str(path)!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"compare page written to {path}", file=sys.stderr)
    return 0


def _finding_ref(args: argparse.Namespace) -> FindingRef | None:
    """The saved finding `--run-id` / `--finding` name, read from the runs directory."""
    from engine.agents import RunStore
    from engine.agents.config import default_runs_dir
    from engine.compare import finding_ref
    from engine.errors import InvalidArgumentError

    if args.run_id is None and args.finding is None:
        return None
    if args.run_id is None or args.finding is None:
        raise InvalidArgumentError("checking a finding needs both --run-id and --finding N")
    report = RunStore(args.runs_dir or default_runs_dir()).report(args.run_id)
    if report is None:
        raise InvalidArgumentError(f"run {args.run_id} has no report yet")
    return finding_ref(report, args.finding)
