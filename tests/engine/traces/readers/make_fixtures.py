"""Real OpenTelemetry SDK spans, written in the shapes users' exporters produce.

Run as a script to (re)write the committed fixtures in tests/fixtures/otlp and
tests/fixtures/otel_sdk; tests also import it to generate fresh output at run time
and compare the readers against the SDK's own span objects.

    .venv/bin/python tests/engine/traces/readers/make_fixtures.py

OTLP/JSON is encoded with opentelemetry-proto message classes and
`google.protobuf.json_format` (base64 ids, enum names, int64 as strings: the
proto3 JSON mapping); `collector_style` rewrites it the way the Collector's file
exporter writes OTLP/JSON (hex ids, enum integers).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict, MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as OtelStatus

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

TOOLS_OFFERED = ("get_weather", "lookup_city")


def agent_run(service: str = "weather-agent", question: str = "Weather in Oslo?") -> list[ReadableSpan]:
    """One agent run: an agent span, two LLM calls, a tool whose output is an HTTP error, a tool that raises."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("halo-mcp.fixtures", "1.0.0")
    with tracer.start_as_current_span(
        "invoke_agent weather",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather", "input.value": question},
    ):
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes({
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 412,
                "llm.token_count.completion": 23,
                "llm.cost.total": 0.00021,
                "llm.invocation_parameters": '{"temperature": 0.2}',
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": question,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Oslo"}',
                "tag.tags": ("weather", "eval"),
                "retry.enabled": True,
                "sampling.ratio": 0.5,
            })
            for i, tool in enumerate(TOOLS_OFFERED):
                schema = {"type": "function", "function": {"name": tool, "parameters": {"type": "object"}}}
                llm.set_attribute(f"llm.tools.{i}.tool.json_schema", json.dumps(schema))
        with tracer.start_as_current_span(
            "execute_tool get_weather",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
                "gen_ai.tool.call.result": "404 Not Found: no station for 'Oslo'",
            },
        ):
            pass
        try:
            with tracer.start_as_current_span(
                "execute_tool lookup_city",
                attributes={
                    "openinference.span.kind": "TOOL",
                    "tool.name": "lookup_city",
                    "input.value": '{"q": "Oslo"}',
                },
            ):
                raise LookupError("city index is offline")
        except LookupError:
            pass
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 530,
                    "gen_ai.usage.output_tokens": 17,
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": "I'm sorry, but I can't help with that."}],
                            }
                        ]
                    ),
                }
            )
            llm.set_status(OtelStatus(StatusCode.OK))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def _key_values(attrs: Any) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in (attrs or {}).items()]


def to_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The spans as one OTLP ExportTraceServiceRequest (one resource, one scope)."""
    first = spans[0]
    pb_spans = []
    for s in spans:
        pb_spans.append(PbSpan(
            trace_id=s.context.trace_id.to_bytes(16, "big"),
            span_id=s.context.span_id.to_bytes(8, "big"),
            parent_span_id=s.parent.span_id.to_bytes(8, "big") if s.parent else b"",
            name=s.name,
            kind=s.kind.value + 1,  # the SDK counts from INTERNAL=0, the proto from UNSPECIFIED=0
            start_time_unix_nano=s.start_time,
            end_time_unix_nano=s.end_time,
            attributes=_key_values(s.attributes),
            events=[PbSpan.Event(time_unix_nano=e.timestamp, name=e.name, attributes=_key_values(e.attributes))
                    for e in s.events],
            status=Status(code=s.status.status_code.value, message=s.status.description or ""),
        ))
    scope = first.instrumentation_scope
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=PbResource(attributes=_key_values(first.resource.attributes)),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope.name, version=scope.version or ""),
                                spans=pb_spans)],
    )])  # fmt: skip


def proto_json(request: ExportTraceServiceRequest, indent: int | None = None) -> str:
    """The protobuf JSON mapping: base64 ids, enum names, int64 as strings."""
    if indent is None:
        return json.dumps(MessageToDict(request), separators=(",", ":"))
    return MessageToJson(request, indent=indent)


def collector_style(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """As the Collector's file exporter writes OTLP/JSON: hex ids and enum integers."""
    doc = MessageToDict(request, use_integers_for_enums=True)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return doc


def console_dump(spans: Sequence[ReadableSpan]) -> str:
    """What ConsoleSpanExporter prints: concatenated pretty `to_json()` objects."""
    out = io.StringIO()
    ConsoleSpanExporter(out=out).export(list(spans))
    return out.getvalue()


def write_fixtures() -> None:
    runs = [agent_run(), agent_run("billing-agent", "Refund order 17?")]
    otlp, sdk = FIXTURES / "otlp", FIXTURES / "otel_sdk"
    otlp.mkdir(exist_ok=True)
    sdk.mkdir(exist_ok=True)
    (otlp / "collector.jsonl").write_text("".join(json.dumps(collector_style(to_request(r))) + "\n" for r in runs))
    (otlp / "protobuf_pretty.json").write_text(proto_json(to_request(runs[0]), indent=2) + "\n")
    (otlp / "protobuf.jsonl").write_text("".join(proto_json(to_request(r)) + "\n" for r in runs))
    (sdk / "console.json").write_text(console_dump(runs[0]))
    (sdk / "spans_list.json").write_text(json.dumps([json.loads(s.to_json()) for s in runs[1]], indent=2) + "\n")
    (sdk / "spans.jsonl").write_text("".join(s.to_json(indent=None) + os.linesep for r in runs for s in r))


if __name__ == "__main__":
    write_fixtures()
