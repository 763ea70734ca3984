"""ClickHouse as a trace source: the OpenTelemetry Collector exporter's `otel_traces` table.

Two ways in, one SQL (`otel_traces` builds every statement):

- `chdb:///PATH[?database=default&table=otel_traces]`: a chDB (embedded ClickHouse)
  database directory, opened in this process for the length of one operation
  (chDB lets one process at a time hold a directory, and one directory per process);
- `clickhouse://HOST[:PORT]/DATABASE[?table=otel_traces&secure=1]`: a server, over
  its HTTP interface with `clickhouse-connect`; the user and password come from
  $CLICKHOUSE_USER / $CLICKHOUSE_PASSWORD, never from the URL.

`fetch` copies the spans newer than `since_ns` into one HALO JSONL file per fetch
(one span per line, attributes kept as the strings the exporter stored), read in
batches of `FETCH_BATCH_SPANS`, at most `FETCH_MAX_SPANS` per fetch; past that the
copy is reported incomplete and the next open continues where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import orjson

from engine.errors import SourceError
from engine.sources import otel_traces as q
from engine.sources.base import Fetched, SourceURL
from engine.sources.chdb_sessions import chdb_session, error_line

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_PORT",
    "DEFAULT_TABLE",
    "FETCH_BATCH_SPANS",
    "FETCH_MAX_SPANS",
    "PASSWORD_ENV",
    "QUERY_TIMEOUT_S",
    "USER_ENV",
    "Client",
    "chdb_session",
    "connect",
    "fetch",
    "span_record",
    "table_of",
]

# Rows per SELECT of a fetch (and per file written): bounded memory whatever the table's size.
FETCH_BATCH_SPANS = 20_000
# Spans one fetch copies at most; past it the copy is incomplete and the next open continues.
FETCH_MAX_SPANS = 2_000_000
# Seconds to wait for a ClickHouse server to accept the connection, and for one statement's answer.
CONNECT_TIMEOUT_S = 10
QUERY_TIMEOUT_S = 300
USER_ENV = "CLICKHOUSE_USER"
PASSWORD_ENV = "CLICKHOUSE_PASSWORD"
DEFAULT_TABLE = "otel_traces"
DEFAULT_DATABASE = "default"
# The HTTP interface's port when the URL names none (8443 with ?secure=1).
DEFAULT_PORT = 8123

_KINDS = {
    "Unspecified": "SPAN_KIND_UNSPECIFIED", "Internal": "SPAN_KIND_INTERNAL", "Server": "SPAN_KIND_SERVER",
    "Client": "SPAN_KIND_CLIENT", "Producer": "SPAN_KIND_PRODUCER", "Consumer": "SPAN_KIND_CONSUMER",
}  # fmt: skip
_CODES = {"Unset": "STATUS_CODE_UNSET", "Ok": "STATUS_CODE_OK", "Error": "STATUS_CODE_ERROR"}


class Client(Protocol):
    """What the engine needs of a connection: run one statement, get its rows (JSON values)."""

    def rows(self, sql: str) -> list[list[Any]]: ...


def table_of(url: SourceURL) -> q.Table:
    """The database and table a URL names (`?table=` may be `db.table`)."""
    if url.scheme == "clickhouse":
        database = url.path.strip("/") or DEFAULT_DATABASE
    else:
        database = url.query.get("database", DEFAULT_DATABASE)
    table = url.query.get("table", DEFAULT_TABLE)
    if "." in table:
        database, table = table.split(".", 1)
    try:
        return q.Table(database, table)
    except ValueError as exc:
        raise SourceError(f"{url.display}: {exc}") from None


def _chdb_path(url: SourceURL) -> Path:
    text = url.host + url.path if url.host else url.path
    if not text:
        raise SourceError(f"{url.display}: name the chDB directory, as chdb:///PATH")
    path = Path(text).expanduser()
    if not path.is_dir():
        raise SourceError(f"{url.display}: no chDB database directory at {path}")
    return path


def _parse(display: str, data: bytes) -> list[list[Any]]:
    try:
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{display}: an answer was not JSONCompactEachRow: {exc}") from None


class _Chdb:
    def __init__(self, display: str, session: Any) -> None:
        self.display, self.session = display, session

    def rows(self, sql: str) -> list[list[Any]]:
        try:
            result = self.session.query(sql, "JSONCompactEachRow")
        except Exception as exc:  # chdb raises ChdbError / RuntimeError with ClickHouse's message
            raise SourceError(f"{self.display}: ClickHouse refused a statement: {error_line(exc)}") from None
        return _parse(self.display, result.bytes())


class _Server:
    def __init__(self, display: str, client: Any) -> None:
        self.display, self.client = display, client

    def rows(self, sql: str) -> list[list[Any]]:
        try:
            data = self.client.raw_query(sql, fmt="JSONCompactEachRow")
        except Exception as exc:  # clickhouse-connect's DatabaseError / OperationalError
            raise SourceError(f"{self.display}: the server refused a statement: {error_line(exc)}") from None
        return _parse(self.display, bytes(data))


@contextmanager
def connect(url: SourceURL) -> Iterator[Client]:
    """A client for `url` for the block's length; SourceError naming the URL when it cannot connect."""
    if url.scheme == "chdb":
        with chdb_session(_chdb_path(url), url.display, keep=True) as session:
            yield _Chdb(url.display, session)
        return
    import clickhouse_connect  # the `clickhouse` extra

    secure = url.query.get("secure", "").lower() in ("1", "true", "yes")
    try:
        client = clickhouse_connect.get_client(
            host=url.host or "localhost",
            port=url.port or (8443 if secure else DEFAULT_PORT),
            username=os.environ.get(USER_ENV, "default"),
            password=os.environ.get(PASSWORD_ENV, ""),
            secure=secure,
            connect_timeout=CONNECT_TIMEOUT_S,
            send_receive_timeout=QUERY_TIMEOUT_S,
        )
    except Exception as exc:
        raise SourceError(
            f"{url.display}: cannot connect to the ClickHouse server: {error_line(exc)} "
            f"(credentials come from ${USER_ENV} / ${PASSWORD_ENV})"
        ) from None
    try:
        yield _Server(url.display, client)
    finally:
        client.close()


def check_schema(client: Client, url: SourceURL, table: q.Table) -> list[str]:
    """The table's columns; SourceError when it is absent or lacks a column the engine reads."""
    present = [str(row[0]) for row in client.rows(q.columns_sql(table))]
    if not present:
        raise SourceError(f"{url.display}: no table {table.database}.{table.table}")
    missing = [c for c in q.REQUIRED_COLUMNS if c not in present]
    if missing:
        raise SourceError(
            f"{url.display}: table {table.database}.{table.table} lacks the column(s) {', '.join(missing)} "
            "of the OpenTelemetry Collector ClickHouse exporter's schema"
        )
    return present


def iso(ns: int) -> str:
    """Epoch ns as `YYYY-MM-DDTHH:MM:SS.fffffffffZ` (the form the HALO reader parses fastest)."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:09d}Z"


def span_record(row: list[Any]) -> dict[str, Any]:
    """One fetched row (`otel_traces.FETCH_FIELDS`) as a HALO span object."""
    (ts, trace, span, parent, state, name, kind, service, duration, code, message,
     attrs, resource, scope_name, scope_version, ev_ts, ev_names, ev_attrs) = row  # fmt: skip
    start = int(ts)
    resource = dict(resource or {})
    if service and "service.name" not in resource:
        resource["service.name"] = service
    record: dict[str, Any] = {
        "trace_id": trace, "span_id": span, "parent_span_id": parent, "trace_state": state, "name": name,
        "kind": _KINDS.get(kind, kind), "start_time": iso(start), "end_time": iso(start + max(0, int(duration))),
        "status": {"code": _CODES.get(code, code), "message": message}, "resource": {"attributes": resource},
        "scope": {"name": scope_name, "version": scope_version}, "attributes": attrs or {},
    }  # fmt: skip
    if ev_names:
        record["events"] = [
            {"name": n, "timestamp": iso(int(t)), "attributes": a or {}}
            for t, n, a in zip(ev_ts, ev_names, ev_attrs or [{}] * len(ev_names), strict=False)
        ]
    return record


def fetch(url: SourceURL, dest: Path, since_ns: int | None) -> Fetched:
    """Copy the spans newer than `since_ns` into HALO JSONL files under `dest` (see the module docstring)."""
    table = table_of(url)
    out = Fetched()
    with connect(url) as client:
        present = check_schema(client, url, table)
        waiting = int(client.rows(q.count_sql(table, since_ns))[0][0])
        after: tuple[int, str, str] | None = None
        copied = 0
        # Every batch of one fetch goes to one file: a trace whose spans fall in two
        # batches stays one trace (the index counts a trace once per file it is in).
        path = dest / "spans.jsonl"
        with open(path, "wb") as spans:
            while True:
                limit = min(FETCH_BATCH_SPANS, FETCH_MAX_SPANS - copied)
                rows = client.rows(q.fetch_sql(table, present, since_ns, after, limit))
                last_batch = len(rows) < limit or copied + len(rows) >= FETCH_MAX_SPANS
                if last_batch and len(rows) == limit and copied + len(rows) < waiting:
                    rows = _whole_timestamps(rows)  # the next fetch starts after the newest kept timestamp
                if rows:
                    spans.write(b"".join(orjson.dumps(span_record(r)) + b"\n" for r in rows))
                    copied += len(rows)
                    last = rows[-1]
                    after = (int(last[0]), str(last[1]), str(last[2]))
                    out.newest_ns = int(last[0])
                if last_batch:
                    break
        if copied:
            out.files.append(path)
        else:
            path.unlink()
    if copied < waiting:
        out.complete = False
        out.note = (
            f"copied {copied:,} of the {waiting:,} spans waiting (at most {FETCH_MAX_SPANS:,} per fetch, "
            "FETCH_MAX_SPANS); the next open copies more"
        )
    return out


def _whole_timestamps(rows: list[list[Any]]) -> list[list[Any]]:
    """`rows` without the trailing ones sharing the last timestamp (unless that is all of them)."""
    last = int(rows[-1][0])
    keep = len(rows)
    while keep and int(rows[keep - 1][0]) == last:
        keep -= 1
    return rows[:keep] if keep else rows
