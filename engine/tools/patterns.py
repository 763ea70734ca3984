"""patterns: the failure analytics as a pageable list of measured hypotheses.

`overview` shows the top patterns; this tool shows all of them, filtered by kind
or subject, each with its frequency and example trace / span ids to open next.
On a ClickHouse / chDB dataset the answer also carries `computed_in_source`: the
whole table's error signatures, per-tool error rates and loops, computed in
ClickHouse (`engine.sources.in_source`), for the kinds asked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.sources import in_source
from engine.tools import render
from engine.tools.budget import clamp, cut, fit
from engine.tools.common import (
    CursorOffset,
    CursorState,
    ToolArgs,
    dataset_field,
    decode_cursor,
    description,
    encode_cursor,
    in_thread,
    open_dataset,
)
from engine.tools.context import ToolContext
from engine.tools.registry import ToolResult, ToolSpec, register
from engine.traces.analytics import Pattern, PatternExample, PatternKind, analyze

__all__ = ["PatternsArgs", "PatternsResult", "PatternView", "SPEC", "pattern_view", "render_pattern"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DETAIL_CHARS = 400
# The free-text fields of the in-source rollups, cut to the detail budget like a pattern's detail.
_LONG = ("signature", "example", "arguments")
_WHOLE = "a SQL query through run_code shows it whole"


class PatternsArgs(ToolArgs):
    kinds: list[PatternKind] | None = Field(default=None, description="only these pattern kinds (default: all kinds)")
    subject: str | None = Field(
        default=None,
        description="only patterns about this tool or span name (case-insensitive substring)",
    )
    limit: int = Field(default=DEFAULT_LIMIT, description=f"patterns per page (1-{MAX_LIMIT})")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    dataset: str | None = dataset_field()


class _Cursor(CursorState):
    o: CursorOffset
    k: list[PatternKind] | None = None
    s: str | None = None


class PatternView(BaseModel):
    """A pattern as shown: its frequency spelled out, examples with quotes."""

    kind: PatternKind
    title: str
    detail: str = ""
    subject: str | None = None
    traces_affected: int
    total_traces: int
    spans_affected: int
    failure_class: int | None = Field(default=None, description="issue-11 failure class 1-8 of the kind")
    decision: str | None = Field(default=None, description="the decision point: the model call to blame")
    surface: str | None = Field(default=None, description="the harness surface a fix changes")
    examples: list[PatternExample] = Field(default_factory=list)


class PatternsResult(ToolResult):
    total_traces: int
    total_spans: int
    total_patterns: int = Field(description="patterns matching the filter, across all pages")
    patterns: list[PatternView] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page")
    notes: list[str] = Field(default_factory=list)
    computed_in_source: list[dict[str, Any]] = Field(
        default_factory=list,
        description="ClickHouse sources: the whole table's error_signatures, tool_rates and loops (each with its "
        "_total), computed in ClickHouse",
    )

    def render(self) -> str:
        shown = len(self.patterns)
        head = f"{render.num(self.total_traces)} traces, {render.num(self.total_spans)} spans; "
        head += f"{self.total_patterns} failure patterns"
        if self.total_patterns and shown < self.total_patterns:
            head += f" ({shown} shown)"
        lines = [head]
        for n, p in enumerate(self.patterns, start=1):
            lines.append(render_pattern(p, n))
        if self.total_patterns == 0:
            lines.append("no pattern matched: nothing measured points at a failure here")
        if self.next_cursor:
            lines.append(f"more: {render.call('patterns', cursor=self.next_cursor)}")
        for c in self.computed_in_source:
            lines.append(f"computed in ClickHouse over {c['source']}:")
            for s in c.get("error_signatures", []):
                lines.append(f"  error {render.quote(s['signature'])}: {s['spans']} spans in {s['traces']} traces")
            for t in c.get("tool_rates", []):
                lines.append(f"  tool {t['tool']}: {t['errors']}/{t['calls']} calls failed in {t['traces']} traces")
            for r in c.get("loops", []):
                lines.append(f"  loop: {r['tool']} ×{r['repeats']} with the same arguments in trace {r['trace_id']}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def render_pattern(p: PatternView, n: int | None = None) -> str:
    """A pattern in two to five lines: what, how often, where to look."""
    lead = f"{n}. " if n is not None else "- "
    lines = [
        f"{lead}[{p.kind}] {p.title} — {p.traces_affected}/{p.total_traces} traces "
        f"({render.pct(p.traces_affected, p.total_traces)}), {render.num(p.spans_affected)} spans"
    ]
    where = "; ".join(
        part for part in (
            f"class {p.failure_class}" if p.failure_class else "",
            f"decided at {p.decision}" if p.decision else "",
            f"change: {p.surface}" if p.surface else "",
        ) if part
    )  # fmt: skip
    if where:
        lines.append(f"   {where}")
    if p.detail:
        lines.append(f"   {render.quote(p.detail)}")
    for e in p.examples:
        q = f' "{render.quote(e.quote)}"' if e.quote else ""
        line = f"   e.g. trace {e.trace_id} span {e.span_id}{q}"
        if e.context_span_id:
            cq = f' "{render.quote(e.context_quote)}"' if e.context_quote else ""
            line += f" (seen on span {e.context_span_id}{cq})"
        lines.append(line)
    return "\n".join(lines)


def pattern_view(p: Pattern, chars: int, *, examples: int = 3) -> PatternView:
    """`p` with its detail and quotes cut to `chars` and at most `examples` examples."""
    more = render.call("patterns", subject=p.subject) if p.subject else "patterns(...)"
    return PatternView(
        kind=p.kind,
        title=p.title if len(p.title) <= max(chars, 120) else cut(p.title, max(chars, 120), more),
        detail=cut(p.detail, chars, more) if p.detail else "",
        subject=p.subject,
        traces_affected=p.traces_affected,
        total_traces=p.total_traces,
        spans_affected=p.spans_affected,
        failure_class=p.failure_class,
        decision=p.decision,
        surface=p.surface,
        examples=[_cut_example(e, chars) for e in p.examples[:examples]],
    )


def _cut_example(e: PatternExample, chars: int) -> PatternExample:
    update = {}
    if e.quote and len(e.quote) > chars:
        update["quote"] = e.quote[:chars]
    if e.context_quote and len(e.context_quote) > chars:
        update["context_quote"] = e.context_quote[:chars]
    return e.model_copy(update=update) if update else e


async def patterns(ctx: ToolContext, args: PatternsArgs, budget: int) -> PatternsResult:
    notes: list[str] = []
    limit = clamp(args.limit, 1, MAX_LIMIT, "limit", notes)
    start = 0
    kinds, subject = args.kinds, args.subject
    if args.cursor:
        state = decode_cursor("patterns", args.cursor, _Cursor)
        start, kinds, subject = int(state["o"]), state.get("k"), state.get("s")
    ds = await open_dataset(ctx, args.dataset)
    analytics = await in_thread(analyze, ds)
    chosen = [
        p
        for p in analytics.patterns
        if (not kinds or p.kind in kinds) and (not subject or subject.lower() in (p.subject or p.title).lower())
    ]
    notes += analytics.notes
    page = chosen[start : start + limit]
    specs = in_source.source_specs(ds) if start == 0 else []
    pushed = await in_thread(in_source.patterns, specs, kinds=kinds, subject=subject) if specs else []
    if in_source.copy_incomplete(ds) and in_source.source_specs(ds):
        notes.append(
            "the local copy is incomplete: patterns and totals cover the copy"
            + ("; computed_in_source is the whole table's" if pushed else "")
        )

    def build(n: int, chars: int) -> PatternsResult:
        shown = page[:n]
        end = start + len(shown)
        cursor = None
        if end < len(chosen):
            cursor = encode_cursor("patterns", {"o": end, "k": kinds, "s": subject})
        return PatternsResult(
            total_traces=analytics.total_traces,
            total_spans=analytics.total_spans,
            total_patterns=len(chosen),
            patterns=[pattern_view(p, chars) for p in shown],
            next_cursor=cursor,
            notes=notes,
            computed_in_source=[_cut_rollups(p, n, chars) for p in pushed],
        )

    # The in-source lists follow the page size too: limit entries each, at most IN_SOURCE_PATTERNS_TOP.
    most = max([len(page), *(min(limit, in_source.IN_SOURCE_PATTERNS_TOP) for _ in pushed)])
    return fit(build, items=most, chars=DETAIL_CHARS, limit=budget, min_items=0)


def _cut_rollups(entry: dict[str, Any], n: int, chars: int) -> dict[str, Any]:
    """A source's rollups, each list cut to `n` entries and each message or argument text to `chars`."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, list):
            value = [{k: cut(v, chars, _WHOLE) if k in _LONG else v for k, v in r.items()} for r in value[:n]]
        out[key] = value
    return out


SPEC = register(
    ToolSpec(
        name="patterns",
        title="Failure patterns (measured, no model)",
        description=description("patterns"),
        args=PatternsArgs,
        result=PatternsResult,
        handler=patterns,
    )
)
