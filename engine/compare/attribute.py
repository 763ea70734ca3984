"""Split one dataset in two by an attribute's value: service version, model, any span attribute.

A trace goes to the baseline when one of its spans carries `key` = the baseline
value and none the candidate value, and to the candidate the other way round;
traces with both values or neither are left out, and counted in a note. `model`
is the indexed model name of the model calls; any other key is looked up in the
span's raw JSON, at any depth, as a plain key (`"service.version": "0.2.0"`,
HALO, OpenInference and OTel-SDK dumps) or as an OTLP key/value pair
(`{"key": "service.version", "value": {"stringValue": "0.2.0"}}`). Only spans
whose raw bytes contain the key are parsed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from engine.compare.sides import Side, subset
from engine.errors import InvalidArgumentError

__all__ = ["MAX_DEPTH", "split_by_attribute", "attribute_values"]

# How deep in a span's JSON an attribute is looked for (resource.attributes.x is 3).
MAX_DEPTH = 6
# Values of the attribute named in the note when traces fall outside the split.
MAX_VALUES_NAMED = 10
_OTLP_VALUES = ("stringValue", "intValue", "doubleValue", "boolValue")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict):
        for name in _OTLP_VALUES:
            if name in value:
                return _scalar(value[name])
    return None


def _find(obj: Any, key: str, depth: int, out: set[str]) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(obj, dict):
        if key in obj:
            value = _scalar(obj[key])
            if value is not None:
                out.add(value)
        if obj.get("key") == key and "value" in obj:
            value = _scalar(obj["value"])
            if value is not None:
                out.add(value)
        for child in obj.values():
            if isinstance(child, dict | list):
                _find(child, key, depth + 1, out)
    elif isinstance(obj, list):
        for child in obj:
            if isinstance(child, dict | list):
                _find(child, key, depth + 1, out)


def attribute_values(side: Side, key: str) -> list[set[str]]:
    """The values `key` takes in each trace of `side` (by trace index)."""
    data = side.data
    values: list[set[str]] = [set() for _ in range(data.n_traces)]
    trace = data.trace.tolist()
    if key == "model":
        for i, model in enumerate(data.model):
            if model:
                values[trace[i]].add(model)
        return values
    needle = orjson.dumps(key)
    for i, blob in data.iter_raw(list(range(data.n_spans))):
        if needle not in blob:
            continue
        try:
            parsed = orjson.loads(blob)
        except orjson.JSONDecodeError:
            continue
        _find(parsed, key, 0, values[trace[i]])
    return values


def split_by_attribute(side: Side, key: str, baseline: str | None, candidate: str | None) -> tuple[Side, Side]:
    """The traces of `side` with `key` = `baseline` against those with `key` = `candidate`."""
    if not key or baseline is None or candidate is None:
        raise InvalidArgumentError("an attribute split needs attribute, baseline_value and candidate_value")
    if baseline == candidate:
        raise InvalidArgumentError(f"baseline_value and candidate_value are both {baseline!r}: nothing to compare")
    values = attribute_values(side, key)
    first = [t for t, v in enumerate(values) if baseline in v and candidate not in v]
    second = [t for t, v in enumerate(values) if candidate in v and baseline not in v]
    both = sum(1 for v in values if baseline in v and candidate in v)
    seen = sorted({x for v in values for x in v})
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    notes: tuple[str, ...] = ()
    left = side.n_traces - len(first) - len(second)
    if left:
        shown = ", ".join(repr(s) for s in seen[:MAX_VALUES_NAMED]) or "none"
        more = f" (+{len(seen) - MAX_VALUES_NAMED} more)" if len(seen) > MAX_VALUES_NAMED else ""
        notes = (
            f"{left} of {side.n_traces} traces left out of the {key} split ({both} carry both values); "
            f"values seen: {shown}{more}",
        )
    return (
        Side(f"{side.label} {key}={baseline}", subset(side.data, a), side.runs.take(a), notes),
        Side(f"{side.label} {key}={candidate}", subset(side.data, b), side.runs.take(b)),
    )
