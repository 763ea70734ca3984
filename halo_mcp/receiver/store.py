"""Spans stored once: a retried export does not store its spans a second time.

OTLP exporters retry an export whose answer they did not get, so a receiver
killed after storing a batch but before answering receives that batch again
once restarted. The store remembers the (trace id, span id) of the last
`DEDUPE_WINDOW_SPANS` spans it stored, seeded at start from the tail of the
newest files in the directory, and drops a span it already holds (answered as
accepted: it is stored). Exporters retry within seconds, so a bounded window of
recent spans is enough; older duplicates are left to the index, which reports
them as duplicate span ids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from halo_mcp.receiver.limits import DEDUPE_WINDOW_SPANS, ROTATE_BYTES, SEED_TAIL_BYTES
from halo_mcp.receiver.payload import to_line
from halo_mcp.receiver.sink import JsonlSink

__all__ = ["Stored", "SpanStore"]

_Key = bytes  # 16-byte trace id + 8-byte span id


@dataclass(frozen=True)
class Stored:
    """What one `put` did: spans written, and spans dropped because they were already stored."""

    written: int
    duplicates: int


class SpanStore:
    """The sink behind a window of recently stored span ids, one lock around both."""

    def __init__(
        self, directory: Path, rotate_bytes: int = ROTATE_BYTES, window: int = DEDUPE_WINDOW_SPANS
    ) -> None:
        self.sink = JsonlSink(directory, rotate_bytes)
        self.window = window
        self._recent: OrderedDict[_Key, None] = OrderedDict()
        self._lock = threading.Lock()
        for key in _tail_keys(directory, SEED_TAIL_BYTES):
            self._remember(key)

    def put(self, request: ExportTraceServiceRequest) -> Stored:
        """Store the spans of `request` not stored before (the request is trimmed in place)."""
        with self._lock:
            keys: dict[_Key, None] = {}  # this request's new keys, in order
            duplicates = 0
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    fresh = []
                    for span in ss.spans:
                        key = bytes(span.trace_id) + bytes(span.span_id)
                        if key in self._recent or key in keys:
                            continue
                        fresh.append(span)
                        keys[key] = None
                    if len(fresh) != len(ss.spans):
                        duplicates += len(ss.spans) - len(fresh)
                        del ss.spans[:]
                        ss.spans.extend(fresh)
            if keys:
                self.sink.append(to_line(request))
                for key in keys:
                    self._remember(key)
            return Stored(len(keys), duplicates)

    def close(self) -> None:
        self.sink.close()

    def _remember(self, key: _Key) -> None:
        self._recent[key] = None
        if len(self._recent) > self.window:
            self._recent.popitem(last=False)


def _tail_keys(directory: Path, budget: int) -> list[_Key]:
    """The span keys in the last `budget` bytes of the directory's newest `otlp-*.jsonl` files, oldest first."""
    files = sorted(directory.glob("otlp-*.jsonl"), key=lambda p: p.name, reverse=True)
    chunks: list[list[_Key]] = []
    for path in files:
        if budget <= 0:
            break
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                start = max(0, size - budget)
                f.seek(start)
                data = f.read(size - start)
        except OSError:
            continue
        budget -= len(data)
        lines = data.split(b"\n")
        if start:
            lines = lines[1:]  # began mid-line
        chunks.append([key for line in lines for key in _line_keys(line)])
    return [key for chunk in reversed(chunks) for key in chunk]


def _line_keys(line: bytes) -> list[_Key]:
    try:
        request: Any = orjson.loads(line)
        return [
            bytes.fromhex(span["traceId"]) + bytes.fromhex(span["spanId"])
            for rs in request["resourceSpans"]
            for ss in rs.get("scopeSpans") or ()
            for span in ss.get("spans") or ()
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return []  # a cut or foreign line: nothing to remember
