"""An `otel_traces` table as the OpenTelemetry Collector's ClickHouse exporter makes it, filled from trace files.

The DDL below lists the exporter's columns with the exporter's types, in its
order (`exporter/clickhouseexporter/internal/sql_templates/traces_table.sql`
of opentelemetry-collector-contrib; indexes, partitioning and ordering as there,
TTL left out). Rows are written the way the exporter writes them: attribute
values as strings (ints and floats in decimal, booleans `true`/`false`, arrays
and maps as JSON), Duration in ns, status and kind in the `STATUS_CODE_*` /
`SPAN_KIND_*` spelling, the scope also in `otel.scope.name` / `otel.scope.version`
attributes as older exporter versions put it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

__all__ = ["DDL", "chdb_and_file", "create_table", "exporter_rows", "filled_chdb", "halo_lines", "insert_rows"]

DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1
"""


def create_table(session: Any, database: str = "otel", table: str = "otel_traces") -> None:
    session.query(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    session.query(DDL.format(table=f"`{database}`.`{table}`"))


def as_string(value: Any) -> str:
    """An attribute value as the exporter stores it (pcommon.Value.AsString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text.removesuffix(".0") if text.endswith(".0") else text
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _strings(attrs: dict[str, Any] | None) -> dict[str, str]:
    return {k: as_string(v) for k, v in (attrs or {}).items() if v is not None}


def _halo_spans(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        for line in path.read_bytes().splitlines():
            if line.strip():
                yield orjson.loads(line)


def _ns(text: str) -> int:
    from engine.traces.readers._values import iso_to_ns

    return iso_to_ns(text)


def exporter_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The exporter's rows (JSONEachRow objects, times as epoch ns) for the HALO spans in `paths`."""
    rows = []
    for span in _halo_spans(paths):
        start, end = _ns(span["start_time"]), _ns(span["end_time"])
        scope = span.get("scope") or {}
        attrs = _strings(span.get("attributes"))
        if scope.get("name"):
            attrs["otel.scope.name"] = scope["name"]
        if scope.get("version"):
            attrs["otel.scope.version"] = scope["version"]
        resource = _strings((span.get("resource") or {}).get("attributes"))
        events = span.get("events") or []
        rows.append({
            "Timestamp": start, "TraceId": span["trace_id"], "SpanId": span["span_id"],
            "ParentSpanId": span.get("parent_span_id") or "", "TraceState": span.get("trace_state") or "",
            "SpanName": span["name"], "SpanKind": span.get("kind") or "SPAN_KIND_UNSPECIFIED",
            "ServiceName": resource.get("service.name", ""), "ResourceAttributes": resource,
            "ScopeName": scope.get("name") or "", "ScopeVersion": scope.get("version") or "",
            "SpanAttributes": attrs, "Duration": max(0, end - start),
            "StatusCode": (span.get("status") or {}).get("code") or "STATUS_CODE_UNSET",
            "StatusMessage": (span.get("status") or {}).get("message") or "",
            "Events.Timestamp": [_ns(e["timestamp"]) for e in events if "timestamp" in e],
            "Events.Name": [e.get("name", "") for e in events if "timestamp" in e],
            "Events.Attributes": [_strings(e.get("attributes")) for e in events if "timestamp" in e],
            "Links.TraceId": [], "Links.SpanId": [], "Links.TraceState": [], "Links.Attributes": [],
        })  # fmt: skip
    return rows


def insert_rows(session: Any, rows: list[dict[str, Any]], database: str = "otel", table: str = "otel_traces") -> None:
    """INSERT the rows (times sent as ISO-8601 UTC with all nine digits)."""
    from engine.sources.clickhouse import iso

    def wire(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "Timestamp": iso(r["Timestamp"]), "Events.Timestamp": [iso(t) for t in r["Events.Timestamp"]]}

    body = b"\n".join(orjson.dumps(wire(r)) for r in rows).decode()
    session.query(
        f"INSERT INTO `{database}`.`{table}` SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n{body}"
    )


def halo_lines(rows: list[dict[str, Any]]) -> bytes:
    """The same spans as a HALO JSONL file, attributes as the strings the table holds (`the same spans in a file`)."""
    from engine.sources.clickhouse import span_record

    out = []
    for r in rows:
        row = [
            r["Timestamp"], r["TraceId"], r["SpanId"], r["ParentSpanId"], r["TraceState"], r["SpanName"],
            r["SpanKind"], r["ServiceName"], r["Duration"], r["StatusCode"], r["StatusMessage"],
            r["SpanAttributes"], r["ResourceAttributes"], r["ScopeName"], r["ScopeVersion"],
            r["Events.Timestamp"], r["Events.Name"], r["Events.Attributes"],
        ]  # fmt: skip
        out.append(orjson.dumps(span_record(row)) + b"\n")
    return b"".join(out)


def filled_chdb(path: Path, rows: list[dict[str, Any]]) -> str:
    """A chDB database at `path` holding `rows` in the exporter's table; its chdb:// URL."""
    from engine.sources import clickhouse

    path.mkdir(parents=True, exist_ok=True)
    with clickhouse.chdb_session(path) as session:
        create_table(session)
        insert_rows(session, rows)
    return f"chdb://{path}?database=otel"


def chdb_and_file(tmp: Path, rows: list[dict[str, Any]]) -> tuple[str, Path]:
    """(a chdb:// URL of a database holding `rows` in the exporter's table, a HALO file of the same spans)."""
    url = filled_chdb(tmp / "db", rows)
    (tmp / "same.jsonl").write_bytes(halo_lines(rows))
    return url, tmp / "same.jsonl"
