"""The store: what the trace tools ask of a dataset, as plain functions with pydantic results.

    overview(ds) -> Overview                      counts, services, models, tools, tokens, error signatures
    query_traces(ds, TraceFilter, sort=..., limit=..., cursor=...) -> TracePage
    count_traces(ds, TraceFilter) -> int
    view_trace(ds, trace_id) -> list[SpanView]    tree order with depth
    get_spans(ds, trace_id, span_ids) -> list[SpanDetail]
    search(ds, pattern, ...) -> SearchHits      exact counts, bounded matches

Everything reads the index columns; only `get_spans`, `search` and a `pattern`
filter read raw span JSON. Bad input raises `HaloError`s whose messages say what
to do instead.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, Field

from engine.errors import InvalidArgumentError
from engine.traces.index.build import Flag
from engine.traces.model import SpanKind
from engine.traces.store.glance import ErrorSignature, NameCount, Overview, ToolCount, error_signatures, overview
from engine.traces.store.grep import SearchHits, SearchMatch, SpanMatchCount, compile_pattern, search, traces_matching
from engine.traces.store.views import SpanDetail, SpanView, attributes_of, get_spans, view_trace

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "MAX_PAGE",
    "PATTERN_TIMEOUT_S",
    "SortKey",
    "TraceFilter",
    "TraceSummary",
    "TracePage",
    "SpanView",
    "SpanDetail",
    "Overview",
    "NameCount",
    "ToolCount",
    "ErrorSignature",
    "SearchMatch",
    "SpanMatchCount",
    "SearchHits",
    "overview",
    "error_signatures",
    "query_traces",
    "count_traces",
    "matching_traces",
    "view_trace",
    "get_spans",
    "attributes_of",
    "search",
]

MAX_PAGE = 1000
# A `pattern` filter reads raw spans; past this it stops and the page says so.
PATTERN_TIMEOUT_S = 10.0

SortKey = Literal["start", "duration", "spans", "errors", "tokens", "cost", "llm_calls", "tool_calls"]
_SORTS: tuple[str, ...] = SortKey.__args__  # type: ignore[attr-defined]


class TraceFilter(BaseModel):
    """Which traces to list; all given conditions must hold (span conditions: some span of the trace)."""

    has_errors: bool | None = Field(default=None, description="True: a span has status ERROR or an exception")
    model: str | None = None
    service: str | None = None
    agent: str | None = None
    tool: str | None = None
    span_name: str | None = None
    kind: str | None = Field(default=None, description="a SpanKind name: llm, tool, agent, chain, ...")
    start_after: int | None = Field(default=None, description="epoch ns, inclusive")
    start_before: int | None = Field(default=None, description="epoch ns, exclusive")
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_tokens: int | None = Field(default=None, description="input + output tokens")
    max_tokens: int | None = None
    trace_ids: list[str] | None = None
    pattern: str | None = Field(default=None, description="regex over span content (see store.grep)")
    ignore_case: bool = False


class TraceSummary(BaseModel):
    """One trace's rollup, as listed by `query_traces`."""

    trace_id: str
    file: str
    start_ns: int
    end_ns: int
    duration_ms: float
    span_count: int
    error_count: int
    llm_calls: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None = None
    root_name: str | None = None
    services: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="orphan, duplicate, exception, output_error, refusal")


class TracePage(BaseModel):
    items: list[TraceSummary]
    total: int = Field(description="exact number of traces matching the filter")
    next_cursor: str | None = Field(default=None, description="opaque; pass back for the next page")
    sort: str
    descending: bool
    truncated_by_time: bool = Field(
        default=False, description="the pattern filter ran out of time; total is a lower bound"
    )


FLAG_NAMES = (
    (Flag.ORPHAN, "orphan"), (Flag.DUPLICATE, "duplicate"), (Flag.EXCEPTION, "exception"),
    (Flag.OUTPUT_ERROR, "output_error"), (Flag.REFUSAL, "refusal"),
)  # fmt: skip


def flag_names(flags: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES if flags & bit]


def _spans_to_traces(ds: Dataset, span_mask: np.ndarray) -> np.ndarray:
    out = np.zeros(ds.n_traces, dtype=bool)
    out[np.asarray(ds.spans.trace)[span_mask]] = True
    return out


def matching_traces(ds: Dataset, f: TraceFilter) -> tuple[np.ndarray, bool]:
    """TraceTable rows matching `f` (ascending), and whether a pattern search ran out of time."""
    t = ds.traces
    mask = np.ones(ds.n_traces, dtype=bool)
    if f.has_errors is not None:
        erring = (np.asarray(t.error_count) > 0) | ((np.asarray(t.flags) & Flag.EXCEPTION) != 0)
        mask &= erring if f.has_errors else ~erring
    for value, column in ((f.model, t.models), (f.service, t.services), (f.agent, t.agents), (f.tool, t.tools)):
        if value is not None:
            mask &= column.contains(value)
    if f.span_name is not None:
        mask &= _spans_to_traces(ds, ds.spans.name.mask(f.span_name))
    if f.kind is not None:
        kind = SpanKind.__members__.get(f.kind.strip().upper())
        if kind is None:
            names = ", ".join(k.name.lower() for k in SpanKind)
            raise InvalidArgumentError(f"unknown span kind {f.kind!r}; use one of: {names}")
        mask &= _spans_to_traces(ds, np.asarray(ds.spans.kind) == kind)
    start = np.asarray(t.start_ns)
    if f.start_after is not None:
        mask &= start >= f.start_after
    if f.start_before is not None:
        mask &= start < f.start_before
    if f.min_duration_ms is not None or f.max_duration_ms is not None:
        duration_ms = np.asarray(t.duration_ns) / 1e6
        if f.min_duration_ms is not None:
            mask &= duration_ms >= f.min_duration_ms
        if f.max_duration_ms is not None:
            mask &= duration_ms <= f.max_duration_ms
    if f.min_tokens is not None or f.max_tokens is not None:
        tokens = np.asarray(t.input_tokens) + np.asarray(t.output_tokens)
        if f.min_tokens is not None:
            mask &= tokens >= f.min_tokens
        if f.max_tokens is not None:
            mask &= tokens <= f.max_tokens
    if f.trace_ids is not None:
        wanted = np.zeros(ds.n_traces, dtype=bool)
        for trace_id in f.trace_ids:
            wanted[ds.trace_indices(trace_id)] = True
        mask &= wanted
    truncated = False
    if f.pattern is not None:
        regex = compile_pattern(f.pattern, ignore_case=f.ignore_case)
        hit, truncated = traces_matching(ds, regex, np.flatnonzero(mask), PATTERN_TIMEOUT_S)
        mask &= hit
    return np.flatnonzero(mask), truncated


def count_traces(ds: Dataset, f: TraceFilter) -> int:
    return len(matching_traces(ds, f)[0])


def _sort_key(ds: Dataset, sort: str, rows: np.ndarray, descending: bool) -> np.ndarray:
    """Keys that order `rows` ascending (negated for descending; unknown cost sorts last)."""
    t = ds.traces
    if sort == "cost":
        cost = np.asarray(t.cost)[rows]
        key = np.where(np.isnan(cost), -np.inf if descending else np.inf, cost)
        ordered: np.ndarray = -key if descending else key
        return ordered
    column = {
        "start": t.start_ns, "duration": t.duration_ns, "spans": t.span_count, "errors": t.error_count,
        "llm_calls": t.llm_calls, "tool_calls": t.tool_calls,
    }.get(sort)  # fmt: skip
    if sort == "tokens":
        key = (np.asarray(t.input_tokens) + np.asarray(t.output_tokens))[rows]
    elif column is not None:
        key = np.asarray(column)[rows].astype(np.int64)
    else:
        raise InvalidArgumentError(f"unknown sort {sort!r}; use one of: {', '.join(_SORTS)}")
    by: np.ndarray = -key if descending else key
    return by


def _filter_digest(f: TraceFilter) -> str:
    return hashlib.sha256(orjson.dumps(f.model_dump(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(state, dict) or not {"s", "d", "h", "k", "r"} <= state.keys():
            raise ValueError
        return state
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidArgumentError(
            "invalid cursor: pass next_cursor exactly as a previous page returned it, or omit it to start over"
        ) from None


def query_traces(
    ds: Dataset,
    f: TraceFilter,
    *,
    sort: str = "start",
    descending: bool = False,
    limit: int = 20,
    cursor: str | None = None,
) -> TracePage:
    """Matching traces ordered by `sort` (ties by index order), one page at a time.

    The cursor holds the last (sort key, trace row) shown, so the next page starts
    right after it even if the caller asks with a different limit.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if sort not in _SORTS:
        raise InvalidArgumentError(f"unknown sort {sort!r}; use one of: {', '.join(_SORTS)}")
    rows, truncated = matching_traces(ds, f)
    total = len(rows)
    keys = _sort_key(ds, sort, rows, descending)
    digest = _filter_digest(f)
    if cursor is not None:
        state = _decode_cursor(cursor)
        if (state["s"], state["d"], state["h"]) != (sort, descending, digest):
            raise InvalidArgumentError(
                "this cursor belongs to a query with another filter or sort; repeat that query, or omit the cursor"
            )
        last_key = float.fromhex(state["k"]) if isinstance(state["k"], str) else state["k"]
        last_row = int(state["r"])
        after = (keys > last_key) | ((keys == last_key) & (rows > last_row))
        rows, keys = rows[after], keys[after]
    order = np.lexsort((rows, keys))[:limit]
    page_rows, page_keys = rows[order], keys[order]
    next_cursor = None
    if len(rows) > len(page_rows) and len(page_rows):
        k = page_keys[-1]
        next_cursor = _encode_cursor(
            {"s": sort, "d": descending, "h": digest, "r": int(page_rows[-1]),
             "k": float(k).hex() if isinstance(k, np.floating) else int(k)}
        )  # fmt: skip
    return TracePage(
        items=summaries(ds, page_rows),
        total=total,
        next_cursor=next_cursor,
        sort=sort,
        descending=descending,
        truncated_by_time=truncated,
    )


def summaries(ds: Dataset, rows: np.ndarray) -> list[TraceSummary]:
    """TraceSummary for each TraceTable row."""
    t = ds.traces
    names = ds.spans.name
    out = []
    for r in rows.tolist():
        root = int(t.root_row[r])
        cost = float(t.cost[r])
        out.append(
            TraceSummary(
                trace_id=t.trace_id[r] or "",
                file=ds.files[int(t.file[r])].path,
                start_ns=int(t.start_ns[r]),
                end_ns=int(t.end_ns[r]),
                duration_ms=int(t.duration_ns[r]) / 1e6,
                span_count=int(t.span_count[r]),
                error_count=int(t.error_count[r]),
                llm_calls=int(t.llm_calls[r]),
                tool_calls=int(t.tool_calls[r]),
                input_tokens=int(t.input_tokens[r]),
                output_tokens=int(t.output_tokens[r]),
                cost=None if np.isnan(cost) else cost,
                root_name=names[root] if root >= 0 else None,
                services=t.services[r],
                models=t.models[r],
                agents=t.agents[r],
                tools=t.tools[r],
                flags=flag_names(int(t.flags[r])),
            )
        )
    return out
