"""The server's own tools: diagnose runs (start, status, cancel, list).

They are `ToolSpec`s in the one registry, like the trace tools, but hidden from
the diagnose engine's agents (`agent_visible=False`): a run must not start runs.
Their handlers find the server's `RunManager` and state in its `ServerToolContext`.
"""

from __future__ import annotations

from typing import Any

import anyio
from pydantic import BaseModel, Field

from engine.agents import Report
from engine.tools.budget import fit, fits
from engine.tools.context import ToolContext
from engine.tools.registry import REGISTRY, ToolResult, ToolSpec, register
from halo_mcp.mcp_progress import index_progress
from halo_mcp.runs import MAX_WAIT_S, LiveRun, LiveStatus, RunManager
from halo_mcp.tools import ServerToolContext, server_context, tool_context

__all__ = [
    "DiagnoseArgs",
    "StatusArgs",
    "CancelArgs",
    "RunsArgs",
    "RunView",
    "RunList",
    "report_uri",
    "run_view",
    "DEFAULT_STATUS_WAIT_S",
    "SETTLE_WAIT_S",
]

DEFAULT_STATUS_WAIT_S = 30.0
# With wait_seconds=0, `diagnose` still waits this long for the run to end, so a
# fast run (the deterministic report takes ~0.05 s) answers with its report
# instead of "running after 0s".
SETTLE_WAIT_S = 1.0
MAX_TITLES = 20
MAX_LISTED_RUNS = 100


def report_uri(run_id: str) -> str:
    return f"halo://runs/{run_id}/report"


class DiagnoseArgs(BaseModel):
    question: str = Field(
        min_length=1,
        description="one question about the agent's behaviour across traces, e.g. 'What makes tool calls fail?'",
    )
    dataset: str | None = Field(
        default=None,
        description="trace file, directory or glob; omit for the server's default dataset",
    )
    baseline: str | None = Field(
        default=None,
        description="an earlier dataset of the same agent (file, directory or glob): the report leads with "
        "what changed against it (new, worse, resolved patterns)",
    )
    max_turns: int | None = Field(default=None, ge=1, le=500, description="turn limit of the root agent")
    max_depth: int | None = Field(default=None, ge=0, le=5, description="how deep subagents may nest")
    max_parallel: int | None = Field(default=None, ge=1, le=32, description="subagents running at once")
    wait_seconds: float = Field(
        default=0.0,
        ge=0,
        le=MAX_WAIT_S,
        description=(
            f"wait up to this long for the end (0: at most {SETTLE_WAIT_S:.0f}s, enough for a run without a model); "
            "cancelling the wait stops the run"
        ),
    )


class StatusArgs(BaseModel):
    run_id: str | None = Field(default=None, description="omit for the most recent run")
    wait_seconds: float = Field(
        default=DEFAULT_STATUS_WAIT_S,
        ge=0,
        le=MAX_WAIT_S,
        description="long poll: wait up to this long for the end (0: answer at once)",
    )


class CancelArgs(BaseModel):
    run_id: str = Field(description="the run to stop")


class RunsArgs(BaseModel):
    limit: int = Field(default=20, ge=1, le=MAX_LISTED_RUNS, description="most recent runs to list")


class RunView(ToolResult):
    """Where a run stands; with its report once it has finished."""

    run_id: str
    status: LiveStatus
    question: str
    dataset: str
    elapsed_s: float
    turns: int
    subagents: int
    findings: int
    tokens: int
    activity: str | None = None
    finding_titles: list[str] = Field(default_factory=list)
    error: str | None = None
    report_uri: str
    next_step: str
    report: Report | None = Field(
        default=None, description="The finished report (left out when too long: read report_uri)."
    )
    report_truncated: bool = False

    def render(self) -> str:
        if self.report is not None or self.report_truncated:
            return f"{self._markdown}\n\n---\nrun {self.run_id} {self.status}. {self.next_step}"
        lines = [
            f"run {self.run_id}: {self.status} after {self.elapsed_s:.0f}s — {self.turns} turns, "
            f"{self.subagents} subagents, {self.findings} findings so far, {self.tokens:,} tokens",
            f"question: {self.question}",
            f"dataset: {self.dataset}",
        ]
        if self.activity:
            lines.append(f"now: {self.activity}")
        if self.finding_titles:
            lines.append("findings so far: " + "; ".join(self.finding_titles))
        if self.error:
            lines.append(f"error: {self.error}")
        lines.append(self.next_step)
        return "\n".join(lines)

    _markdown: str = ""


def _next_step(run: LiveRun) -> str:
    if run.status == "running":
        return (
            f"Call diagnose_status(run_id='{run.run_id}') to follow it (it waits up to {MAX_WAIT_S:.0f}s "
            "for the end); the report will be at " + report_uri(run.run_id) + "."
        )
    if run.status == "finished":
        return (
            f"Report also at {report_uri(run.run_id)}. Verify each finding with search / view_spans "
            "on its evidence before changing the harness."
        )
    return "Start a new run with diagnose if you still need an answer."


def run_view(run: LiveRun, budget_tokens: int) -> RunView:
    """The run as a tool result; a report too long for the budget is cut, visibly.

    The report travels twice (as markdown text and as structured content); when
    both do not fit `budget_tokens`, the structured copy goes and the markdown is
    cut to the longest start that fits, pointing at the report resource.
    """
    view = RunView(
        run_id=run.run_id,
        status=run.status,
        question=run.question,
        dataset=run.dataset,
        elapsed_s=run.elapsed_s,
        turns=run.turns,
        subagents=run.subagents,
        findings=run.findings,
        tokens=run.tokens,
        activity=run.activity or None,
        finding_titles=run.finding_titles[:MAX_TITLES],
        error=run.error,
        report_uri=report_uri(run.run_id),
        next_step=_next_step(run),
        report=run.report,
    )
    if run.report is None:
        return view
    markdown = run.report.to_markdown()
    view.finding_titles = [f.title for f in run.report.findings][:MAX_TITLES]
    view._markdown = markdown
    if fits(view, budget_tokens):
        return view
    # Too long for one answer: keep the start of the text, drop the structured copy.
    view.report, view.report_truncated = None, True

    def build(_n: int, keep: int) -> RunView:
        shorter = view.model_copy()
        shorter._markdown = markdown
        if keep < len(markdown):
            cut_note = f"[… report cut at {keep:,} of {len(markdown):,} chars; read {view.report_uri} for all of it]"
            shorter._markdown = markdown[:keep] + "\n\n" + cut_note
        return shorter

    return fit(build, items=0, chars=len(markdown), limit=budget_tokens, min_items=0, min_chars=0, prefer="chars")


class RunSummary(BaseModel):
    run_id: str
    status: LiveStatus
    question: str
    dataset: str
    started_at: float
    elapsed_s: float
    findings: int
    report_uri: str


class RunList(ToolResult):
    items: list[RunSummary]
    total: int
    has_more: bool

    def render(self) -> str:
        if not self.items:
            return "no diagnose runs yet; start one with diagnose"
        lines = [f"{len(self.items)} of {self.total} runs (newest first):"]
        for r in self.items:
            lines.append(f"- {r.run_id} {r.status} · {r.findings} findings · {r.dataset} · {r.question}")
        if self.has_more:
            lines.append("more runs exist: raise limit to see them")
        return "\n".join(lines)


def _runs(ctx: ToolContext) -> RunManager:
    _, state = server_context(ctx)
    if state.runs is None:
        raise TypeError("this server keeps no diagnose runs")
    return state.runs


async def _report_progress(ctx: ToolContext, run: LiveRun) -> None:
    mcp_ctx = ctx.mcp_context if isinstance(ctx, ServerToolContext) else None
    if mcp_ctx is None:
        return
    message = f"{run.turns} turns, {run.subagents} subagents, {run.findings} findings"
    if run.activity:
        message += f" — {run.activity[:120]}"
    await mcp_ctx.report_progress(run.events, None, message)


async def _diagnose(ctx: ToolContext, args: DiagnoseArgs, budget: int) -> RunView:
    server, state = server_context(ctx)
    client_roots = server.client_roots
    # Open now so a bad path fails this call, not the background run, and a first
    # use indexes here with progress notifications.
    mcp_ctx = server.mcp_context
    progress = index_progress(mcp_ctx) if mcp_ctx is not None else None
    await anyio.to_thread.run_sync(lambda: state.catalog.open(args.dataset, client_roots, progress))
    if args.baseline is not None:
        await anyio.to_thread.run_sync(lambda: state.catalog.open(args.baseline, client_roots, progress))
    label = args.dataset or " ".join(state.catalog.default)
    run_ctx = tool_context(state, extra_roots=client_roots, default_dataset=args.dataset)
    overrides = {
        key: value
        for key, value in (
            ("max_turns", args.max_turns),
            ("max_depth", args.max_depth),
            ("max_parallel", args.max_parallel),
        )
        if value is not None
    }
    runs = _runs(ctx)
    run = await runs.start(args.question, run_ctx, label, overrides, baseline=args.baseline)
    if args.wait_seconds > 0:
        try:
            await runs.wait(run, args.wait_seconds, lambda r: _report_progress(ctx, r))
        except anyio.get_cancelled_exc_class():
            # The caller asked to wait on this run and then gave up on it: stop it.
            runs.cancel(run.run_id)
            raise
    else:
        await runs.wait(run, SETTLE_WAIT_S)
    return run_view(run, budget)


async def _status(ctx: ToolContext, args: StatusArgs, budget: int) -> RunView:
    runs = _runs(ctx)
    run = runs.get(args.run_id)
    if args.wait_seconds > 0 and run.status == "running":
        await runs.wait(run, args.wait_seconds, lambda r: _report_progress(ctx, r))
    return run_view(run, budget)


async def _cancel(ctx: ToolContext, args: CancelArgs, budget: int) -> RunView:
    runs = _runs(ctx)
    run = runs.cancel(args.run_id)
    # Let the run's task see the cancellation and settle its status.
    with anyio.move_on_after(5):
        await run.done.wait()
    return run_view(run, budget)


async def _list(ctx: ToolContext, args: RunsArgs, budget: int) -> RunList:
    runs = _runs(ctx).list()
    items = [
        RunSummary(
            run_id=r.run_id,
            status=r.status,
            question=r.question,
            dataset=r.dataset,
            started_at=r.started_at,
            elapsed_s=r.elapsed_s,
            findings=r.findings,
            report_uri=report_uri(r.run_id),
        )
        for r in runs[: args.limit]
    ]
    return RunList(items=items, total=len(runs), has_more=len(runs) > args.limit)


_OPEN_WORLD: dict[str, Any] = {"annotations": {"open_world_hint": True}}
_SPECS: list[ToolSpec[Any, Any]] = [
    ToolSpec(
        name="diagnose",
        title="Diagnose failures across traces",
        description=(
            "Start a diagnosis: a model-driven investigation (root agent plus subagents, minutes long) "
            "reporting the agent's systemic failure modes, each with frequency, checked trace/span "
            "evidence, a root cause and a suggested change. Returns a run_id at once; follow it with "
            "diagnose_status; the report is also at halo://runs/<run_id>/report. Without a configured "
            "model it returns the measured failure analytics as a labelled report."
        ),
        args=DiagnoseArgs,
        result=RunView,
        handler=_diagnose,
        read_only=False,
        agent_visible=False,
        extra={**_OPEN_WORLD, "path_args": ("dataset", "baseline")},
    ),
    ToolSpec(
        name="diagnose_status",
        title="Follow a diagnose run",
        description=(
            "Progress of a diagnose run (turns, subagents, findings so far, current activity) and, once "
            "finished, its report. Waits up to wait_seconds for the end; call again while 'running'."
        ),
        args=StatusArgs,
        result=RunView,
        handler=_status,
        agent_visible=False,
    ),
    ToolSpec(
        name="diagnose_cancel",
        title="Stop a diagnose run",
        description="Stop a running diagnose run (no report; its events so far stay on disk).",
        args=CancelArgs,
        result=RunView,
        handler=_cancel,
        read_only=False,
        agent_visible=False,
    ),
    ToolSpec(
        name="diagnose_runs",
        title="List diagnose runs",
        description="Diagnose runs, this server's and earlier ones on disk, newest first, with status and report URI.",
        args=RunsArgs,
        result=RunList,
        handler=_list,
        agent_visible=False,
    ),
]

for _spec in _SPECS:
    if _spec.name not in REGISTRY:
        register(_spec)
