"""Every SQL statement halo-mcp sends to ClickHouse, as text, built in one place.

The embedded engine (`chdb://`) and a server (`clickhouse://`) receive the very
same statements, with values written as escaped literals (no driver-side
parameter binding, whose syntax the two clients spell differently), and both
answer in `JSONCompactEachRow`, so one parser reads both. The schema is the
OpenTelemetry Collector ClickHouse exporter's `otel_traces` table; columns added
in later exporter versions (`ScopeName`, `ScopeVersion`, `TraceState`, `Events.*`)
are optional, and a table missing a required one is refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ERROR_CODES",
    "FETCH_FIELDS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Table",
    "columns_sql",
    "count_sql",
    "fetch_sql",
    "quote",
]

# Columns every fetch and push-down reads; a table without one of them is refused.
REQUIRED_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
    "Duration", "StatusCode", "StatusMessage", "SpanAttributes", "ResourceAttributes",
)  # fmt: skip
# Columns read when present (older and newer exporter versions differ here).
OPTIONAL_COLUMNS = ("TraceState", "ScopeName", "ScopeVersion", "Events.Timestamp", "Events.Name", "Events.Attributes")
# How the exporter spells an error status: `STATUS_CODE_ERROR` (traceutil) or `Error` (pdata's String()).
ERROR_CODES = ("STATUS_CODE_ERROR", "Error")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Table:
    """A database and table name, checked to be plain identifiers before they reach SQL text."""

    database: str
    table: str

    def __post_init__(self) -> None:
        for part in (self.database, self.table):
            if not _IDENT.match(part):
                raise ValueError(f"{part!r} is not a plain ClickHouse identifier (letters, digits, _)")

    @property
    def sql(self) -> str:
        return f"`{self.database}`.`{self.table}`"


def quote(value: str) -> str:
    """A ClickHouse string literal: backslash and quote escaped (the two characters that end one)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def columns_sql(table: Table) -> str:
    """The table's column names (an empty answer: no such table)."""
    return (
        "SELECT name FROM system.columns WHERE database = "
        f"{quote(table.database)} AND table = {quote(table.table)} ORDER BY position"
    )


def _optional(present: Sequence[str], column: str, fallback: str) -> str:
    return f"`{column}`" if column in present else fallback


# The fields of one fetched row, in order: (name, SQL expression or a function of the columns present).
FETCH_FIELDS = (
    "ts", "trace_id", "span_id", "parent_id", "trace_state", "name", "kind", "service", "duration",
    "code", "message", "attributes", "resource", "scope_name", "scope_version", "event_ts", "event_names",
    "event_attributes",
)  # fmt: skip


def _fetch_columns(present: Sequence[str]) -> str:
    events = "Events.Timestamp" in present
    exprs = [
        "toUnixTimestamp64Nano(`Timestamp`)", "`TraceId`", "`SpanId`", "`ParentSpanId`",
        _optional(present, "TraceState", "''"), "`SpanName`", "toString(`SpanKind`)", "toString(`ServiceName`)",
        "toInt64(`Duration`)", "toString(`StatusCode`)", "`StatusMessage`", "`SpanAttributes`", "`ResourceAttributes`",
        _optional(present, "ScopeName", "''"), _optional(present, "ScopeVersion", "''"),
        "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`)" if events else "[]",
        _optional(present, "Events.Name", "[]"), _optional(present, "Events.Attributes", "[]"),
    ]  # fmt: skip
    return ", ".join(exprs)


def count_sql(table: Table, since_ns: int | None) -> str:
    """How many spans are newer than `since_ns` (all when None)."""
    return f"SELECT count() FROM {table.sql}{_since(since_ns)}"


def _since(since_ns: int | None) -> str:
    if since_ns is None:
        return ""
    return f" WHERE `Timestamp` > fromUnixTimestamp64Nano(toInt64({int(since_ns)}))"


def fetch_sql(
    table: Table,
    present: Sequence[str],
    since_ns: int | None,
    after: tuple[int, str, str] | None,
    limit: int,
) -> str:
    """One batch of spans newer than `since_ns`, in (Timestamp, TraceId, SpanId) order, after the key `after`.

    Keyset pagination: a batch starts strictly after the last row of the previous
    one, so rows sharing a timestamp are neither skipped nor read twice.
    """
    where = []
    if since_ns is not None:
        where.append(f"`Timestamp` > fromUnixTimestamp64Nano(toInt64({int(since_ns)}))")
    if after is not None:
        ts, trace, span = after
        where.append(
            "(toUnixTimestamp64Nano(`Timestamp`), `TraceId`, `SpanId`)"
            f" > (toInt64({int(ts)}), {quote(trace)}, {quote(span)})"
        )
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {_fetch_columns(present)} FROM {table.sql}{clause} "
        f"ORDER BY toUnixTimestamp64Nano(`Timestamp`), `TraceId`, `SpanId` LIMIT {int(limit)}"
    )
