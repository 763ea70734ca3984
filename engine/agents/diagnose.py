"""`diagnose`: run the engine over a dataset and hand back a checked report.

The one real entry point is `diagnose_stream`, an async iterator of typed
events ending with the report; `diagnose`, `diagnose_sync` and `iterate_sync`
wrap it. With no model configured the report comes from the deterministic
analytics, labelled so, and the run never fails for lack of a model.

Structure: the engine runs in its own asyncio task and sends events through a
memory stream that the stream yields from; no cancel scope is held across a
`yield`, so a consumer may break out at any point, and closing or cancelling
the stream cancels every agent. Failures inside become an `error` event and
are re-raised to the consumer once the events have been read.

With `baseline` (a second dataset: an earlier run of the same agent) the run
measures what changed first (`engine.agents.baseline`) and the report leads
with it; the agents are told about the baseline and can open it by name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import queue
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import aclosing
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from engine.agents.baseline import baseline_briefing, changes_of, measure, rank_by_change
from engine.agents.briefing import briefing, completed_report, dataset_label, partial_report
from engine.agents.changes import changes_counts
from engine.agents.citations import verify_code, verify_report
from engine.agents.config import DiagnoseConfig
from engine.agents.deterministic import deterministic_report
from engine.agents.events import ErrorEvent, Event, ReportEvent, RunStarted
from engine.agents.fitting import RESULTS_RESERVE_SHARE, prompt_budget, request_tokens
from engine.agents.loop import AgentSpec, run_agent
from engine.agents.prompts import prompt
from engine.agents.report import Report
from engine.agents.runs import RunStatus, RunStore, new_run_id
from engine.agents.state import Run
from engine.agents.subagents import run_subagent
from engine.agents.telemetry import NO_TELEMETRY, Telemetry
from engine.agents.toolbox import toolbox_for
from engine.llm import open_client
from engine.repo.paths import open_repo
from engine.tools.context import ToolContext

if TYPE_CHECKING:
    from engine.compare import Comparison
    from engine.traces.analytics import Analytics
    from engine.traces.dataset import Dataset

__all__ = ["diagnose_stream", "diagnose", "diagnose_sync", "iterate_sync"]

log = logging.getLogger(__name__)

# Tokens the comparison with the baseline may take in the root's first message (less
# when the context is small: at most this share of the prompt budget).
BASELINE_BRIEFING_TOKENS = 3_000
BASELINE_BRIEFING_SHARE = 0.125


def _load_tools() -> None:
    """Importing `engine.tools` registers the trace tools (absent tools are simply not offered)."""
    try:
        import engine.tools  # noqa: F401
    except ImportError:  # pragma: no cover - a half-installed tree: agents get fewer tools
        log.warning("engine.tools could not be imported; agents get only the engine's own tools")


def _analyze(ds: Dataset) -> Analytics | None:
    from engine.traces.analytics import analyze

    return analyze(ds)


def _agent_context(
    context: ToolContext,
    ds: Dataset,
    config: DiagnoseConfig,
    names: dict[str, Dataset] | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
) -> ToolContext:
    """The caller's context with the run's dataset as default and no progress sink;
    `names` are datasets the agents may open by these names (the baseline, the candidate)."""
    outer = context.open_dataset
    known = dict(names or {})

    def open_dataset(path: str | None) -> Dataset:
        if path is None:
            return ds
        return known[path] if path in known else outer(path)

    llm = config.llm if config.llm.configured else None
    traced = context.telemetry if telemetry is NO_TELEMETRY else telemetry
    return dataclasses.replace(context, open_dataset=open_dataset, llm=llm, progress=None, telemetry=traced)


def _root_spec(run: Run, overview: str, analytics: str) -> AgentSpec:
    cfg = run.config
    subagents = (
        f"Subagents: `call_subagent`, up to {cfg.max_parallel} running at once per level, nested up to "
        f"{cfg.max_depth} deep, {cfg.subagent_max_turns} turns each."
        if cfg.max_depth > 0
        else "No subagents in this run: do the work yourself."
    )
    task = prompt(
        "root_task", question=run.question, dataset=run.dataset_label, overview=overview,
        analytics=analytics, max_turns=cfg.max_turns, subagents=subagents,
    )  # fmt: skip
    if run.baseline_note:
        task = f"{task}\n\n{run.baseline_note}"
    repo = prompt("repo_tools", root=run.repo.root.name) if run.repo is not None else ""
    system = prompt("root", max_turns=cfg.max_turns, repo=repo)
    return AgentSpec("root", 0, "root", system, task, cfg.max_turns)


def _briefing_budget(run: Run) -> int:
    """Estimated tokens the overview and analytics may take in the root's first request:
    the prompt budget less the system prompt, the rest of the task, the tool list and the
    room kept for tool results."""
    bare = _root_spec(run, "", "")
    messages = [{"role": "system", "content": bare.system}, {"role": "user", "content": bare.task}]
    box = toolbox_for(run, "root", 0, request_tokens(messages[:1]))
    budget = prompt_budget(run.context_limit, run.output_cap())
    return budget - request_tokens(messages, box.definitions) - int(RESULTS_RESERVE_SHARE * budget)


async def _engine_report(run: Run, analytics: Analytics | None) -> Report:
    with run.telemetry.span("diagnose", "CHAIN", halo__dataset=run.dataset_label) as span:
        span.io(input=run.question)
        report = await _engine_run(run, analytics)
        span.io(output=report.summary)
        if report.partial:
            span.fail(report.partial_reason or "partial report")
        return report


async def _engine_run(run: Run, analytics: Analytics | None) -> Report:
    run.analytics = analytics
    overview, patterns = await briefing(run, analytics, _briefing_budget(run))
    spec = _root_spec(run, overview, patterns)
    async with open_client(run.config.llm) as client:
        run.client = client
        with anyio.move_on_after(run.config.wall_clock_s) as clock:
            end = await run_agent(run, spec)
    if clock.cancelled_caught:
        report = partial_report(run, f"the wall-clock budget of {run.config.wall_clock_s:g}s ran out", analytics, [])
    elif end.finished and run.final is not None:
        report = completed_report(run, run.final.summary, analytics)
    else:
        report = partial_report(run, end.reason or "the lead agent stopped", analytics, end.notes)
    report = await anyio.to_thread.run_sync(verify_report, report, run.ds)
    return await verify_code(report, run.repo)


def _baseline_note(run: Run, comparison: Comparison) -> str:
    """The root's briefing on the baseline, its comparison fit to a share of the prompt budget."""
    from engine.tools.compare import fit_comparison

    budget = prompt_budget(run.context_limit, run.output_cap())
    tokens = max(1, min(BASELINE_BRIEFING_TOKENS, int(budget * BASELINE_BRIEFING_SHARE)))
    return baseline_briefing(changes_of(comparison), fit_comparison(comparison, tokens).render())


def _with_changes(report: Report, comparison: Comparison | None, analytics: Analytics | None) -> Report:
    """The report leading with what changed; a deterministic one's findings ranked by it."""
    if comparison is None:
        return report
    changes = changes_of(comparison)
    update: dict[str, Any] = {"changes": changes}
    if report.produced_by == "deterministic":
        update["summary"] = f"{changes_counts(changes)}\n\n{report.summary}"
        if analytics is not None:
            update["findings"] = rank_by_change(report.findings, analytics, comparison)
    return report.model_copy(update=update)


async def _execute(
    question: str,
    context: ToolContext,
    config: DiagnoseConfig,
    dataset: str | None,
    send: MemoryObjectSendStream[Any],
    baseline: str | None = None,
) -> None:
    run_id = new_run_id()
    ds = await anyio.to_thread.run_sync(context.open_dataset, dataset)
    base = await anyio.to_thread.run_sync(context.open_dataset, baseline) if baseline is not None else None
    repo = open_repo(config.repo) if config.repo is not None else None
    label = dataset_label(ds, dataset)
    names: dict[str, Dataset] = {}
    base_label = ""
    if base is not None:
        base_label = dataset_label(base, baseline)
        if base_label == label:
            base_label = f"baseline {base_label}"
        names = {label: ds, base_label: base}
    mode: Literal["model", "deterministic"] = "model" if config.llm.configured else "deterministic"
    store = RunStore(config.resolved_runs_dir()) if config.save else None
    now = datetime.now(UTC).isoformat(timespec="seconds")
    status = RunStatus(run_id=run_id, state="running", question=question, dataset=label, mode=mode,
                       started_at=now, updated_at=now)  # fmt: skip
    run_dir = store.create(status) if store is not None else None
    telemetry = Telemetry(config.telemetry, run_id) if config.telemetry is not None else NO_TELEMETRY
    agent_context = _agent_context(context, ds, config, names, telemetry)
    run = Run(
        run_id=run_id, question=question, config=config, context=agent_context, ds=ds,
        dataset_label=label, send=send, store=store, status=status, on_progress=context.progress, repo=repo,
        telemetry=telemetry, run_subagent=run_subagent,
    )  # fmt: skip
    run.emit(
        RunStarted, question=question, dataset=label, mode=mode,
        model=config.llm.model if mode == "model" else None, run_dir=str(run_dir) if run_dir else None,
    )  # fmt: skip

    def finish(state: str, report: Report | None = None, **update: Any) -> None:
        if store is not None and run.status is not None:
            fields = {"state": state, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
            progress = run.progress()
            if report is not None:  # the report's findings, the analytics' included
                progress = progress.model_copy(update={"findings": len(report.findings)})
            run.status = run.status.model_copy(update={**fields, "progress": progress, **update})
            store.write_status(run.status)

    try:
        _load_tools()
        try:
            analytics = await anyio.to_thread.run_sync(_analyze, ds)
        except Exception as exc:
            if mode == "deterministic":
                raise
            log.exception("failure analytics failed; the agents start without them")
            run.emit(ErrorEvent, message=f"failure analytics unavailable: {type(exc).__name__}: {exc}")
            analytics = None
        comparison = None
        if base is not None:
            comparison = await anyio.to_thread.run_sync(measure, base, ds, base_label, label)
            if mode == "model":
                run.baseline_note = _baseline_note(run, comparison)
        if mode == "deterministic":
            facts = run.facts.model_copy(update={"duration_s": round(run.elapsed(), 2)})
            report = await anyio.to_thread.run_sync(
                partial(deterministic_report, question, ds, run_id=run_id, dataset_label=label,
                        analytics=analytics, facts=facts)
            )
        else:
            try:
                report = await _engine_report(run, analytics)
            finally:
                lost = await anyio.to_thread.run_sync(run.telemetry.close)
            facts = run.facts.model_copy(update={"duration_s": round(run.elapsed(), 2)})
            report = report.model_copy(update={"facts": facts, "notes": [*report.notes, *([lost] if lost else [])]})
        report = _with_changes(report, comparison, analytics)
        if store is not None:
            store.save_report(report)
        run.emit(ReportEvent, report=report)
        finish("done", report, partial=report.partial)
    except anyio.get_cancelled_exc_class():
        if store is not None:
            cancelled = ErrorEvent(run_id=run_id, t=round(run.elapsed(), 3), message="run cancelled", fatal=True)
            store.append_event(run_id, cancelled)  # the log only: nobody reads the stream any more
        finish("cancelled", error="cancelled")
        raise
    except Exception as exc:
        run.emit(ErrorEvent, message=f"run failed: {type(exc).__name__}: {exc}", fatal=True)
        finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise


async def diagnose_stream(
    question: str,
    context: ToolContext,
    config: DiagnoseConfig | None = None,
    *,
    dataset: str | None = None,
    baseline: str | None = None,
) -> AsyncGenerator[Event, None]:
    """Run a diagnosis and yield its events as they happen; the last is `report`.

    `dataset` selects a dataset through `context.open_dataset` (None: the default).
    `baseline`, opened the same way, is an earlier run of the same agent: the report
    then leads with what changed between it and `dataset` (`Report.changes`).
    A bad dataset path raises the `DatasetError` before any event.
    """
    config = config or DiagnoseConfig()
    send, receive = anyio.create_memory_object_stream[Any](math.inf)
    failure: list[BaseException] = []

    async def engine() -> None:
        async with send:
            try:
                await _execute(question, context, config, dataset, send, baseline)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:  # re-raised to the caller below
                failure.append(exc)

    # The engine runs as its own task, not in a task group held across `yield`: a
    # consumer that breaks out early (and leaves the generator to the garbage
    # collector) must not have a cancel scope exited from another task.
    task = asyncio.get_running_loop().create_task(engine(), name="diagnose")
    try:
        async with receive:
            async for event in receive:
                yield event
    finally:
        if not task.done():
            task.cancel()  # the caller stopped reading or was cancelled: stop every agent
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])
    if failure:
        raise failure[0]


async def diagnose(
    question: str,
    context: ToolContext,
    config: DiagnoseConfig | None = None,
    *,
    dataset: str | None = None,
    baseline: str | None = None,
    on_event: Callable[[Event], Awaitable[None]] | None = None,
) -> Report:
    """Run a diagnosis to its end and return the report (`baseline`: see `diagnose_stream`)."""
    report: Report | None = None
    async with aclosing(diagnose_stream(question, context, config, dataset=dataset, baseline=baseline)) as events:
        async for event in events:
            if on_event is not None:
                await on_event(event)
            if isinstance(event, ReportEvent):
                report = event.report
    if report is None:  # pragma: no cover - the stream always ends with a report or raises
        raise RuntimeError("diagnose ended without a report")
    return report


def diagnose_sync(
    question: str,
    context: ToolContext,
    config: DiagnoseConfig | None = None,
    *,
    dataset: str | None = None,
    baseline: str | None = None,
) -> Report:
    """`diagnose` for code without an event loop (not callable from inside one)."""
    return anyio.run(partial(diagnose, question, context, config, dataset=dataset, baseline=baseline))


_END = object()


def iterate_sync(
    question: str,
    context: ToolContext,
    config: DiagnoseConfig | None = None,
    *,
    dataset: str | None = None,
    baseline: str | None = None,
) -> Iterator[Event]:
    """The events of a run, for synchronous code: the run goes on in a background event
    loop thread; closing the iterator early cancels it."""
    events: queue.Queue[Any] = queue.Queue()

    async def pump() -> None:
        try:
            events_of = diagnose_stream(question, context, config, dataset=dataset, baseline=baseline)
            async with aclosing(events_of) as stream:
                async for event in stream:
                    events.put(event)
        except Exception as exc:
            events.put(exc)
        finally:
            events.put(_END)

    with anyio.from_thread.start_blocking_portal() as portal:
        future = portal.start_task_soon(pump)
        try:
            while (item := events.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not future.done():
                future.cancel()
