"""Failure rollups computed inside ClickHouse: error signatures, per-tool rates, loops.

Each function sends one statement (the same text to chDB and to a server, see
`otel_traces`) and only its answer rows cross the network.

Error signatures are the nearest SQL to the analytics' `message_template`: the
same masks in the same order, as `replaceRegexpAll` (RE2). Where it differs from
the local error families: the `<id>` mask needs a look-ahead RE2 lacks, so hex
runs mixing digits and letters become `<n>` pieces instead of one `<id>`; wrapper
spans that quote an inner error are not merged into the inner family (that walk
needs the span tree), so a wrapped error counts once per span that records it;
and the message is the exception message attribute, else the status message.

A loop is the analytics' repeated call: the same tool with the same arguments
called again in one trace; `loops` finds runs of them with window functions.

Not tested against a ClickHouse server (none runs here): the statements are run
on chDB, ClickHouse's own engine in-process; a server receives the same text.
"""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidArgumentError
from engine.sources import otel_traces as q
from engine.sources.base import SourceURL
from engine.sources.clickhouse import check_schema, connect, table_of
from engine.sources.pushdown import ERROR_SQL, PUSHDOWN_TOP, TOOL_SQL, exception_sql

__all__ = ["LOOP_MIN_REPEATS", "error_signatures", "loops", "template_sql", "tool_rates"]

# A loop: this many calls in a row of one tool with identical arguments in one trace.
LOOP_MIN_REPEATS = 3

# The analytics' masks (failure_text._MASKS), as RE2; `<id>` is left out (look-ahead).
_MASKS = (
    (r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", "<url>"),
    (r"[\w.+-]+@[\w-]+\.[\w.-]+", "<email>"),
    (r"'[^'\n]{0,200}'", "'<str>'"),
    (r'"[^"\n]{0,200}"', '"<str>"'),
    (r"`[^`\n]{0,200}`", "`<str>`"),
    (r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
    (r"(?:[A-Za-z]:)?(?:[\\/][\w.~-]+){2,}[\\/]?|~[\\/][\w./-]+", "<path>"),
    (r"(?i)\b0x[0-9a-f]+\b", "<hex>"),
    (r"\b[A-Za-z_-]*\d[\w-]*\b", "<n>"),
)
_MESSAGE = "if(`SpanAttributes`['exception.message'] != '', `SpanAttributes`['exception.message'], `StatusMessage`)"
# A tool call's arguments: the first of semconv's _TOOL_ARGS_KEYS that is set.
_ARGS = (
    "multiIf(`SpanAttributes`['gen_ai.tool.call.arguments'] != '', `SpanAttributes`['gen_ai.tool.call.arguments'], "
    "`SpanAttributes`['gen_ai.tool.args'] != '', `SpanAttributes`['gen_ai.tool.args'], `SpanAttributes`['input.value'])"
)


def template_sql(message: str) -> str:
    """The SQL expression masking `message` (an SQL expression) as `message_template` does."""
    text = f"trimBoth(replaceRegexpAll({message}, '\\\\s+', ' '))"
    for pattern, mask in _MASKS:
        text = f"replaceRegexpAll({text}, {q.quote(pattern)}, {q.quote(mask)})"
    return f"if({text} = '', '(no message)', {text})"


def error_signatures(url: SourceURL, *, top: int = PUSHDOWN_TOP) -> list[dict[str, Any]]:
    """Error spans grouped by their masked message: signature, spans, traces, an example message."""
    table = table_of(url)
    with connect(url) as client:
        exc = exception_sql(check_schema(client, url, table))
        rows = client.rows(
            f"SELECT {template_sql(_MESSAGE)} AS sig, count() AS spans, uniqExact(`TraceId`) AS traces, "
            f"any({_MESSAGE}) FROM {table.sql} WHERE {ERROR_SQL} OR {exc} "
            f"GROUP BY sig ORDER BY spans DESC, sig LIMIT {int(top)}"
        )
    return [{"signature": r[0], "spans": int(r[1]), "traces": int(r[2]), "example": r[3]} for r in rows]


def tool_rates(url: SourceURL, *, top: int = PUSHDOWN_TOP) -> list[dict[str, Any]]:
    """Per tool: calls, errors, error rate and traces, most-called first."""
    table = table_of(url)
    with connect(url) as client:
        exc = exception_sql(check_schema(client, url, table))
        rows = client.rows(
            f"SELECT {TOOL_SQL} AS tool, count() AS calls, countIf({ERROR_SQL} OR {exc}) AS errors, "
            f"uniqExact(`TraceId`) AS traces FROM {table.sql} WHERE tool != '' "
            f"GROUP BY tool ORDER BY calls DESC, tool LIMIT {int(top)}"
        )
    return [
        {"tool": t, "calls": int(c), "errors": int(e), "error_rate": int(e) / int(c), "traces": int(n)}
        for t, c, e, n in rows
    ]


def loops(url: SourceURL, *, min_repeats: int = LOOP_MIN_REPEATS, top: int = PUSHDOWN_TOP) -> list[dict[str, Any]]:
    """Runs of one tool called with identical arguments `min_repeats`+ times in a row within a trace.

    Window functions number each trace's tool calls by start time; a run is a
    stretch where (tool, arguments) stays the same (row number minus the row
    number within that key is constant along it).
    """
    if min_repeats < 2:
        raise InvalidArgumentError("min_repeats must be at least 2")
    table = table_of(url)
    calls = (
        f"SELECT `TraceId` AS t, {TOOL_SQL} AS tool, {_ARGS} AS args, `Timestamp` AS ts, `SpanId` AS sid "
        f"FROM {table.sql} WHERE tool != ''"
    )
    numbered = (
        "SELECT t, tool, args, ts, row_number() OVER (PARTITION BY t ORDER BY ts, sid) "
        "- row_number() OVER (PARTITION BY t, tool, args ORDER BY ts, sid) AS run "
        f"FROM ({calls})"
    )
    with connect(url) as client:
        check_schema(client, url, table)
        rows = client.rows(
            f"SELECT t, tool, any(args), count() AS n FROM ({numbered}) GROUP BY t, tool, args, run "
            f"HAVING n >= {int(min_repeats)} ORDER BY n DESC, t, tool LIMIT {int(top)}"
        )
    return [{"trace_id": r[0], "tool": r[1], "arguments": r[2], "repeats": int(r[3])} for r in rows]
