"""Langfuse exports (observations made by the SDK's own `ObservationV2` model) read as spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.traces import store
from engine.traces.analytics import analyze
from engine.traces.dataset import Dataset
from engine.traces.model import Malformed, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "langfuse"
LAYOUTS = ["export.json", "observations.json", "observations.jsonl", "api_pages.json"]


def _spans(path: Path) -> list:
    return [s for s in FileReader(path) if not isinstance(s, Malformed)]


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_reads_as_the_same_spans(name: str) -> None:
    spans = {(s.trace_id, s.span_id, s.parent_id, s.kind, s.status) for s in _spans(FIXTURES / name)}
    assert spans == {(s.trace_id, s.span_id, s.parent_id, s.kind, s.status) for s in _spans(FIXTURES / "export.json")}
    assert len(spans) == 20


def test_one_trace_with_its_observations_is_its_spans() -> None:
    spans = _spans(FIXTURES / "trace.json")
    assert len(spans) == 5 and {s.trace_id for s in spans} == {"00000000000000000000000000000001"}


def test_observation_types_levels_usage_and_cost_map_onto_the_span_model() -> None:
    by = {(s.trace_id[-1], s.name): s for s in _spans(FIXTURES / "observations.jsonl")}
    plan = by["1", "plan"]
    assert plan.kind is SpanKind.LLM and plan.model == "gpt-4o-mini"
    assert (plan.input_tokens, plan.output_tokens) == (412, 38) and plan.cost == pytest.approx(0.0000846)
    assert plan.requested_tools == ("search_orders",)
    assert by["1", "search_orders"].kind is SpanKind.TOOL and by["1", "search_orders"].tool_name == "search_orders"
    assert by["1", "search_orders"].tool_args == '{"q":"where is my order?"}'
    assert by["1", "support_agent"].kind is SpanKind.AGENT and by["1", "support_agent"].agent_name == "support_agent"
    failed = by["2", "search_orders"]
    assert failed.status is SpanStatus.ERROR and failed.status_message.startswith("TimeoutError")
    assert by["3", "search_orders"].output_error and by["3", "search_orders"].status is SpanStatus.OK
    assert by["3", "answer"].status is SpanStatus.OK and by["3", "answer"].status_message  # WARNING is not an error
    assert by["1", "user_feedback"].kind is SpanKind.OTHER
    assert by["1", "plan"].end_ns - by["1", "plan"].start_ns == 2_000_000_000


def test_the_analytics_count_errors_tools_and_tokens() -> None:
    with Dataset.open([FIXTURES / "export.json"]) as ds:
        ov = store.overview(ds)
        tools = analyze(ds).tools
    assert (ov.spans, ov.traces, ov.error_spans, ov.error_traces) == (20, 4, 1, 1)
    assert [(t.tool, t.calls, t.errors) for t in tools] == [("search_orders", 4, 1)]


def test_an_observation_without_ids_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    good = (FIXTURES / "observations.jsonl").read_text().splitlines()[0]
    path.write_text(good + "\n" + '{"traceId": "t1", "type": "SPAN", "startTime": "2026-01-01T00:00:00Z"}\n')
    assert detect_shape(path) == "langfuse"
    out = list(FileReader(path))
    assert len([s for s in out if not isinstance(s, Malformed)]) == 1
    [bad] = [b for b in out if isinstance(b, Malformed)]
    assert "without id or traceId" in bad.reason
