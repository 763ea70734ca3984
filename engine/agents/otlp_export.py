"""Send a run's own spans to an OTLP/HTTP collector (`--telemetry otlp://HOST:PORT`).

The target is written one of two ways (`endpoint_of`):

    otlp://HOST:PORT          POST http://HOST:PORT/v1/traces (OTLP/HTTP, protobuf)
    http(s)://HOST[:PORT]/…   POST to that URL exactly as given (e.g. …/v1/traces)

Spans are encoded with `opentelemetry-proto` (a main dependency; the SDK is not)
and posted with the standard library from one background thread, in batches of
up to `BATCH_SPANS`, so the run never waits on the network. A collector that is
down or slow costs the run at most `CLOSE_TIMEOUT_S` at its end: each request
gives up after `REQUEST_TIMEOUT_S`, a failed batch is dropped and counted, the
first failure is logged as a warning on stderr, and `close` says how many spans
were lost. `halo-mcp receive` is such a collector.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "OtlpExporter",
    "endpoint_of",
    "is_endpoint",
    "BATCH_SPANS",
    "MAX_QUEUED_SPANS",
    "REQUEST_TIMEOUT_S",
    "CLOSE_TIMEOUT_S",
    "FLUSH_INTERVAL_S",
]

log = logging.getLogger(__name__)

# Spans per export request.
BATCH_SPANS = 128
# Spans waiting to be sent; beyond this, new spans are dropped (and counted).
MAX_QUEUED_SPANS = 10_000
# Seconds one export request may take before it is given up (its spans dropped).
REQUEST_TIMEOUT_S = 2.0
# Seconds the end of a run waits for the last spans to be sent.
CLOSE_TIMEOUT_S = 3.0
# Seconds between exports while spans trickle in.
FLUSH_INTERVAL_S = 1.0
_SCHEMES = ("otlp://", "otlp+http://", "http://", "https://")
_KIND = {"SPAN_KIND_CLIENT": Span.SpanKind.SPAN_KIND_CLIENT, "SPAN_KIND_INTERNAL": Span.SpanKind.SPAN_KIND_INTERNAL}
_STOP = object()


def is_endpoint(target: str) -> bool:
    """Whether a `--telemetry` value names a collector rather than a file."""
    return target.lower().startswith(_SCHEMES)


def endpoint_of(target: str) -> str:
    """The URL to POST to; raises ValueError with a sentence when the target is unusable."""
    lowered = target.lower()
    if lowered.startswith(("otlp://", "otlp+http://")):
        rest = target.split("://", 1)[1].rstrip("/")
        parts = urlsplit(f"http://{rest}")
        if not parts.hostname or parts.port is None:
            raise ValueError(f"telemetry target {target!r} needs a host and a port: otlp://127.0.0.1:4318")
        path = parts.path if parts.path not in ("", "/") else "/v1/traces"
        return f"http://{parts.netloc}{path}"
    parts = urlsplit(target)
    if not parts.hostname:
        raise ValueError(f"telemetry target {target!r} has no host: write http://127.0.0.1:4318/v1/traces")
    return target


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value if isinstance(value, str) else str(value))


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in values.items() if v is not None]


def encode(spans: list[dict[str, Any]]) -> bytes:
    """An ExportTraceServiceRequest of spans in the telemetry's line shape (one resource, one scope)."""
    request = ExportTraceServiceRequest()
    if not spans:
        return bytes(request.SerializeToString())
    first = spans[0]
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(_attributes(first["resource"]["attributes"]))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = first["scope"]["name"]
    scope_spans.scope.version = first["scope"]["version"]
    for line in spans:
        span = scope_spans.spans.add()
        span.trace_id = bytes.fromhex(line["trace_id"])
        span.span_id = bytes.fromhex(line["span_id"])
        if line["parent_span_id"]:
            span.parent_span_id = bytes.fromhex(line["parent_span_id"])
        span.name = line["name"]
        span.kind = _KIND.get(line["kind"], Span.SpanKind.SPAN_KIND_INTERNAL)
        span.start_time_unix_nano = line["start_ns"]
        span.end_time_unix_nano = line["end_ns"]
        error = line["status"]["code"] == "STATUS_CODE_ERROR"
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK,
                                    message=line["status"]["message"]))  # fmt: skip
        span.attributes.extend(_attributes(line["attributes"]))
    return bytes(request.SerializeToString())


class OtlpExporter:
    """One run's spans, sent in the background; `close` at the end of the run."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.url = endpoint_of(target)
        self.sent = 0
        self.dropped = 0
        self.problem: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue(MAX_QUEUED_SPANS)
        self._thread = threading.Thread(target=self._pump, name="otlp-telemetry", daemon=True)
        self._thread.start()

    def add(self, span: dict[str, Any]) -> None:
        """Queue one ended span (never blocks: a full queue drops it)."""
        try:
            self._queue.put_nowait(span)
        except queue.Full:
            self._fail(f"more than {MAX_QUEUED_SPANS:,} spans waited to be sent", 1)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> str | None:
        """Send what is queued, waiting at most `timeout_s`; a sentence when spans were lost."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():  # still sending: what it has not sent is lost to this run
            self.dropped += self._queue.qsize()
            self.problem = self.problem or f"the collector did not take the spans within {timeout_s:g}s"
        if not self.dropped:
            return None
        message = (
            f"telemetry: {self.dropped} of {self.sent + self.dropped} spans could not be sent to {self.url} "
            f"({self.problem})"
        )
        log.warning("%s", message)
        return message

    def _fail(self, reason: str, n: int) -> None:
        if self.problem is None:
            log.warning("telemetry: spans to %s are being dropped: %s", self.url, reason)
            self.problem = reason
        self.dropped += n

    def _pump(self) -> None:
        batch: list[dict[str, Any]] = []
        done = False
        while not done:
            try:
                item = self._queue.get(timeout=FLUSH_INTERVAL_S)
            except queue.Empty:
                item = None
            if item is _STOP:
                done = True
            elif item is not None:
                batch.append(item)
                if len(batch) < BATCH_SPANS:
                    continue
            if batch:
                self._send(batch)
                batch = []

    def _send(self, batch: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            self.url, data=encode(batch), method="POST", headers={"Content-Type": "application/x-protobuf"}
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:  # the user's own URL
                response.read()
        except urllib.error.HTTPError as exc:
            self._fail(f"the collector answered HTTP {exc.code}", len(batch))
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self._fail(f"could not reach the collector: {reason}", len(batch))
        else:
            self.sent += len(batch)
