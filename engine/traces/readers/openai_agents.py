"""OpenAI Agents SDK span exports: `Span.export()` records, `"object": "trace.span"`.

`{"object": "trace.span", "id": "span_…", "trace_id": "trace_…", "parent_id",
"started_at"/"ended_at": ISO with offset, "span_data": {"type", ...}, "error":
{"message", "data"} | null}`, as JSONL, a JSON list, or the SDK's upload batches
`{"data": [...]}`. Trace records (`"object": "trace"`) carry no span and are
skipped. Each `span_data.type` is mapped to the canonical fields through a small
synthetic attribute dict in the OpenInference / GenAI vocabulary, so the same
semantic rules (tool errors, refusals, requested tools) apply as for every shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers._build import dump_raw, make_span
from engine.traces.readers._shape import Shape
from engine.traces.readers._source import BadRecord, Locate, sample_of
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem, parent_id_of, to_ns

__all__ = ["SHAPE", "KIND_BY_TYPE", "spans_from_value"]

KIND_BY_TYPE: dict[str, SpanKind] = {
    "agent": SpanKind.AGENT, "generation": SpanKind.LLM, "response": SpanKind.LLM, "function": SpanKind.TOOL,
    "guardrail": SpanKind.GUARDRAIL, "handoff": SpanKind.CHAIN, "custom": SpanKind.CHAIN,
    "transcription": SpanKind.LLM, "speech": SpanKind.LLM, "speech_group": SpanKind.CHAIN,
    "mcp_tools": SpanKind.OTHER,
}  # fmt: skip
_RECORD_ERRORS = RECORD_ERRORS


def spans_from_value(value: Any, line: int, locate: Locate | None) -> Iterator[Span | BadRecord]:
    """Spans of one record: a span, a list, or a `{"data": [...]}` batch; trace records are skipped."""
    if isinstance(value, list):
        for item in value:
            yield from spans_from_value(item, line, locate)
        return
    if not isinstance(value, dict):
        raise ValueProblem(f"expected a trace.span object, got {type(value).__name__}")
    if value.get("object") == "trace":
        return  # trace metadata (workflow name, group id): not a span
    if "span_data" not in value and isinstance(value.get("data"), list):
        yield from spans_from_value(value["data"], line, locate)
        return
    at = line if locate is None else locate("id", value.get("id"), line)
    try:
        yield _span(value, at)
    except _RECORD_ERRORS as exc:
        yield BadRecord(str(exc), sample_of(dump_raw(value)), at)


def _usage(usage: Any, attrs: dict[str, Any]) -> None:
    if isinstance(usage, dict):
        tin = usage.get("input_tokens", usage.get("prompt_tokens"))
        tout = usage.get("output_tokens", usage.get("completion_tokens"))
        if tin is not None:
            attrs["gen_ai.usage.input_tokens"] = tin
        if tout is not None:
            attrs["gen_ai.usage.output_tokens"] = tout


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _agent(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["agent.name"] = data.get("name")
    attrs["agent.tools"] = data.get("tools") or []
    return f"agent.{data.get('name')}"


def _function(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["tool.name"] = data.get("name")
    attrs["input.value"] = _text(data.get("input"))
    attrs["output.value"] = _text(data.get("output"))
    return f"function.{data.get('name')}"


def _generation(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["llm.model_name"] = data.get("model")
    _usage(data.get("usage"), attrs)
    output = data.get("output")
    if output:
        attrs["gen_ai.output"] = _text(output)
        first = output[0] if isinstance(output, list) and output else None
        if isinstance(first, dict) and isinstance(first.get("content"), str):
            attrs["llm.output_messages.0.message.content"] = first["content"]
    return "generation"


def _response(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["llm.response.id"] = data.get("response_id")
    attrs["llm.model_name"] = data.get("model")
    _usage(data.get("usage"), attrs)
    return "response"


def _handoff(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["agent.name"] = data.get("from_agent")
    return f"handoff {data.get('from_agent')} -> {data.get('to_agent')}"


def _named(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    inner = data.get("data")
    if isinstance(inner, dict) and isinstance(inner.get("agent_name"), str):
        attrs["agent.name"] = inner["agent_name"]
    return f"{data.get('type')}.{data.get('name')}"


def _media(data: dict[str, Any], attrs: dict[str, Any]) -> str:
    attrs["llm.model_name"] = data.get("model")
    return str(data.get("type"))


_BY_TYPE: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "agent": _agent, "function": _function, "generation": _generation, "response": _response,
    "handoff": _handoff, "guardrail": _named, "custom": _named, "transcription": _media, "speech": _media,
}  # fmt: skip


def _error_message(error: Any) -> str:
    """`error.message`, plus `error.data.error` when the SDK put the real cause there."""
    if not isinstance(error, dict):
        return str(error)
    message = str(error.get("message") or "error")
    data = error.get("data")
    detail = data.get("error") if isinstance(data, dict) else None
    return f"{message}: {detail}" if isinstance(detail, str) and detail else message


def _span(obj: dict[str, Any], line: int) -> Span:
    span_id, trace_id = obj.get("id"), obj.get("trace_id")
    if not span_id or not trace_id:
        raise ValueProblem("trace.span without id or trace_id")
    data = obj.get("span_data")
    if not isinstance(data, dict):
        raise ValueProblem("trace.span without a span_data object")
    kind_name = str(data.get("type") or "")
    attrs: dict[str, Any] = {}
    describe = _BY_TYPE.get(kind_name)
    name = describe(data, attrs) if describe else kind_name or "span"
    error = obj.get("error")
    if error:
        status = SpanStatus.ERROR
        message = _error_message(error)
    else:
        status = SpanStatus.OK if obj.get("ended_at") else SpanStatus.UNSET
        message = ""
    start = to_ns(obj.get("started_at"), "started_at")
    end = start if not obj.get("ended_at") else to_ns(obj["ended_at"], "ended_at")
    return make_span(
        str(trace_id), str(span_id), parent_id_of(obj.get("parent_id")), name, status, message, start, end,
        None, {k: v for k, v in attrs.items() if v is not None}, None, dump_raw(obj), line,
        KIND_BY_TYPE.get(kind_name, SpanKind.OTHER),
    )  # fmt: skip


def _claims(record: dict[str, Any]) -> bool:
    return record.get("object") in ("trace.span", "trace") or "span_data" in record


SHAPE = Shape(
    name="openai_agents",
    summary='OpenAI Agents SDK span exports, `"object": "trace.span"` with `span_data`',
    claims=_claims,
    sniff=re.compile(r'"object"\s*:\s*"trace(?:\.span)?"|"span_data"\s*:'),
    priority=20,
    spans_from_value=spans_from_value,
)
