"""OpenInference spans exported nested (Patronus / TRAIL): `{"trace_id", "spans": [{..., "child_spans": [...]}]}`.

Each span: `timestamp` (ISO start), `duration` (ISO-8601 duration, no end time),
`trace_id`, `span_id`, `parent_span_id` (`"None"` on roots), `span_name`,
`service_name`, `status_code` (`Ok`/`Error`/`Unset`), `status_message`, and
`span_attributes` / `resource_attributes` / `events` / `links` / `logs`, which real
exports write as Python-repr strings (single quotes, `None`, `True`). Those are
read with `ast.literal_eval` (literals only, never `eval`); JSON objects work too.
`raw` is the span without `child_spans`, with the repr strings decoded.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from engine.traces.model import Span
from engine.traces.readers._build import dump_raw, make_span, status_of, text_or_none
from engine.traces.readers._shape import Shape
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem, hex_id, iso_duration_ns, parent_id_of, to_ns

__all__ = ["SHAPE", "REPR_FIELDS", "MAX_DEPTH", "decode_repr", "spans_from_value"]

# Fields that Patronus exports as Python-repr strings.
REPR_FIELDS = ("span_attributes", "resource_attributes", "events", "links", "logs")
_REPR_FIELDS = frozenset(REPR_FIELDS)
# Deeper nesting than this is reported, not followed (a cycle or a broken export).
MAX_DEPTH = 1000
_RECORD_ERRORS = RECORD_ERRORS
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def decode_repr(value: Any) -> Any:
    """A Python-repr string (`"{'a': None}"`) as the value it spells; anything else as is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return ast.literal_eval(value)
        except _LITERAL_ERRORS:
            return value  # left as text: still searchable in raw
    return value


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """Every span of a trace document (or a list of them, or one span tree), parents first."""
    if isinstance(value, list):
        roots = value
    elif isinstance(value, dict) and "child_spans" not in value and isinstance(value.get("spans"), list):
        roots = value["spans"]
    elif isinstance(value, dict):
        roots = [value]
    else:
        raise ValueProblem(f"expected a trace or span object, got {type(value).__name__}")
    stack: list[tuple[Any, int]] = [(root, 0) for root in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict) and "spans" in node and "span_id" not in node:
            stack.extend((child, depth) for child in reversed(node["spans"] or ()))  # a list of trace documents
            continue
        at = line if locate is None or not isinstance(node, dict) else locate("span_id", node.get("span_id"), line)
        if not isinstance(node, dict):
            yield BadRecord(f"expected a span object, got {type(node).__name__}", sample_of(dump_raw(node)), at)
            continue
        children = node.get("child_spans") or ()
        if depth >= MAX_DEPTH:
            yield BadRecord(f"span nesting deeper than {MAX_DEPTH}: children not read", sample_of(dump_raw(node)), at)
            children = ()
        try:
            yield _span(node, at)
        except _RECORD_ERRORS as exc:
            own = {k: v for k, v in node.items() if k != "child_spans"}
            yield BadRecord(str(exc), sample_of(dump_raw(own)), at)
        if isinstance(children, list):
            stack.extend((child, depth + 1) for child in reversed(children))


def _span(node: dict[str, Any], line: int) -> Span:
    own = dict(node)  # the span without its children, repr strings decoded, keys in their order
    own.pop("child_spans", None)
    for key in _REPR_FIELDS.intersection(own):
        own[key] = decode_repr(own[key])
    trace_id, span_id = own.get("trace_id"), own.get("span_id")
    if not trace_id or not span_id:
        raise ValueProblem("span without trace_id or span_id")
    attrs = own.get("span_attributes")
    if not isinstance(attrs, dict):
        attrs = {}
    resource = own.get("resource_attributes")
    service = own.get("service_name") or (resource.get("service.name") if isinstance(resource, dict) else None)
    start = to_ns(own.get("timestamp"), "timestamp")
    duration = own.get("duration")
    if isinstance(duration, str) and duration:
        end = start + iso_duration_ns(duration)
    elif isinstance(duration, (int, float)):
        end = start + int(duration)  # numbers are taken as ns
    else:
        end = start
    events = own.get("events")
    return make_span(
        hex_id(trace_id, 32), hex_id(span_id, 16), parent_id_of(own.get("parent_span_id")),
        str(own.get("span_name") or own.get("name") or ""), status_of(own.get("status_code")),
        text_or_none(own.get("status_message")) or "", start, end, text_or_none(service), attrs,
        events if isinstance(events, list) else None, dump_raw(own), line,
    )  # fmt: skip


def _claims(record: dict[str, Any]) -> bool:
    return "child_spans" in record or "span_attributes" in record


SHAPE = Shape(
    name="openinference_nested",
    summary="OpenInference spans nested in `child_spans`, e.g. Patronus / TRAIL exports",
    claims=_claims,
    sniff=re.compile(r'"child_spans"\s*:|"span_attributes"\s*:'),
    priority=30,
    spans_from_value=spans_from_value,
)
