"""HALO JSONL lines straight to span columns, a block at a time: the index build's hot path.

`spans.fields_from_object` reads one span object into one tuple, with a dozen
lookups and branches per span. Here a block of lines is parsed, then each field
is read for the whole block with C-level passes (`map` over `dict.get` and
`itemgetter`, `set(map(type, ...))` checks, `str.join` + numpy for times), and
only rows whose values are unusual go through the per-span rules (the same
functions `fields_from_object` uses). A block with a line that is not a span
(bad JSON, no ids, an unreadable time...) gives None: the caller reads it line by
line with `fields_from_object`, so malformed lines are reported exactly alike.

Every value equals what `fields_from_object` gives for the same line.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from engine.traces.model import SpanStatus
from engine.traces.readers._values import MINUTE_CACHE, iso_column_ns, parent_id_of, to_ns
from engine.traces.readers.halo.decode import decode_block
from engine.traces.readers.halo.spans import STATUS_BY_CODE, service_of
from engine.traces.semconv.columns import read_fields_columns

__all__ = ["BLOCK_LINES", "columns_from_lines"]

# Lines per block: small enough that a block's objects are still in the CPU cache
# when its columns are read, big enough to amortise the per-block passes.
BLOCK_LINES = 512

_TOP = itemgetter("trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "status", "resource",
                  "attributes")  # fmt: skip
_TOP_KEYS = ("trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "status", "resource",
             "attributes")  # fmt: skip
# map(_get, dicts, repeat(key)): the fastest C-level `d.get(key)` over many dicts
_get: Callable[[Any, str], Any] = dict.get
_NONE = type(None)
_DICT, _STR = {dict}, {str}
_STR_NONE = frozenset((str, _NONE))
# parent ids that mean "no parent" among texts (what `parent_id_of` makes of them)
_NO_PARENT_TEXT: dict[Any, None] = {"": None, "None": None}
_UNSET = SpanStatus.UNSET
_EMPTY: dict[str, Any] = {}
_INT64 = (-(2**63), 2**63 - 1)


class _LineByLine(Exception):
    """This block holds a line the per-span reader must report."""


def columns_from_lines(lines: list[bytes], first_line: int) -> list[Any] | None:
    """The spans of `lines` as columns in `Span` field order, or None when a line is not a clean span.

    `start_ns` and `end_ns` come as int64 arrays; the other columns as lists
    (or tuples). `first_line` is the line number of `lines[0]`.
    """
    if not lines:
        return None
    try:
        return _columns(lines, first_line)
    except (_LineByLine, orjson.JSONDecodeError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _columns(lines: list[bytes], first_line: int) -> list[Any]:
    n = len(lines)
    typed = decode_block(lines)
    if typed is not None:
        trace_id, span_id, parent, name, start, end, codes, messages, services, attrs, events = typed
        statuses, messages = _statuses_of(codes, messages, n)
    else:
        objs = list(map(orjson.loads, lines))
        try:  # a line that is no object raises TypeError here: not a span
            trace_id, span_id, parent, name, start, end, status_obj, resource, attrs = zip(
                *map(_TOP, objs), strict=True
            )
        except KeyError:  # some span leaves a field out: read each field on its own
            trace_id, span_id, parent, name, start, end, status_obj, resource, attrs = (
                tuple(map(_get, objs, repeat(key, n))) for key in _TOP_KEYS
            )
        statuses, messages = _statuses(status_obj, n)
        services = _services(resource, n)
        events = list(map(_get, objs, repeat("events", n)))
    start_ns, end_ns = _start_end(start, end, n)
    if not (all(trace_id) and all(span_id)):
        raise _LineByLine  # missing ids: malformed
    if typed is not None:  # msgspec checked the types: ids are texts now, the rest text, dict or None
        if "" in parent or "None" in parent:
            parent = list(map(_NO_PARENT_TEXT.get, parent, parent))
        if None in attrs:
            attrs = list(map(_attributes, attrs))
        if None in name:
            name = list(map(_name, name))
    else:
        trace_id, span_id, parent, attrs, name = _checked(trace_id, span_id, parent, attrs, name)
    kind, model, tin, tout, cost, tool, args, agent, out_err, offered, requested, refusal, exception = (
        read_fields_columns(attrs, name, statuses, events)
    )
    line = np.arange(first_line, first_line + n, dtype=np.int64)
    return [
        trace_id, span_id, parent, name, kind, statuses, messages, start_ns, end_ns, services, model, tin, tout,
        cost, tool, args, agent, lines, line, out_err, offered, requested, refusal, exception,
    ]  # fmt: skip


def _checked(trace_id: Any, span_id: Any, parent: Any, attrs: Any, name: Any) -> tuple[Any, ...]:
    """orjson's values as the typed path has them: ids and names as text, attributes as dicts."""
    if set(map(type, trace_id)) != _STR:
        trace_id = list(map(str, trace_id))
    if set(map(type, span_id)) != _STR:
        span_id = list(map(str, span_id))
    if _STR_NONE.issuperset(map(type, parent)):
        if "" in parent or "None" in parent:
            parent = list(map(_NO_PARENT_TEXT.get, parent, parent))
    else:
        parent = list(map(_parent, parent))
    if set(map(type, attrs)) != _DICT:
        attrs = list(map(_attributes, attrs))
    if set(map(type, name)) != _STR:
        name = list(map(_name, name))
    return trace_id, span_id, parent, attrs, name


def _parent(value: Any) -> str | None:
    if value is not None and (value == "" or type(value) is not str or value == "None"):
        return parent_id_of(value)
    return value


def _attributes(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    if value is not None:
        raise _LineByLine  # "attributes is not an object"
    return _EMPTY


def _statuses(status_obj: Any, n: int) -> tuple[list[SpanStatus], list[str]]:
    try:  # dict.get refuses anything but a dict (orjson makes no dict subclasses)
        codes = list(map(_get, status_obj, repeat("code", n)))
        messages = list(map(_get, status_obj, repeat("message", n)))
    except TypeError:
        pairs = list(map(_status, status_obj))
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return _statuses_of(codes, messages, n)


def _statuses_of(codes: list[Any], messages: list[Any], n: int) -> tuple[list[SpanStatus], list[str]]:
    """Statuses and messages from the codes and messages read (None where absent)."""
    statuses = list(map(STATUS_BY_CODE.get, codes, repeat(_UNSET, n)))
    if set(map(type, messages)) != _STR:
        messages = list(map(_text, messages))
    return statuses, messages


def _status(value: Any) -> tuple[SpanStatus, str]:
    if type(value) is dict:
        return STATUS_BY_CODE.get(value.get("code"), _UNSET), _text(value.get("message"))
    return _UNSET, ""


def _text(value: Any) -> str:
    """A status message or span name: "" when missing or empty, else its text."""
    value = value or ""
    return value if type(value) is str else str(value)


_name = _text


def _services(resource: Any, n: int) -> list[str | None]:
    try:  # dict.get refuses anything but a dict (orjson makes no dict subclasses)
        services = list(map(_get, map(_get, resource, repeat("attributes", n)), repeat("service.name", n)))
    except TypeError:
        return list(map(service_of, resource))
    if _STR_NONE.issuperset(map(type, services)):
        return services
    return list(map(service_of, resource))


def _start_end(start: Any, end: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ns of the start and end times (int64; 0 when beyond int64), by numpy where the texts allow."""
    read = iso_column_ns(start + end)  # both columns in one pass when they share a form
    if read is not None:
        ns, ok = read
        if ok.all():
            return ns[:n], ns[n:]
        start_ns = _times(start, "start_time", None, ns[:n], ok[:n])
        return start_ns, _times(end, "end_time", start_ns, ns[n:], ok[n:])
    start_ns = _times(start, "start_time", None, *(iso_column_ns(start) or (None, None)))
    return start_ns, _times(end, "end_time", start_ns, *(iso_column_ns(end) or (None, None)))


def _times(
    values: Any, field: str, default: np.ndarray | None, ns: np.ndarray | None, ok: np.ndarray | None
) -> np.ndarray:
    """A time column: `ns` where `ok`, the per-span rule for the other rows (`default` when None)."""
    rows: range | list[int]
    if ns is None or ok is None:
        out, rows = np.zeros(len(values), dtype=np.int64), range(len(values))
    else:
        out, rows = ns, np.flatnonzero(~ok).tolist()
    for i in rows:
        t = values[i]
        if t is None and default is not None:
            out[i] = default[i]
            continue
        value = _time_ns(t, field)
        out[i] = value if _INT64[0] <= value <= _INT64[1] else 0
    return out


def _time_ns(t: Any, field: str) -> int:
    """`fields_from_object`'s rule for one time value (raises ValueProblem when it is not a time)."""
    if type(t) is str and len(t) == 30 and t[29] == "Z" and t[19] == "." and t[16] == ":" and (
        (minute := MINUTE_CACHE.get(t[:16])) is not None) and (sec := t[17:19]).isdecimal():  # fmt: skip
        return minute + int(sec) * 1_000_000_000 + int(t[20:29])
    return to_ns(t, field)

