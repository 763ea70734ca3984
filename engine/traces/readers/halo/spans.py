"""HALO / inference.net flat JSONL, one span object per line: the rules for one span.

`{"trace_id", "span_id", "parent_span_id", "name", "kind": "SPAN_KIND_*",
"start_time"/"end_time": ISO-8601 ns, "status": {"code": "STATUS_CODE_*", "message"},
"resource": {"attributes"}, "scope", "attributes": {...flat...}}`.

This is the hot path of indexing: one `orjson.loads` per line, direct dict
lookups, and `Span.raw` is the line's bytes as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from engine.traces.model import Span, SpanStatus
from engine.traces.readers._build import text_or_none
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import MINUTE_CACHE, ValueProblem, parent_id_of, to_ns
from engine.traces.semconv import read_fields

__all__ = [
    "STATUS_BY_CODE",
    "span_from_line",
    "span_from_object",
    "fields_from_object",
    "spans_from_value",
    "looks_like_halo",
    "service_of",
]

# OTLP status codes as HALO (and most OTel JSON dumps) spell them.
STATUS_BY_CODE: dict[Any, SpanStatus] = {
    "STATUS_CODE_OK": SpanStatus.OK, "STATUS_CODE_ERROR": SpanStatus.ERROR, "STATUS_CODE_UNSET": SpanStatus.UNSET,
    "OK": SpanStatus.OK, "ERROR": SpanStatus.ERROR, "UNSET": SpanStatus.UNSET,
    "ok": SpanStatus.OK, "error": SpanStatus.ERROR, "unset": SpanStatus.UNSET,
    "Ok": SpanStatus.OK, "Error": SpanStatus.ERROR, "Unset": SpanStatus.UNSET,
    0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR, None: SpanStatus.UNSET,
}  # fmt: skip
_EMPTY: dict[str, Any] = {}
_UNSET = SpanStatus.UNSET


def looks_like_halo(obj: dict[str, Any]) -> bool:
    """A flat span object: top-level ids plus times or attributes."""
    return "trace_id" in obj and "span_id" in obj and ("start_time" in obj or "attributes" in obj)


def span_from_line(data: bytes, line: int) -> Span:
    """One JSONL line to a Span; raises ValueProblem (or orjson.JSONDecodeError) when it is not one."""
    obj = orjson.loads(data)
    if type(obj) is not dict:
        raise ValueProblem(f"expected a JSON object per line, got {type(obj).__name__}")
    return span_from_object(obj, data, line)


def span_from_object(obj: dict[str, Any], raw: bytes, line: int) -> Span:
    return Span(*fields_from_object(obj, raw, line))


def fields_from_object(obj: dict[str, Any], raw: bytes, line: int) -> tuple[Any, ...]:
    """A span object's `Span` fields as a plain tuple in `Span` field order.

    The index's HALO fast path collects these tuples straight into columns,
    without making a `Span` per line; raises ValueProblem like `span_from_object`.
    """
    trace_id = obj.get("trace_id")
    span_id = obj.get("span_id")
    if not trace_id or not span_id:
        raise ValueProblem("missing trace_id or span_id" if looks_like_halo(obj) or obj else "empty object")
    if type(trace_id) is not str or type(span_id) is not str:
        trace_id, span_id = str(trace_id), str(span_id)
    parent = obj.get("parent_span_id")
    if parent is not None and (parent == "" or type(parent) is not str or parent == "None"):
        parent = parent_id_of(parent)
    attrs = obj.get("attributes")
    if type(attrs) is not dict:
        if attrs is not None:
            raise ValueProblem("attributes is not an object")
        attrs = _EMPTY
    status_obj = obj.get("status")
    if type(status_obj) is dict:
        status = STATUS_BY_CODE.get(status_obj.get("code"), _UNSET)
        message = status_obj.get("message") or ""
        if type(message) is not str:
            message = str(message)
    else:
        status, message = _UNSET, ""
    service = service_of(obj.get("resource"))
    name = obj.get("name") or ""
    if type(name) is not str:
        name = str(name)
    # Times: the `...SS.fffffffffZ` form through the per-minute cache, inline; the rest via to_ns.
    t = obj.get("start_time")
    if type(t) is str and len(t) == 30 and t[29] == "Z" and t[19] == "." and t[16] == ":" and (
        (minute := MINUTE_CACHE.get(t[:16])) is not None) and (sec := t[17:19]).isdecimal():
        start = minute + int(sec) * 1_000_000_000 + int(t[20:29])
    else:
        start = to_ns(t, "start_time")
    t = obj.get("end_time")
    if type(t) is str and len(t) == 30 and t[29] == "Z" and t[19] == "." and t[16] == ":" and (
        (minute := MINUTE_CACHE.get(t[:16])) is not None) and (sec := t[17:19]).isdecimal():
        end = minute + int(sec) * 1_000_000_000 + int(t[20:29])
    else:
        end = start if t is None else to_ns(t, "end_time")
    events = obj.get("events")
    kind, model, tin, tout, cost, tool, args, agent, out_err, offered, requested, refusal, exc = read_fields(
        attrs, name, status, events if type(events) is list else None
    )
    return (
        trace_id, span_id, parent, name, kind, status, message, start, end, service, model, tin, tout, cost,
        tool, args, agent, raw, line, out_err, offered, requested, refusal, exc,
    )  # fmt: skip


def service_of(resource: Any) -> str | None:
    """`resource.attributes["service.name"]`; a number or an object gives its text, like the other shapes."""
    service = None
    if type(resource) is dict:
        rattrs = resource.get("attributes")
        if type(rattrs) is dict:
            service = rattrs.get("service.name")
            if type(service) is not str and service is not None:
                service = text_or_none(service)
    return service


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """HALO objects outside JSONL: a JSON list of span objects, or one object (pretty-printed)."""
    items = value if isinstance(value, list) else [value]
    for obj in items:
        at = line if locate is None or not isinstance(obj, dict) else locate("span_id", obj.get("span_id"), line)
        if not isinstance(obj, dict):
            yield BadRecord(f"expected a span object, got {type(obj).__name__}", sample_of(orjson.dumps(obj)), at)
            continue
        try:
            yield span_from_object(obj, orjson.dumps(obj), at)
        except (ValueError, TypeError, AttributeError) as exc:
            yield BadRecord(str(exc), sample_of(orjson.dumps(obj)), at)
