"""Real OpenTelemetry SDK spans (`ReadableSpan`) built from HALO JSONL lines.

For tests that send spans through the real OTLP exporter to a real server (Phoenix)
and read them back: the spans keep the lines' names, times, kinds, statuses,
resources, scopes and attributes; the 12-byte HALO span ids become 8-byte OTel ids
(the first 16 hex digits, which are unique in the fixtures).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

_KINDS = {
    "SPAN_KIND_INTERNAL": SpanKind.INTERNAL, "SPAN_KIND_CLIENT": SpanKind.CLIENT, "SPAN_KIND_SERVER": SpanKind.SERVER,
    "SPAN_KIND_PRODUCER": SpanKind.PRODUCER, "SPAN_KIND_CONSUMER": SpanKind.CONSUMER,
}
_CODES = {"STATUS_CODE_OK": StatusCode.OK, "STATUS_CODE_ERROR": StatusCode.ERROR}


def _ns(text: str) -> int:
    whole, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int((frac + "000000000")[:9])


def _context(trace_id: str, span_id: str, salt: int) -> SpanContext:
    ids = int(trace_id, 16) ^ salt, int(span_id[:16], 16) ^ salt
    return SpanContext(*ids, is_remote=False, trace_flags=TraceFlags(1))


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    """OTel attribute values: scalars and lists of scalars; None dropped, objects as JSON text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)) and not (
            isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value)
        ):
            value = json.dumps(value)
        out[key] = value
    return out


def spans_from_halo(path: Path, traces: int | None = None, salt: int = 0, **resource: str) -> list[ReadableSpan]:
    """The spans of the first `traces` traces of a HALO JSONL file (all when None); `salt`
    is XORed into every id (the same file sent twice as other spans: a server keeps a span
    id once); `resource` adds resource attributes (Phoenix files spans by
    `openinference.project.name`)."""
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    order = list(dict.fromkeys(line["trace_id"] for line in lines))
    keep = set(order if traces is None else order[:traces])
    spans = []
    for line in lines:
        if line["trace_id"] not in keep:
            continue
        parent = line.get("parent_span_id") or None
        status = line.get("status") or {}
        code = _CODES.get(status.get("code", ""), StatusCode.UNSET)
        scope = line.get("scope") or {}
        spans.append(ReadableSpan(
            name=line["name"],
            context=_context(line["trace_id"], line["span_id"], salt),
            parent=_context(line["trace_id"], parent, salt) if parent else None,
            resource=Resource.create({**_attributes((line.get("resource") or {}).get("attributes") or {}), **resource}),
            attributes=_attributes(line.get("attributes") or {}),
            kind=_KINDS.get(line.get("kind", ""), SpanKind.INTERNAL),
            instrumentation_scope=InstrumentationScope(scope.get("name") or "halo", scope.get("version")),
            status=Status(code, status.get("message") or None if code is StatusCode.ERROR else None),
            start_time=_ns(line["start_time"]),
            end_time=_ns(line["end_time"]),
        ))
    return spans
