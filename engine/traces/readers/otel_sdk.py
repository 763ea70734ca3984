"""OTel Python SDK span dumps: `ConsoleSpanExporter` / `ReadableSpan.to_json()` output.

`{"name", "context": {"trace_id": "0x…", "span_id": "0x…"}, "kind": "SpanKind.INTERNAL",
"parent_id": "0x…" | null, "start_time"/"end_time": ISO, "status": {"status_code",
"description"}, "attributes": {...}, "events": [...], "resource": {"attributes"}}`,
written as concatenated pretty objects (the console exporter), a JSON list, or
JSONL. The any-agent variant wraps spans in `{"spans": [...], "final_output": ...}`,
writes ids as decimal integers (`parent` is a context object, not `parent_id`),
times as integer ns and status codes in lower case.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from engine.traces.model import Span
from engine.traces.readers._build import dump_raw, make_span, status_of, text_or_none
from engine.traces.readers._shape import Shape
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem, hex_id, parent_id_of, to_ns

__all__ = ["SHAPE", "loads", "spans_from_value"]

_RECORD_ERRORS = RECORD_ERRORS
# An integer of 20+ digits: beyond 64 bits, which orjson would turn into a float.
_BIG_INT = re.compile(rb"[:\[,]\s*-?\d{20,}\s*[,}\]]")
# Digits to "0", other bytes to " ": 20 digits in a row are then one `in` away (the regex
# above is slow where a pretty document has many commas and spaces).
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b < 58 else 32 for b in range(256))
_TWENTY_DIGITS = b"0" * 20


def loads(data: bytes) -> Any:
    """JSON that keeps 128-bit integer ids exact (any-agent writes trace ids as decimals)."""
    if _TWENTY_DIGITS in data.translate(_DIGITS_AS_ZEROS) and _BIG_INT.search(data):
        return _exact_loads(data)
    return orjson.loads(data)


def _exact_loads(data: bytes) -> Any:
    """`json.loads(data)`, by msgspec when it can tell: it keeps big integers exact too, at C speed.

    What msgspec refuses and json takes (NaN, a byte order mark, lone surrogates, other
    encodings) goes to json. Values nested about as deep as the recursion limit go to json
    too: there, json may fail a few levels before msgspec does.
    """
    if data.count(b"[") + data.count(b"{") < sys.getrecursionlimit() // 2:
        try:
            return msgspec.json.decode(data)
        except (msgspec.DecodeError, RecursionError):
            pass
    return json.loads(data)


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """Spans of one record: a span object, a list of them, or a `{"spans": [...]}` wrapper."""
    if isinstance(value, list):
        for item in value:
            yield from spans_from_value(item, line, locate)
        return
    if not isinstance(value, dict):
        raise ValueProblem(f"expected a span object, got {type(value).__name__}")
    if "context" not in value and isinstance(value.get("spans"), list):
        yield from spans_from_value(value["spans"], line, locate)
        return
    context = value.get("context")
    at = line if locate is None or not isinstance(context, dict) else locate("span_id", context.get("span_id"), line)
    try:
        yield _span(value, at)
    except _RECORD_ERRORS as exc:
        yield BadRecord(str(exc), sample_of(dump_raw(value)), at)


def _span(obj: dict[str, Any], line: int) -> Span:
    context = obj.get("context")
    if not isinstance(context, dict) or context.get("trace_id") in (None, "") or context.get("span_id") in (None, ""):
        raise ValueProblem("span without context.trace_id / context.span_id")
    if isinstance(context["trace_id"], float):
        raise ValueProblem("trace_id lost precision (a float): the record was not read with exact integers")
    parent = obj.get("parent_id")
    if parent is None and isinstance(obj.get("parent"), dict):
        parent = obj["parent"].get("span_id")
    status = obj.get("status") or {}
    attrs = obj.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ValueProblem("attributes is not an object")
    events = obj.get("events")
    resource = obj.get("resource") or {}
    resource_attrs = resource.get("attributes") if isinstance(resource, dict) else None
    service = resource_attrs.get("service.name") if isinstance(resource_attrs, dict) else None
    start = to_ns(obj.get("start_time"), "start_time")
    end_value = obj.get("end_time")
    return make_span(
        hex_id(context["trace_id"], 32), hex_id(context["span_id"], 16), parent_id_of(parent),
        str(obj.get("name") or ""), status_of(status.get("status_code")), text_or_none(status.get("description")) or "",
        start, start if end_value is None else to_ns(end_value, "end_time"), text_or_none(service), attrs,
        events if isinstance(events, list) else None, dump_raw(obj), line,
    )  # fmt: skip


def _claims(record: dict[str, Any]) -> bool:
    context = record.get("context")
    return isinstance(context, dict) and "span_id" in context


SHAPE = Shape(
    name="otel_sdk",
    summary="OTel Python SDK span dumps from ConsoleSpanExporter / span.to_json(): `context.trace_id`, JSON "
    'list, JSONL or concatenated objects, incl. any-agent `{"spans": [...]}`',
    claims=_claims,
    sniff=re.compile(r'"context"\s*:\s*\{\s*"trace_id"'),
    priority=40,
    spans_from_value=spans_from_value,
    loads=loads,
)
