"""overview: the dataset at a glance — the first call of every analysis.

Counts, time range, services, models, agents, tools with call / error counts,
tokens and cost, sample trace ids to open, the data quality report, and the top
failure patterns from the analytics, each with its frequency and examples.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.tools import render
from engine.tools.budget import clamp, cut, fit
from engine.tools.common import ToolArgs, dataset_field, description, in_thread, open_dataset
from engine.tools.context import ToolContext
from engine.tools.patterns import PatternView, pattern_view, render_pattern
from engine.tools.registry import ToolResult, ToolSpec, register
from engine.tools.spans import get
from engine.traces.analytics import analyze

__all__ = ["OverviewArgs", "OverviewResult", "SPEC"]

DEFAULT_TOP = 10
MAX_TOP = 50
SAMPLES = 3
DETAIL_CHARS = 240
QUALITY_SAMPLES = 5


class OverviewArgs(ToolArgs):
    top: int = Field(default=DEFAULT_TOP, description=f"entries per list: models, tools, patterns, ... (1-{MAX_TOP})")
    dataset: str | None = dataset_field()


class NameUse(BaseModel):
    name: str
    spans: int
    traces: int


class ToolUse(BaseModel):
    tool: str
    calls: int
    errors: int = Field(description="calls with status ERROR or an exception")
    hidden_errors: int = Field(description="calls with status ok whose output reads as an error")
    traces: int


class FileLine(BaseModel):
    path: str
    shape: str
    spans: int
    traces: int
    malformed: int


class Quality(BaseModel):
    malformed_lines: int = 0
    malformed_samples: list[str] = Field(default_factory=list, description="file:line: reason")
    orphan_spans: int = 0
    duplicate_span_ids: int = 0
    traces_in_several_files: int = 0
    skipped_files: list[str] = Field(default_factory=list, description="the first few files of no trace shape")
    skipped_total: int = Field(default=0, description="files skipped because they hold no trace shape")


class OverviewResult(ToolResult):
    traces: int
    spans: int
    files: list[FileLine] = Field(default_factory=list)
    files_total: int = 0
    shapes: dict[str, int] = Field(default_factory=dict, description="files per trace shape")
    start: str | None = None
    end: str | None = None
    kinds: dict[str, int] = Field(default_factory=dict, description="spans per kind")
    error_traces: int = 0
    error_spans: int = 0
    trace_duration_ms: dict[str, float] = Field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    services: list[NameUse] = Field(default_factory=list)
    services_total: int = 0
    models: list[NameUse] = Field(default_factory=list)
    models_total: int = 0
    agents: list[NameUse] = Field(default_factory=list)
    agents_total: int = 0
    tools: list[ToolUse] = Field(default_factory=list)
    tools_total: int = 0
    samples: dict[str, list[str]] = Field(default_factory=dict, description="trace ids to open first, by why")
    quality: Quality = Field(default_factory=Quality)
    patterns: list[PatternView] = Field(default_factory=list, description="top failure patterns (analytics)")
    patterns_total: int = 0
    next_calls: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    computed_in_source: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "ClickHouse sources: the whole table's counts computed as SQL in ClickHouse (engine.sources.pushdown)"
        ),
    )

    def render(self) -> str:
        shapes = ", ".join(f"{shape} ×{n}" if n > 1 else shape for shape, n in self.shapes.items())
        lines = [
            f"dataset: {render.num(self.traces)} traces, {render.num(self.spans)} spans in "
            f"{self.files_total} files ({shapes or 'none'}); {self.start or '?'} → {self.end or '?'}"
        ]
        if self.kinds:
            lines.append("span kinds: " + ", ".join(f"{k} {render.num(v)}" for k, v in self.kinds.items()))
        errs = f"errors: {render.num(self.error_traces)} traces ({render.pct(self.error_traces, self.traces)})"
        lines.append(errs + f", {render.num(self.error_spans)} error spans")
        if self.trace_duration_ms:
            lines.append(
                "trace duration: " + ", ".join(f"{k} {render.ms(v)}" for k, v in self.trace_duration_ms.items())
            )
        tokens = f"tokens: {render.num(self.input_tokens)} in → {render.num(self.output_tokens)} out"
        if self.cost is not None:
            tokens += f"; cost {render.cost(self.cost)}"
        lines.append(tokens)
        for label, items, total in (
            ("services", self.services, self.services_total),
            ("models", self.models, self.models_total),
            ("agents", self.agents, self.agents_total),
        ):
            if total:
                shown = ", ".join(
                    f"{u.name} ({render.num(u.spans)} spans, {render.num(u.traces)} traces)" for u in items
                )
                more = f" +{total - len(items)} more" if total > len(items) else ""
                lines.append(f"{label} ({total}): {shown}{more}")
        if self.tools_total:
            lines.append(f"tools ({self.tools_total}):")
            for t in self.tools:
                line = f"- {t.tool}: {render.num(t.calls)} calls in {render.num(t.traces)} traces"
                if t.errors:
                    line += f", {t.errors} errors ({render.pct(t.errors, t.calls)})"
                if t.hidden_errors:
                    line += f", {t.hidden_errors} errors hidden in ok outputs"
                lines.append(line)
            if self.tools_total > len(self.tools):
                lines.append(f"- +{self.tools_total - len(self.tools)} more tools")
        q = self.quality
        lines.append(
            f"data quality: {q.malformed_lines} malformed lines, {q.orphan_spans} orphan spans, "
            f"{q.duplicate_span_ids} duplicate span ids, {q.traces_in_several_files} traces split over files"
        )
        lines += [f"  {s}" for s in q.malformed_samples]
        if q.skipped_total:
            lines.append(f"  {render.num(q.skipped_total)} files skipped (no trace shape), e.g.:")
            lines += [f"  - {s}" for s in q.skipped_files]
            if q.skipped_total > len(q.skipped_files):
                lines.append(f"  … and {render.num(q.skipped_total - len(q.skipped_files))} more")
        for why, ids in self.samples.items():
            if ids:
                lines.append(f"sample traces {why}: {', '.join(ids)}")
        if self.patterns_total:
            lines.append(f"failure patterns ({self.patterns_total}, top {len(self.patterns)}):")
            lines += [render_pattern(p, n) for n, p in enumerate(self.patterns, start=1)]
        else:
            lines.append("failure patterns: none measured")
        if self.next_calls:
            lines.append("next: " + "; ".join(self.next_calls))
        for c in self.computed_in_source:
            tools = ", ".join(f"{x['tool']} {x['errors']}/{x['calls']} errors" for x in c["tools"][:5])
            lines.append(
                f"computed in ClickHouse over {c['source']}: {render.num(c['spans'])} spans, {render.num(c['traces'])} "
                f"traces, {render.num(c['error_traces'])} error traces, {render.num(c['error_spans'])} error spans"
                + (f"; tools: {tools}" if tools else "")
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _gather(ds: Any) -> tuple[Any, Any, dict[str, list[str]]]:
    from engine.traces import store

    ov = store.overview(ds)
    analytics = analyze(ds)
    samples: dict[str, list[str]] = {}
    queries = {
        "with errors": (store.TraceFilter(has_errors=True), "start", False),
        "without errors": (store.TraceFilter(has_errors=False), "start", False),
        "slowest": (store.TraceFilter(), "duration", True),
        "most spans": (store.TraceFilter(), "spans", True),
    }
    for why, (f, sort, desc) in queries.items():
        if ds.n_traces:
            page = store.query_traces(ds, f, sort=sort, descending=desc, limit=SAMPLES)
            samples[why] = [s.trace_id for s in page.items]
    return ov, analytics, samples


def _computed_in_source(ds: Any) -> list[dict[str, Any]]:
    """For each ClickHouse / chDB source of the dataset, its whole-table counts, computed in ClickHouse."""
    from engine.sources import in_source

    specs = in_source.source_specs(ds)
    if not specs:
        return []
    from dataclasses import asdict

    from engine.sources import pushdown
    from engine.sources.base import SourceURL

    return [asdict(pushdown.overview(SourceURL.parse(spec))) for spec in specs]


async def overview(ctx: ToolContext, args: OverviewArgs, budget: int) -> OverviewResult:
    notes: list[str] = []
    top = clamp(args.top, 1, MAX_TOP, "top", notes)
    ds = await open_dataset(ctx, args.dataset)
    ov, analytics, samples = await in_thread(_gather, ds)
    pushed = await in_thread(_computed_in_source, ds)
    if pushed and any(not f.complete for f in ds.sources):
        notes.append("the local copy is incomplete: the ClickHouse line counts the whole table, the rest the copy")
    notes += analytics.notes
    quality = ov.quality or {}
    tools = [
        ToolUse(tool=t.tool, calls=t.calls, errors=t.errors, hidden_errors=t.hidden_errors, traces=t.traces)
        for t in analytics.tools
    ]
    # the first files only: a folder of 20,000 makes no line (nor FileInfo) per file
    shapes = ds.files.shape_counts()

    def names(items: list[Any], n: int) -> list[NameUse]:
        return [NameUse(name=i.name, spans=i.spans, traces=i.traces) for i in items[:n]]

    def build(n: int, chars: int) -> OverviewResult:
        shown_patterns = [pattern_view(p, chars, examples=2 if n < top else 3) for p in analytics.patterns[:n]]
        next_calls = []
        if len(analytics.patterns) > n:
            next_calls.append(render.call("patterns") + f" for all {len(analytics.patterns)} patterns")
        if ov.error_traces:
            next_calls.append(render.call("query", has_errors=True, sort="errors", descending=True))
        if samples.get("with errors"):
            next_calls.append(render.call("view_trace", trace_id=samples["with errors"][0]))
        return OverviewResult(
            traces=ov.traces,
            spans=ov.spans,
            files=[FileLine(**{k: get(f, k) for k in FileLine.model_fields}) for f in ov.files[:n]],
            files_total=len(ov.files),
            shapes=shapes,
            start=render.when(ov.start_ns) if ov.start_ns else None,
            end=render.when(ov.end_ns) if ov.end_ns else None,
            kinds=dict(ov.kinds),
            error_traces=ov.error_traces,
            error_spans=ov.error_spans,
            trace_duration_ms=dict(ov.trace_duration_ms),
            input_tokens=ov.input_tokens,
            output_tokens=ov.output_tokens,
            cost=ov.cost,
            services=names(ov.services, n),
            services_total=ov.services_total,
            models=names(ov.models, n),
            models_total=ov.models_total,
            agents=names(ov.agents, n),
            agents_total=ov.agents_total,
            tools=tools[:n],
            tools_total=len(tools),
            samples={k: v[: min(SAMPLES, n)] for k, v in samples.items() if n},
            quality=Quality(
                malformed_lines=get(quality, "malformed_lines", default=0),
                malformed_samples=[
                    cut(s, chars, "the file itself")
                    for s in get(quality, "malformed_samples", default=[])[: min(n, QUALITY_SAMPLES)]
                ],
                orphan_spans=get(quality, "orphan_spans", default=0),
                duplicate_span_ids=get(quality, "duplicate_span_ids", default=0),
                traces_in_several_files=get(quality, "traces_in_several_files", default=0),
                skipped_files=[
                    cut(s, chars, "the file itself")
                    for s in get(quality, "skipped_files", default=[])[: min(n, QUALITY_SAMPLES)]
                ],
                skipped_total=get(quality, "skipped_total", default=0),
            ),
            patterns=shown_patterns,
            patterns_total=len(analytics.patterns),
            next_calls=next_calls,
            notes=notes + ([f"lists cut to {n} entries to fit the answer budget"] if n < top else []),
            computed_in_source=[{**p, "services": p["services"][:n], "tools": p["tools"][:n]} for p in pushed],
        )

    return fit(build, items=top, chars=DETAIL_CHARS, limit=budget, min_items=1, min_chars=80)


SPEC = register(
    ToolSpec(
        name="overview",
        title="Dataset at a glance, with failure patterns",
        description=description("overview"),
        args=OverviewArgs,
        result=OverviewResult,
        handler=overview,
    )
)
