"""`halo-mcp diagnose DATASET [-p QUESTION]`: a diagnosis from the command line.

The same engine as the MCP `diagnose` tool. Progress goes to stderr as it
happens; the Markdown report goes to stdout (or `-o FILE`), so the command
composes with pipes and scripts.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from engine.errors import HaloError
from halo_mcp.progress import ProgressBar, progress_delay
from halo_mcp.settings import (
    add_dataset_arguments,
    add_engine_arguments,
    add_sandbox_arguments,
    diagnose_config_factory,
    llm_config,
    sandbox_policy,
)

if TYPE_CHECKING:  # the engine (openai, pandas) is imported by `run`, not by `--help`
    from engine.agents import Report

__all__ = ["NAME", "HELP", "add_arguments", "run", "describe_event", "write_html"]

NAME = "diagnose"
DEFAULT_QUESTION = "Why do these agent runs fail, and what in the harness should change?"
HELP = "diagnose why the agent in a trace dataset fails; Markdown report on stdout"

# The rendered report in a run's directory (see `engine.agents.runs`).
REPORT_FILE = "report.md"
# Characters of a model message or task shown per progress line.
LINE_CHARS = 160


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="trace files, directories or globs")
    parser.add_argument(
        "--baseline",
        metavar="BASELINE",
        help="an earlier dataset of the same agent (file, directory or glob): the report leads with what changed "
        "against it, and the agents can read and compare both",
    )
    add_run_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything `diagnose` takes but its datasets (`demo` brings its own)."""
    parser.add_argument(
        "-p",
        "--prompt",
        default=DEFAULT_QUESTION,
        metavar="QUESTION",
        help=f"the diagnostic question (default: {DEFAULT_QUESTION!r})",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown report here instead of stdout")
    parser.add_argument("--json", action="store_true", help="write the report as JSON instead of Markdown")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write the report as one self-contained HTML page, with each cited trace drawn as a waterfall",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    add_dataset_arguments(parser)
    add_sandbox_arguments(parser)
    add_engine_arguments(parser)


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def describe_event(event: Any) -> str | None:
    """One progress line for a person, or None for events not worth a line."""
    kind = getattr(event, "type", "")
    who = getattr(event, "agent", "root")
    if kind == "run_started":
        return f"run {event.run_id} ({event.mode}{', ' + event.model if event.model else ''}) on {event.dataset}"
    if kind == "agent_message":
        calls = ", ".join(event.tool_calls)
        said = _short(event.content)
        return f"[{who}] turn {event.turn}" + (f": {said}" if said else "") + (f" → {calls}" if calls else "")
    if kind == "subagent_started":
        return f"[{who}] subagent {event.child}: {_short(event.task)}"
    if kind == "subagent_finished":
        end = "done" if event.ok else "ended: " + (event.reason or "no answer")
        return f"[{event.child}] {end} after {event.turns} turns"
    if kind == "compaction":
        return f"[{who}] context compacted {event.chars_before:,} → {event.chars_after:,} chars"
    if kind == "retry":
        return f"[{who}] model call failed ({_short(event.reason)}); retry {event.attempt} in {event.wait_s:.0f}s"
    if kind == "progress":
        return (
            f"… {event.turns} turns, {event.subagents} subagents, {event.findings} findings, "
            f"{event.tokens:,} tokens, {event.elapsed_s:.0f}s"
        )
    if kind == "error":
        return f"[{who}] {'error' if event.fatal else 'problem'}: {_short(event.message)}"
    return None


async def _diagnose(args: argparse.Namespace, log: TextIO | None) -> tuple[Report | None, Path | None, Any]:
    """The run's report, where the run saved it (None when runs are not saved), and the dataset it read."""
    from engine.agents import diagnose_stream
    from engine.agents.events import ReportEvent
    from engine.agents.runs import RunStore
    from halo_mcp.datasets import DatasetCatalog
    from halo_mcp.server import sandbox_run_code
    from halo_mcp.tools import ServerState, tool_context

    baseline = getattr(args, "baseline", None)
    # The baseline was named on the command line like the datasets: it may be read too.
    roots = [baseline] if baseline is not None else []
    catalog = DatasetCatalog(args.datasets, roots, cache_dir=args.cache_dir, shape=args.shape)
    llm = llm_config(args)
    run_code = sandbox_run_code(None, sandbox_policy(args))
    state = ServerState(catalog=catalog, llm=llm if llm.configured else None, run_code=run_code)
    # Index (or refresh the index) before the clock of the run starts.
    bar = ProgressBar(log, delay_s=progress_delay()) if log is not None else None
    try:
        await anyio.to_thread.run_sync(partial(catalog.open, None, progress=bar))
    finally:
        if bar is not None:
            bar.close()
    if baseline is not None:
        await anyio.to_thread.run_sync(partial(catalog.open, baseline))
    config = diagnose_config_factory(args, llm)()
    report: Report | None = None
    async for event in diagnose_stream(args.prompt, tool_context(state), config, baseline=baseline):
        if log is not None and (line := describe_event(event)) is not None:
            print(line, file=log, flush=True)
        if isinstance(event, ReportEvent):
            report = event.report
    saved = None
    if report is not None and config.save:
        saved = RunStore(config.resolved_runs_dir()).path(report.run_id) / REPORT_FILE
    return report, saved, catalog.open(None)


def write_html(report: Report, ds: Any, path: Path, log: TextIO | None) -> bool:
    """The report page at `path` (`engine.viewer`); False, with the reason on stderr, when it cannot be written."""
    from engine.viewer import report_page

    try:
        path.write_text(report_page(report, ds), encoding="utf-8")
    except OSError as exc:
        print(f"halo-mcp: cannot write --html {str(path)!r}: {exc.strerror or exc}", file=sys.stderr)
        return False
    if log is not None:
        print(f"HTML report written to {path}", file=log)
    return True


def run(args: argparse.Namespace) -> int:
    log = None if args.quiet else sys.stderr
    try:
        report, saved, ds = anyio.run(_diagnose, args, log)
    except HaloError as err:
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("halo-mcp: interrupted; the run's events so far are saved in its run directory", file=sys.stderr)
        return 130
    if report is None:
        print("halo-mcp: the run ended without a report (see the errors above)", file=sys.stderr)
        return 1
    text = report.model_dump_json(indent=2) if args.json else report.to_markdown()
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
        if log is not None:
            print(f"report written to {args.output}", file=log)
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()  # the report before the lines after it, when both go to one terminal
    if args.html is not None and not write_html(report, ds, args.html, log):
        return 1
    if saved is not None:  # not progress: printed with --quiet too
        print(f"report saved to {saved}", file=sys.stderr)
    return 0
