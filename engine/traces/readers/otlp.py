"""OTLP/JSON: `ExportTraceServiceRequest` documents, as the Collector's file exporter writes them.

`{"resourceSpans": [{"resource": {"attributes": [...]}, "scopeSpans": [{"scope": {...},
"spans": [...]}]}]}`, one request per line or one (pretty) document. Both spellings
of the same data are accepted: the OTLP spec's (hex ids, enum integers) and the
protobuf JSON mapping's (base64 ids, enum names, 64-bit ints as strings), in
lowerCamelCase or the proto field names. Attributes are `[{"key", "value":
AnyValue}]` lists and are flattened for the semantic fields; `raw` keeps the span
as written plus its `resource` and `scope`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from engine.traces.model import Span
from engine.traces.readers._build import dump_raw, make_span, status_of, text_or_none
from engine.traces.readers._shape import Shape
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem, hex_id, parent_id_of, to_ns

__all__ = ["SHAPE", "spans_from_value", "flatten_attributes", "any_value"]

_RECORD_ERRORS = RECORD_ERRORS


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a plain value: ints from their string form, arrays and kvlists unpacked."""
    if not isinstance(value, dict):
        return value
    for key, inner in value.items():
        if key in ("stringValue", "string_value", "boolValue", "bool_value", "bytesValue", "bytes_value"):
            return inner
        if key in ("intValue", "int_value"):
            return int(inner)
        if key in ("doubleValue", "double_value"):
            return float(inner)
        if key in ("arrayValue", "array_value"):
            return [any_value(v) for v in (inner or {}).get("values") or ()]
        if key in ("kvlistValue", "kvlist_value"):
            return flatten_attributes((inner or {}).get("values"))
    return None  # an empty AnyValue


def flatten_attributes(items: Any) -> dict[str, Any]:
    """`[{"key", "value": AnyValue}]` as `{key: value}` (a dict passes through)."""
    if isinstance(items, dict):
        return items
    out: dict[str, Any] = {}
    for kv in items or ():
        if isinstance(kv, dict) and "key" in kv:
            value = kv.get("value")
            # The usual AnyValue, {"stringValue": text}, read here: a call per attribute is the cost otherwise.
            if type(value) is dict and "stringValue" in value and len(value) == 1:
                out[kv["key"]] = value["stringValue"]
            else:
                out[kv["key"]] = any_value(value)
    return out


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _id_key(span: dict[str, Any]) -> tuple[str, Any]:
    return ("spanId", span["spanId"]) if "spanId" in span else ("span_id", span.get("span_id"))


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """Every span of one request (or of a JSON list of requests)."""
    if isinstance(value, list):
        for item in value:
            yield from spans_from_value(item, line, locate)
        return
    if not isinstance(value, dict):
        raise ValueProblem(f"expected an ExportTraceServiceRequest object, got {type(value).__name__}")
    resource_spans = _get(value, "resourceSpans", "resource_spans")
    if not isinstance(resource_spans, list):
        raise ValueProblem("no resourceSpans list: not an OTLP/JSON ExportTraceServiceRequest")
    for rs in resource_spans:
        if not isinstance(rs, dict):
            continue
        resource = rs.get("resource") or {}
        service = flatten_attributes(resource.get("attributes")).get("service.name")
        scope_spans = _get(rs, "scopeSpans", "scope_spans") or _get(
            rs, "instrumentationLibrarySpans", "instrumentation_library_spans"
        )  # the pre-1.0 name
        for ss in scope_spans or ():
            if not isinstance(ss, dict):
                continue
            scope = ss.get("scope") or _get(ss, "instrumentationLibrary", "instrumentation_library") or {}
            for span in ss.get("spans") or ():
                at = line if locate is None or not isinstance(span, dict) else locate(*_id_key(span), line)
                try:
                    yield _span(span, resource, scope, service, at)
                except _RECORD_ERRORS as exc:
                    yield BadRecord(str(exc), sample_of(dump_raw(span)), at)


def _span(span: Any, resource: Any, scope: Any, service: Any, line: int) -> Span:
    if not isinstance(span, dict):
        raise ValueProblem(f"expected a span object, got {type(span).__name__}")
    # `_get` written out (camelCase, else the proto name): five calls a span otherwise.
    get = span.get
    if (trace_id := get("traceId")) is None:
        trace_id = get("trace_id")
    if (span_id := get("spanId")) is None:
        span_id = get("span_id")
    if not trace_id or not span_id:
        raise ValueProblem("span without traceId or spanId")
    attrs = flatten_attributes(get("attributes"))
    events = [
        {"name": e.get("name"), "attributes": flatten_attributes(e.get("attributes"))}
        for e in get("events") or () if isinstance(e, dict)
    ]  # fmt: skip
    status = get("status") or {}
    if (start_value := get("startTimeUnixNano")) is None:
        start_value = get("start_time_unix_nano")
    start = to_ns(start_value, "startTimeUnixNano")
    if (end_value := get("endTimeUnixNano")) is None:
        end_value = get("end_time_unix_nano")
    if (parent := get("parentSpanId")) is None:
        parent = get("parent_span_id")
    raw = dump_raw({**span, "resource": resource, "scope": scope})
    return make_span(
        hex_id(trace_id, 32), hex_id(span_id, 16), parent_id_of(parent),
        str(span.get("name") or ""), status_of(status.get("code")), text_or_none(status.get("message")) or "",
        start, start if end_value in (None, "", 0, "0") else to_ns(end_value, "endTimeUnixNano"),
        text_or_none(service), attrs, events, raw, line,
    )  # fmt: skip


def _claims(record: dict[str, Any]) -> bool:
    return "resourceSpans" in record or "resource_spans" in record


SHAPE = Shape(
    name="otlp",
    summary="OTLP/JSON ExportTraceServiceRequest with `resourceSpans`, as the OpenTelemetry Collector file "
    "exporter writes it, one per line or one document",
    claims=_claims,
    sniff=re.compile(r'"resource_?[sS]pans"\s*:'),
    priority=10,
    spans_from_value=spans_from_value,
)
