"""OpenAI Agents SDK span exports: trace.span records, batches and lists."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape


def _spans(path: Path) -> list[Span]:
    items = list(FileReader(path))
    assert all(isinstance(i, Span) for i in items), items
    return items  # type: ignore[return-value]


def test_span_records_are_read_and_trace_records_skipped(fixtures: Path) -> None:
    path = fixtures / "openai_agents" / "spans.jsonl"
    assert detect_shape(path) == "openai_agents"
    spans = _spans(path)
    assert len(spans) == 12  # 13 lines, the first a trace record
    assert [s.line for s in spans] == list(range(2, 14))
    assert {s.trace_id for s in spans} == {"trace_4f1c2a9b7d6e4c3fa2b1908e7d6c5b4a"}
    assert orjson.loads(spans[0].raw)["object"] == "trace.span"


def test_span_data_types_map_to_kinds(fixtures: Path) -> None:
    kinds = {s.name: s.kind for s in _spans(fixtures / "openai_agents" / "spans.jsonl")}
    assert kinds["agent.Triage"] is SpanKind.AGENT and kinds["generation"] is SpanKind.LLM
    assert kinds["response"] is SpanKind.LLM and kinds["function.lookup_order"] is SpanKind.TOOL
    assert kinds["guardrail.no_pii"] is SpanKind.GUARDRAIL and kinds["handoff Triage -> Billing"] is SpanKind.CHAIN
    assert kinds["custom.policy_check"] is SpanKind.CHAIN and kinds["mcp_tools"] is SpanKind.OTHER


def test_agents_sdk_fields_model_usage_tools_and_errors(fixtures: Path) -> None:
    by_id = {s.span_id.removeprefix("span_")[:2]: s for s in _spans(fixtures / "openai_agents" / "spans.jsonl")}
    triage, generation, lookup, response, refund = by_id["a1"], by_id["c1"], by_id["d1"], by_id["e1"], by_id["f1"]
    assert triage.agent_name == "Triage" and triage.offered_tools == ("lookup_order", "refund_order")
    assert triage.end_ns - triage.start_ns == 9_800_000_000 and triage.parent_id is None
    assert (generation.model, generation.input_tokens, generation.output_tokens) == ("gpt-4o-2024-08-06", 812, 31)
    assert generation.requested_tools == ("lookup_order",)
    assert lookup.tool_name == "lookup_order" and lookup.tool_args == '{"order_id": 17}'
    assert lookup.status is SpanStatus.OK and lookup.output_error == "order 17 not found in region eu-west"
    assert (response.input_tokens, response.output_tokens) == (905, 44)
    assert refund.status is SpanStatus.ERROR
    assert refund.status_message == "Error running tool: PermissionError: refunds above 100 need approval"
    assert by_id["c2"].refusal and not generation.refusal
    assert by_id["e2"].status is SpanStatus.ERROR  # a tripped guardrail
    assert by_id["f2"].status is SpanStatus.UNSET and by_id["f2"].end_ns == by_id["f2"].start_ns  # never ended


def test_upload_batches_and_lists_read_the_same_spans(fixtures: Path) -> None:
    lines = _spans(fixtures / "openai_agents" / "spans.jsonl")
    batch = _spans(fixtures / "openai_agents" / "batch.json")
    listed = _spans(fixtures / "openai_agents" / "spans_list.json")
    assert [s.span_id for s in batch + listed] == [s.span_id for s in lines]
    assert [(s.kind, s.status, s.start_ns) for s in batch + listed] == [(s.kind, s.status, s.start_ns) for s in lines]
