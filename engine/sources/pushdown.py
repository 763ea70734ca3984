"""Answers computed inside ClickHouse, so a table past one machine's size answers in the engine's time.

`overview` sends a handful of aggregate statements (counts, errors, time range,
trace-duration percentiles, services, per-tool calls and errors) and only their
answer rows cross the network; `query_traces` lists traces by a filter, sorted,
a page at a time, grouped by TraceId in the engine. The statements are the same
text for chDB and a server (`otel_traces`, `clickhouse.connect`).

What the numbers mean matches the local index's `overview` (a test holds the two
equal on the same spans): an error span has status ERROR; an error trace has an
error span or an exception (an `exception` event, or `exception.type` /
`exception.message` attributes); trace duration is last end minus first start,
percentiles nearest-rank (`quantilesExact`). Tools are named by `tool.name` or
`gen_ai.tool.name`. What it does not compute (span kinds, models, agents,
tokens, hidden errors, failure patterns) comes from the fetched copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidArgumentError
from engine.sources import otel_traces as q
from engine.sources.base import SourceURL
from engine.sources.clickhouse import check_schema, connect, table_of

__all__ = [
    "ERROR_SQL", "PUSHDOWN_MAX_LIMIT", "PUSHDOWN_TOP", "SORTS", "TOOL_SQL", "SourceTotals", "exception_sql", "overview",
    "query_traces", "SEARCH_MAX_MATCHES", "SNIPPET_CHARS", "search_spans",
]  # fmt: skip

# Services and tools listed by an overview computed in the engine (totals are exact).
PUSHDOWN_TOP = 50
# Most traces one query_traces page lists.
PUSHDOWN_MAX_LIMIT = 500

ERROR_SQL = f"toString(`StatusCode`) IN ({', '.join(q.quote(c) for c in q.ERROR_CODES)})"
TOOL_SQL = (
    "if(`SpanAttributes`['tool.name'] != '', `SpanAttributes`['tool.name'], `SpanAttributes`['gen_ai.tool.name'])"
)
_END = "(toUnixTimestamp64Nano(`Timestamp`) + toInt64(`Duration`))"


def exception_sql(present: list[str]) -> str:
    """SQL true for a span that records an exception (event when the table has Events.*, else attributes)."""
    attrs = "(`SpanAttributes`['exception.type'] != '' OR `SpanAttributes`['exception.message'] != '')"
    return f"(has(`Events.Name`, 'exception') OR {attrs})" if "Events.Name" in present else attrs


@dataclass
class SourceTotals:
    """An overview's counts as ClickHouse computed them over the whole table."""

    source: str
    spans: int
    traces: int
    error_spans: int
    error_traces: int
    start_ns: int | None
    end_ns: int | None
    trace_duration_ms: dict[str, float] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    statements: int = 0


def overview(url: SourceURL) -> SourceTotals:
    """The whole table's overview counts, computed as SQL in the engine."""
    table = table_of(url)
    with connect(url) as client:
        present = check_schema(client, url, table)
        exc = exception_sql(present)
        per_trace = (
            f"SELECT `TraceId` AS t, min(toUnixTimestamp64Nano(`Timestamp`)) AS s, max({_END}) AS e, "
            f"countIf({ERROR_SQL}) > 0 OR countIf({exc}) > 0 AS failed FROM {table.sql} GROUP BY `TraceId`"
        )
        [head] = client.rows(
            f"SELECT count(), countIf({ERROR_SQL}), min(toUnixTimestamp64Nano(`Timestamp`)), max({_END}) "
            f"FROM {table.sql}"
        )
        [traces] = client.rows(
            f"SELECT count(), countIf(failed), quantilesExact(0.5, 0.9, 0.99)(e - s), max(e - s) FROM ({per_trace})"
        )
        services = client.rows(
            f"SELECT toString(`ServiceName`) AS name, count() AS spans, uniqExact(`TraceId`) AS traces "
            f"FROM {table.sql} WHERE name != '' GROUP BY name ORDER BY spans DESC, name LIMIT {PUSHDOWN_TOP}"
        )
        tools = client.rows(
            f"SELECT {TOOL_SQL} AS tool, count() AS calls, countIf({ERROR_SQL} OR {exc}) AS errors, "
            f"uniqExact(`TraceId`) AS traces FROM {table.sql} WHERE tool != '' "
            f"GROUP BY tool ORDER BY calls DESC, tool LIMIT {PUSHDOWN_TOP}"
        )
    n_spans, n_traces = int(head[0]), int(traces[0])
    durations: dict[str, float] = {}
    if n_traces:
        p50, p90, p99 = (float(v) / 1e6 for v in traces[2])
        durations = {"p50": p50, "p90": p90, "p99": p99, "max": float(traces[3]) / 1e6}
    return SourceTotals(
        source=url.display,
        spans=n_spans,
        traces=n_traces,
        error_spans=int(head[1]),
        error_traces=int(traces[1]),
        start_ns=int(head[2]) if n_spans else None,
        end_ns=int(head[3]) if n_spans else None,
        trace_duration_ms=durations,
        services=[{"name": r[0], "spans": int(r[1]), "traces": int(r[2])} for r in services],
        tools=[{"tool": r[0], "calls": int(r[1]), "errors": int(r[2]), "traces": int(r[3])} for r in tools],
        statements=5,
    )


# sort key -> SQL expression over the per-trace rollup
SORTS = {"start": "s", "duration": "(e - s)", "spans": "n", "errors": "errors"}


def query_traces(
    url: SourceURL,
    *,
    has_errors: bool | None = None,
    service: str | None = None,
    span_name: str | None = None,
    tool: str | None = None,
    min_duration_ms: float | None = None,
    max_duration_ms: float | None = None,
    start_after: int | None = None,
    start_before: int | None = None,
    trace_ids: list[str] | None = None,
    pattern: str | None = None,
    ignore_case: bool = False,
    sort: str = "start",
    descending: bool = False,
    limit: int = 20,
    offset: int = 0,
    after: tuple[int, str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(matching traces, one page of them) by a filter, computed in the engine.

    `pattern` is an RE2 regex (ClickHouse's `match()`, the same engine family the
    local search uses) over span names, status messages and attribute values.
    `start_after` (inclusive) / `start_before` (exclusive) are epoch ns, as in
    `store.TraceFilter`. `after` is a keyset cursor: the (sort value, trace id)
    of the previous page's last row (each row carries it as `key`), so a page
    starts right after it however the table grows. A row's `trace_id`, `start`,
    `duration_ms`, `spans` and `errors` mean what the `query` tool's rows do.
    """
    if sort not in SORTS:
        raise InvalidArgumentError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if not 1 <= limit <= PUSHDOWN_MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be 1-{PUSHDOWN_MAX_LIMIT}")
    table = table_of(url)
    span_conditions = []
    if service is not None:
        span_conditions.append(f"toString(`ServiceName`) = {q.quote(service)}")
    if span_name is not None:
        span_conditions.append(f"`SpanName` = {q.quote(span_name)}")
    if tool is not None:
        span_conditions.append(f"{TOOL_SQL} = {q.quote(tool)}")
    if pattern is not None:
        p = q.quote(("(?i)" if ignore_case else "") + pattern)
        span_conditions.append(
            f"(match(`SpanName`, {p}) OR match(`StatusMessage`, {p})"
            f" OR arrayExists(v -> match(v, {p}), mapValues(`SpanAttributes`)))"
        )
    with connect(url) as client:
        present = check_schema(client, url, table)
        matched = " AND ".join(span_conditions) or "1"
        having = [f"countIf({matched}) > 0"]
        if has_errors is not None:
            failed = f"(countIf({ERROR_SQL}) > 0 OR countIf({exception_sql(present)}) > 0)"
            having.append(("" if has_errors else "NOT ") + failed)
        if min_duration_ms is not None:
            having.append(f"(e - s) >= {int(min_duration_ms * 1e6)}")
        if max_duration_ms is not None:
            having.append(f"(e - s) <= {int(max_duration_ms * 1e6)}")
        if start_after is not None:
            having.append(f"s >= {int(start_after)}")
        if start_before is not None:
            having.append(f"s < {int(start_before)}")
        if trace_ids is not None:
            listed = ", ".join(q.quote(t) for t in trace_ids) or "''"
            having.append(f"t IN ({listed})")
        rollup = (
            f"SELECT `TraceId` AS t, min(toUnixTimestamp64Nano(`Timestamp`)) AS s, max({_END}) AS e, count() AS n, "
            f"countIf({ERROR_SQL}) AS errors FROM {table.sql} GROUP BY `TraceId` HAVING {' AND '.join(having)}"
        )
        direction = "DESC" if descending else "ASC"
        [[total]] = client.rows(f"SELECT count() FROM ({rollup})")
        key = SORTS[sort]
        page = ""
        if after is not None:
            v, last = int(after[0]), q.quote(after[1])
            page = f" WHERE ({key} {'<' if descending else '>'} {v} OR ({key} = {v} AND t > {last}))"
        rows = client.rows(
            f"SELECT t, s, e - s, n, errors, {key} FROM ({rollup}){page} ORDER BY {key} {direction}, t "
            f"LIMIT {int(limit)} OFFSET {int(offset)}"
        )
    # trace_id, start, duration_ms, spans, errors: named and written as the `query` tool's trace rows.
    return int(total), [
        dict(
            trace_id=t, start_ns=int(st), duration_ms=int(d) / 1e6, spans=int(n), errors=int(e),
            key=(int(k), t),
        )
        for t, st, d, n, e, k in rows
    ]  # fmt: skip


# Most span matches one search_spans call returns, and the context kept each side of a match.
SEARCH_MAX_MATCHES = 200
SNIPPET_CHARS = 80
# What a span's search covers in the engine: its name, status message and attribute values.
_TEXT = "concat(`SpanName`, '\\n', `StatusMessage`, '\\n', arrayStringConcat(mapValues(`SpanAttributes`), '\\n'))"


def search_spans(
    url: SourceURL, pattern: str, *, ignore_case: bool = False, limit: int = 20, context_chars: int = SNIPPET_CHARS
) -> tuple[int, list[dict[str, Any]]]:
    """(spans matching, the first `limit` of them with a snippet of the first match) by `match()` in the engine.

    Differs from the local search, which reads each span's whole raw JSON: here
    the text is the span's name, status message and attribute values, one per
    line, and a span's first match is shown (not every match).
    """
    if not 1 <= limit <= SEARCH_MAX_MATCHES:
        raise InvalidArgumentError(f"limit must be 1-{SEARCH_MAX_MATCHES}")
    if not 0 <= context_chars <= SNIPPET_CHARS:
        raise InvalidArgumentError(f"context_chars must be 0-{SNIPPET_CHARS}")
    table = table_of(url)
    p = q.quote(f"({'(?i)' if ignore_case else ''}{pattern})")
    c = int(context_chars)
    with connect(url) as client:
        check_schema(client, url, table)
        [[total]] = client.rows(f"SELECT count() FROM {table.sql} WHERE match({_TEXT}, {p})")
        rows = client.rows(
            f"SELECT `TraceId`, `SpanId`, `SpanName`, m, at, "
            f"substringUTF8(x, greatest(1, at - {c}), least(at - 1, {c})), substringUTF8(x, at + lengthUTF8(m), {c}) "
            f"FROM (SELECT `TraceId`, `SpanId`, `SpanName`, `Timestamp`, "
            f"{_TEXT} AS x, extract(x, {p}) AS m, positionUTF8(x, m) AS at FROM {table.sql} WHERE match(x, {p})) "
            f"ORDER BY `Timestamp`, `SpanId` LIMIT {int(limit)}"
        )
    return int(total), [
        {"trace_id": t, "span_id": s, "name": n, "match": m, "start": int(at) - 1, "before": b, "after": a}
        for t, s, n, m, at, b, a in rows
    ]
