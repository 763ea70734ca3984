"""Shared by the non-HALO shape readers: raw bytes, status names, one Span from its parts."""

from __future__ import annotations

import json
from typing import Any

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.semconv import read_fields

__all__ = ["STATUS_BY_NAME", "dump_raw", "make_span", "status_of", "text_or_none"]

# Status codes as the shapes spell them: OTLP names and ints, SDK names, TRAIL's title case.
STATUS_BY_NAME: dict[Any, SpanStatus] = {
    "STATUS_CODE_UNSET": SpanStatus.UNSET, "STATUS_CODE_OK": SpanStatus.OK, "STATUS_CODE_ERROR": SpanStatus.ERROR,
    "UNSET": SpanStatus.UNSET, "OK": SpanStatus.OK, "ERROR": SpanStatus.ERROR,
    0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR, None: SpanStatus.UNSET,
}  # fmt: skip


def status_of(code: Any) -> SpanStatus:
    """A status from any spelling (`"Error"`, `"StatusCode.ERROR"`, `2`); unknown reads as UNSET."""
    found = STATUS_BY_NAME.get(code)
    if found is None and isinstance(code, str):
        found = STATUS_BY_NAME.get(code.rpartition(".")[2].upper())
    return found if found is not None else SpanStatus.UNSET


# What `json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))` builds per call.
_STDLIB_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def dump_raw(obj: Any) -> bytes:
    """A span object as JSON bytes; integers beyond 64 bits (any-agent ids) go through the stdlib."""
    try:
        return orjson.dumps(obj, default=str)
    except TypeError:
        return _STDLIB_ENCODER.encode(obj).encode()


def text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def make_span(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    status: SpanStatus,
    message: str,
    start_ns: int,
    end_ns: int,
    service: str | None,
    attrs: dict[str, Any],
    events: list[Any] | None,
    raw: bytes,
    line: int,
    kind: SpanKind | None = None,
) -> Span:
    """A Span from a shape's decoded fields plus the semantic fields its flat attributes give."""
    (kind, model, tin, tout, cost, tool, args, agent, out_err, offered, requested, refusal,
     exc) = read_fields(attrs, name, status, events, kind)  # fmt: skip
    return Span(
        trace_id, span_id, parent_id, name, kind, status, message, start_ns, end_ns, service, model, tin, tout,
        cost, tool, args, agent, raw, line, out_err, offered, requested, refusal, exc,
    )  # fmt: skip
