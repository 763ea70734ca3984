"""query: filtered, sorted trace summaries, paged by cursor; `count_only` just counts.

The filter is the store's `TraceFilter`; this module adds the model-facing
argument descriptions, clamping, cursors that survive fitting, and a one-line
rendering per trace. On a ClickHouse / chDB dataset the answer also carries
`computed_in_source`: the same filter and sort computed as SQL over the whole
table (`engine.sources.in_source`), paged alongside the copy's by the same cursor,
so a table bigger than one fetch is still answered whole.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from engine.errors import InvalidArgumentError
from engine.sources import in_source, pushdown
from engine.tools import render
from engine.tools.arguments import screen_arguments
from engine.tools.budget import clamp, fit
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
from engine.tools.regex_guard import guarded
from engine.tools.registry import ToolResult, ToolSpec, register

__all__ = ["QueryArgs", "QueryResult", "TraceRow", "SPEC", "trace_row"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Names listed per trace row (models, tools); the count of the rest is shown.
NAMES_PER_ROW = 4

SortKey = Literal["start", "duration", "spans", "errors", "tokens", "cost", "llm_calls", "tool_calls"]
_FILTER_FIELDS = (
    "has_errors", "model", "service", "agent", "tool", "span_name", "kind", "start_after",
    "start_before", "min_duration_ms", "max_duration_ms", "min_tokens", "max_tokens",
    "trace_ids", "pattern", "ignore_case",
)  # fmt: skip


class QueryArgs(ToolArgs):
    has_errors: bool | None = Field(
        default=None, description="true: only traces with an ERROR span; false: only without"
    )
    model: str | None = Field(default=None, description="only traces that call this model (exact name)")
    service: str | None = Field(default=None, description="only traces of this service.name")
    agent: str | None = Field(default=None, description="only traces where this agent runs")
    tool: str | None = Field(default=None, description="only traces that call this tool")
    span_name: str | None = Field(default=None, description="only traces with a span of this name")
    kind: str | None = Field(
        default=None,
        description="only traces with a span of this kind: llm, tool, agent, chain, retriever, embedding, guardrail",
    )
    start_after: str | None = Field(default=None, description="ISO-8601 time; traces starting at or after it")
    start_before: str | None = Field(default=None, description="ISO-8601 time; traces starting before it")
    min_duration_ms: float | None = Field(default=None, description="minimum trace duration in ms")
    max_duration_ms: float | None = Field(default=None, description="maximum trace duration in ms")
    min_tokens: int | None = Field(default=None, description="minimum input+output tokens of the trace")
    max_tokens: int | None = Field(default=None, description="maximum input+output tokens of the trace")
    trace_ids: list[str] | None = Field(default=None, description="only these trace ids")
    pattern: str | None = Field(
        default=None, description="regex over raw span JSON: traces with at least one matching span"
    )
    ignore_case: bool = Field(default=False, description="match pattern case-insensitively")
    sort: SortKey = Field(default="start", description="order of the results")
    descending: bool = Field(default=False, description="largest / latest first")
    limit: int = Field(default=DEFAULT_LIMIT, description=f"traces per page (1-{MAX_LIMIT})")
    cursor: str | None = Field(
        default=None, description="next_cursor of the previous page (other arguments then come from it)"
    )
    count_only: bool = Field(default=False, description="only count matching traces, list none")
    dataset: str | None = dataset_field()


class TraceRow(BaseModel):
    """One trace in a listing."""

    trace_id: str
    start: str
    duration_ms: float | None = None
    spans: int
    errors: int
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    root: str | None = Field(default=None, description="name of the root span")
    models: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)

    def line(self) -> str:
        parts = [self.trace_id, self.start, render.ms(self.duration_ms), f"{self.spans} spans"]
        if self.errors:
            parts.append(f"{self.errors} ERR")
        parts.append(f"llm {self.llm_calls} tool {self.tool_calls}")
        tok = render.tokens(self.input_tokens, self.output_tokens)
        if tok:
            parts.append(tok)
        if self.cost is not None:
            parts.append(render.cost(self.cost))
        if self.root:
            parts.append(f"root={self.root}")
        if self.models:
            parts.append("models=" + ",".join(self.models))
        if self.tools:
            parts.append("tools=" + ",".join(self.tools))
        return "  ".join(parts)


class QueryResult(ToolResult):
    total: int = Field(description="exact number of traces matching the filter")
    filter: str = Field(description="the filter as understood")
    traces: list[TraceRow] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page")
    notes: list[str] = Field(default_factory=list)
    computed_in_source: list[dict[str, Any]] = Field(
        default_factory=list,
        description="ClickHouse sources: the matching-trace total and this page over the whole table, computed "
        "in ClickHouse (rows: trace_id, start, duration_ms, spans, errors as in traces)",
    )

    def render(self) -> str:
        head = f"{render.num(self.total)} traces match {self.filter}"
        if self.traces:
            head += f"; showing {len(self.traces)}"
        lines = [head, *(t.line() for t in self.traces)]
        if self.next_cursor:
            lines.append(f"more: {render.call('query', cursor=self.next_cursor)}")
        for c in self.computed_in_source:
            lines.append(f"computed in ClickHouse over {c['source']}: {render.num(c['total'])} traces match")
            lines += [
                f"  {r['trace_id']}  {r['start']}  {render.ms(r['duration_ms'])}  {r['spans']} spans"
                + (f"  {r['errors']} ERR" if r["errors"] else "")
                for r in c["traces"]
            ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def trace_row(summary: Any) -> TraceRow:
    """A store `TraceSummary` as a listing row."""
    get: Callable[..., Any] = summary.get if isinstance(summary, dict) else lambda k, d=None: getattr(summary, k, d)
    models = list(get("models", None) or [])
    tools = list(get("tools", None) or [])
    dur = get("duration_ms", None)
    if dur is None and get("duration_ns", None) is not None:
        dur = get("duration_ns") / 1e6
    cost = get("cost", None)
    return TraceRow(
        trace_id=get("trace_id"),
        start=render.when(get("start_ns", None)),
        duration_ms=dur,
        spans=int(get("span_count", None) or get("spans", 0) or 0),
        errors=int(get("error_count", None) or get("errors", 0) or 0),
        llm_calls=int(get("llm_calls", 0) or 0),
        tool_calls=int(get("tool_calls", 0) or 0),
        input_tokens=_tok(get("input_tokens", None)),
        output_tokens=_tok(get("output_tokens", None)),
        cost=None if cost is None or cost != cost else float(cost),
        root=get("root", None) or get("root_name", None),
        models=_names(models),
        tools=_names(tools),
    )


def _tok(value: Any) -> int | None:
    return None if value is None or value < 0 else int(value)


def _names(values: list[str]) -> list[str]:
    if len(values) <= NAMES_PER_ROW:
        return values
    return [*values[:NAMES_PER_ROW], f"+{len(values) - NAMES_PER_ROW} more"]


def _iso_ns(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(
            f"{name}={text!r} is not an ISO-8601 time; write e.g. 2026-05-28T14:00:00Z"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1e9)


def _filter_text(spec: dict[str, Any]) -> str:
    parts = [f"{k}={v!r}" for k, v in spec.items()]
    return "(" + ", ".join(parts) + ")" if parts else "(no filter)"


_PATTERN_CUT = "the pattern filter stopped at its time limit: total is a lower bound; narrow the filter"
_INCOMPLETE = "the local copy is incomplete: total and traces count the copy; computed_in_source counts the whole table"
# A row of an in-source page as answered (its keyset and epoch start stay in the cursor).
_SOURCE_ROW = ("trace_id", "start", "duration_ms", "spans", "errors")


class _Cursor(CursorState):
    f: dict[str, Any]
    s: SortKey
    d: bool
    c: str | None = None
    k: CursorOffset = 0
    # Per ClickHouse source, its keyset ([] first page, [value, trace id], None listed to the end).
    x: list[list[int | str] | None] | None = None
    e: bool = False  # the copy is listed to its end; only in-source pages remain

    @field_validator("f")
    @classmethod
    def _filter(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """The filter a cursor carries must be one query itself would take."""
        unknown = sorted(set(spec) - set(_FILTER_FIELDS))
        if unknown:
            raise ValueError(f"unknown filter {', '.join(unknown)}")
        screen_arguments("query", spec)
        QueryArgs.model_validate(spec)
        return spec


async def query(ctx: ToolContext, args: QueryArgs, budget: int) -> QueryResult:
    from engine.traces import store

    notes: list[str] = []
    limit = clamp(args.limit, 1, MAX_LIMIT, "limit", notes)
    # Only what was set: the cursor carries the filter, so keep it short.
    spec = {k: v for k in _FILTER_FIELDS if (v := getattr(args, k)) is not None and v is not False}
    sort, descending, store_cursor, skip = args.sort, args.descending, None, 0
    after: list[list[Any] | None] | None = None
    copy_done = False
    if args.cursor:
        state = decode_cursor("query", args.cursor, _Cursor)
        spec, sort, descending = state["f"], state["s"], state["d"]
        store_cursor, skip = state.get("c"), int(state.get("k", 0))
        after, copy_done = state.get("x"), bool(state.get("e", False))
    filters = {
        **spec,
        "start_after": _iso_ns(spec.get("start_after"), "start_after"),
        "start_before": _iso_ns(spec.get("start_before"), "start_before"),
    }
    trace_filter = store.TraceFilter(**filters)
    ds = await open_dataset(ctx, args.dataset)
    specs = in_source.source_specs(ds)
    if specs and in_source.unpushed(spec):
        if in_source.copy_incomplete(ds):
            notes.append(
                "the local copy is incomplete and " + ", ".join(in_source.unpushed(spec)) + " has no SQL "
                "equivalent: no whole-table figure, total counts the copy only"
            )
        specs = []
    pushed = []
    if specs:
        pushed = await in_thread(
            in_source.query, specs, filters, sort=sort, descending=descending, limit=limit, after=after,
            count_only=args.count_only,
        )  # fmt: skip
        for source in pushed:  # the local rows' `start`, written alike
            for row in source["traces"]:
                row["start"] = render.when(row["start_ns"])
    if pushed and in_source.copy_incomplete(ds):
        notes.append(_INCOMPLETE)
    shown_filter = _filter_text(spec)
    pattern = spec.get("pattern")
    if args.count_only:
        if pattern:  # counted through a one-item page, so the regex runs under the guard
            page = await guarded(
                ds, pattern, store.PATTERN_TIMEOUT_S, "query_traces", store.TracePage, trace_filter, limit=1
            )
            total = page.total
            if page.truncated_by_time:
                notes.append(_PATTERN_CUT)
        else:
            total = await in_thread(store.count_traces, ds, trace_filter)
        if args.limit != DEFAULT_LIMIT or args.sort != "start":
            notes.append("count_only: limit and sort do not apply")
        return QueryResult(total=total, filter=shown_filter, notes=notes, computed_in_source=pushed)
    page = await guarded(
        ds, pattern or "", store.PATTERN_TIMEOUT_S, "query_traces", store.TracePage, trace_filter,
        sort=sort, descending=descending, limit=1 if copy_done else skip + limit, cursor=store_cursor,
    )  # fmt: skip
    if page.truncated_by_time:
        notes.append(_PATTERN_CUT)
    items = [] if copy_done else list(page.items)[skip:]
    rows = [trace_row(s) for s in items]
    if pushed and sort not in pushdown.SORTS:
        notes.append(f"sort={sort} has no SQL equivalent: computed_in_source gives its totals, no traces")

    def build(n: int, _: int) -> QueryResult:
        base = {"f": spec, "s": sort, "d": descending}
        cursor = None
        if n < len(rows):  # resume inside this store page
            state = {**base, "c": store_cursor, "k": skip + n}
        elif page.next_cursor and not copy_done:
            state = {**base, "c": page.next_cursor, "k": 0}
        else:  # the copy is listed to its end; in-source pages may remain
            state = {**base, "c": store_cursor, "k": skip, "e": True}
        keys = [_next_key(p["traces"], n, after[i] if after and i < len(after) else []) for i, p in enumerate(pushed)]
        if pushed:
            state["x"] = keys
        if not state.get("e") or any(k is not None for k in keys):
            cursor = encode_cursor("query", state)
        shown = [
            {
                "source": p["source"],
                "total": p["total"],
                "traces": [{k: r[k] for k in _SOURCE_ROW} for r in p["traces"][:n]],
            }
            for p in pushed
        ]
        return QueryResult(
            total=page.total, filter=shown_filter, traces=rows[:n], next_cursor=cursor, notes=notes,
            computed_in_source=shown,
        )  # fmt: skip

    most = max([len(rows), *(min(len(p["traces"]), limit) for p in pushed)])
    return fit(build, items=most, chars=0, limit=budget, min_items=0, min_chars=0)


def _next_key(rows: list[dict[str, Any]], n: int, key: list[Any] | None) -> list[Any] | None:
    """A source's keyset after showing `n` of `rows` (fetched one past the page): None once it is listed out."""
    if key is None or len(rows) <= n:
        return None
    return list(rows[n - 1]["key"]) if n else key


SPEC = register(
    ToolSpec(
        name="query",
        title="List or count traces by filter",
        description=description("query"),
        args=QueryArgs,
        result=QueryResult,
        handler=query,
    )
)
