"""Real OpenTelemetry SDK spans for the receiver's tests, and a bounded poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["POLL_BOUND_S", "sdk_spans", "span_ids", "poll"]

POLL_BOUND_S = 60.0
"""How long a test waits for something to appear: generous, the machine is shared; usually immediate."""


def sdk_spans(count: int, service: str = "test-agent") -> list[ReadableSpan]:
    """`count` real SDK spans in one trace: an AGENT span with LLM children."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("halo-mcp-tests")
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        for n in range(count - 1):
            with tracer.start_as_current_span(f"llm {n}") as child:
                child.set_attribute("openinference.span.kind", "LLM")
                child.set_attribute("llm.model_name", "gpt-test")
    provider.shutdown()
    return list(memory.get_finished_spans())


def span_ids(spans: list[ReadableSpan]) -> set[str]:
    return {format(s.context.span_id, "016x") for s in spans}


def poll(check: Callable[[], bool], what: str) -> None:
    """Wait until `check()` holds, at most POLL_BOUND_S."""
    deadline = time.monotonic() + POLL_BOUND_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
