"""Langfuse exports: observations as the public API and the SDK's `ObservationV2` model give them.

An observation is `{"id", "traceId", "type": "GENERATION" | "SPAN" | "EVENT" | "TOOL" |
"AGENT" | ..., "name", "startTime", "endTime", "parentObservationId", "level":
"DEFAULT" | "DEBUG" | "WARNING" | "ERROR", "statusMessage", "input", "output", "model",
"usageDetails" | "usage", "costDetails" | "totalCost"}`. Files hold them as a plain list,
JSONL (one observation per line), a trace with its observations (`{"id", "name",
"observations": [...]}`), an export `{"traces": [...], "observations": [...]}`, or an
API page `{"data": [...], "meta": {...}}`; trace records without observations carry no
span and are skipped. Each observation is mapped onto the OpenInference / GenAI
vocabulary through a small synthetic attribute dict, so the same semantic rules (tool
errors, requested tools, tokens, cost) apply as for every shape; `raw` stays the
observation as Langfuse wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers._build import dump_raw, make_span
from engine.traces.readers._shape import Shape
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem, hex_id, parent_id_of, to_ns

__all__ = ["SHAPE", "KIND_BY_TYPE", "attributes_of", "spans_from_value"]

# Observation types with a kind of their own; SPAN / EVENT (and types unknown here) are
# judged by their name, as any span without a kind attribute is.
KIND_BY_TYPE: dict[str, SpanKind] = {
    "GENERATION": SpanKind.LLM, "AGENT": SpanKind.AGENT, "TOOL": SpanKind.TOOL, "CHAIN": SpanKind.CHAIN,
    "RETRIEVER": SpanKind.RETRIEVER, "EMBEDDING": SpanKind.EMBEDDING, "GUARDRAIL": SpanKind.GUARDRAIL,
    "EVALUATOR": SpanKind.OTHER,
}  # fmt: skip
_INPUT_USAGE = ("input", "promptTokens", "prompt_tokens", "input_tokens")
_OUTPUT_USAGE = ("output", "completionTokens", "completion_tokens", "output_tokens")


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """Spans of one value: an observation, a list, a trace with `observations`, an export or an API page."""
    if isinstance(value, list):
        for item in value:
            yield from spans_from_value(item, line, locate)
        return
    if not isinstance(value, dict):
        raise ValueProblem(f"expected a Langfuse observation object, got {type(value).__name__}")
    if not _is_observation(value):
        for key in ("observations", "traces", "data"):  # a trace, an export, an API page
            inner = value.get(key)
            if isinstance(inner, list):
                yield from spans_from_value(inner, line, locate)
        return
    at = line if locate is None else locate("id", value.get("id"), line)
    try:
        yield _span(value, at)
    except RECORD_ERRORS as exc:
        yield BadRecord(str(exc), sample_of(dump_raw(value)), at)


def _is_observation(obj: dict[str, Any]) -> bool:
    return "traceId" in obj and "type" in obj and "observations" not in obj


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _first(source: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(source, dict):
        for key in keys:
            if source.get(key) is not None:
                return source[key]
    return None


def _cost(obj: dict[str, Any]) -> Any:
    details = obj.get("costDetails")
    if isinstance(details, dict) and details:
        if details.get("total") is not None:
            return details["total"]
        parts = [v for k, v in details.items() if isinstance(v, (int, float)) and k in ("input", "output")]
        if parts:
            return sum(parts)
    for key in ("totalCost", "calculatedTotalCost"):
        if obj.get(key) is not None:
            return obj[key]
    return None


def attributes_of(obj: dict[str, Any]) -> dict[str, Any]:
    """One observation's fields in the OpenInference / GenAI vocabulary the semantic rules read."""
    kind_name = str(obj.get("type") or "").upper()
    name = obj.get("name")
    attrs: dict[str, Any] = {"input.value": _text(obj.get("input")), "output.value": _text(obj.get("output"))}
    if kind_name == "GENERATION":
        attrs["llm.model_name"] = obj.get("model")
        attrs["gen_ai.output"] = attrs["output.value"]  # where requested tool calls are looked for
        usage = obj.get("usageDetails") or obj.get("usage")
        attrs["gen_ai.usage.input_tokens"] = _first(usage, _INPUT_USAGE)
        attrs["gen_ai.usage.output_tokens"] = _first(usage, _OUTPUT_USAGE)
        attrs["llm.cost.total"] = _cost(obj)
    elif kind_name == "TOOL":
        attrs["tool.name"] = name
    elif kind_name == "AGENT":
        attrs["agent.name"] = name
    return {k: v for k, v in attrs.items() if v is not None}


def _span(obj: dict[str, Any], line: int) -> Span:
    span_id, trace_id = obj.get("id"), obj.get("traceId")
    if not span_id or not trace_id:
        raise ValueProblem("observation without id or traceId")
    kind_name = str(obj.get("type") or "").upper()
    level = str(obj.get("level") or "DEFAULT").upper()
    message = str(obj.get("statusMessage") or "")
    if level == "ERROR":
        status = SpanStatus.ERROR
        message = message or "error"
    else:
        status = SpanStatus.OK if obj.get("endTime") else SpanStatus.UNSET
    start = to_ns(obj.get("startTime"), "startTime")
    end = start if not obj.get("endTime") else to_ns(obj["endTime"], "endTime")
    return make_span(
        hex_id(str(trace_id), 32), hex_id(str(span_id), 16), parent_id_of(obj.get("parentObservationId")),
        str(obj.get("name") or kind_name.lower() or "observation"), status, message, start, max(start, end),
        None, attributes_of(obj), None, dump_raw(obj), line, KIND_BY_TYPE.get(kind_name),
    )  # fmt: skip


def _own_attributes(record: dict[str, Any]) -> dict[str, Any] | None:
    return attributes_of(record) if _is_observation(record) else None


def _claims(record: dict[str, Any]) -> bool:
    if _is_observation(record):
        return "startTime" in record
    observations = record.get("observations")
    return isinstance(observations, list) and (not observations or isinstance(observations[0], dict))


SHAPE = Shape(
    name="langfuse",
    summary="Langfuse observations (`traceId`, `type`, `startTime`): API pages, exports "
    '`{"traces", "observations"}`, a trace with its `observations`, a JSON list or JSONL',
    claims=_claims,
    sniff=re.compile(r'"parentObservationId"\s*:|"observations"\s*:\s*\['),
    priority=25,
    spans_from_value=spans_from_value,
    attributes=_own_attributes,
)
