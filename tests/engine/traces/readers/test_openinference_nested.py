"""OpenInference spans nested in child_spans (Patronus / TRAIL), dict and Python-repr variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape
from engine.traces.readers.openinference_nested import REPR_FIELDS

TRAIL = "0ebe673d64647ec44c370638b82d3c78.json"


def _spans(path: Path) -> list[Span]:
    items = list(FileReader(path))
    assert all(isinstance(i, Span) for i in items), items
    return items  # type: ignore[return-value]


def _as_real_export(node: dict[str, Any]) -> dict[str, Any]:
    """How Patronus really writes a span: repr strings and the text "None" for a missing parent."""
    out = {k: repr(v) if k in REPR_FIELDS else v for k, v in node.items()}
    if out.get("parent_span_id") is None:
        out["parent_span_id"] = "None"
    out["child_spans"] = [_as_real_export(c) for c in node.get("child_spans", [])]
    return out


def _count(nodes: list[dict[str, Any]]) -> int:
    return sum(1 + _count(n["child_spans"]) for n in nodes)


def test_trail_trace_reads_every_nested_span_parents_first(fixtures: Path) -> None:
    path = fixtures / "trail" / TRAIL
    assert detect_shape(path) == "openinference_nested"
    doc = json.loads(path.read_text())
    spans = _spans(path)
    assert len(spans) == _count(doc["spans"]) == 11
    seen: set[str] = set()
    for span in spans:
        assert span.parent_id is None or span.parent_id in seen
        seen.add(span.span_id)
    assert spans[0].name == "main" and spans[0].parent_id is None


def test_duration_gives_the_end_time_and_strings_give_integer_tokens(fixtures: Path) -> None:
    spans = _spans(fixtures / "trail" / TRAIL)
    root = spans[0]
    assert root.end_ns - root.start_ns == 24_688_187_000  # PT24.688187S
    llm = next(s for s in spans if s.kind is SpanKind.LLM)
    assert (llm.model, llm.input_tokens, llm.output_tokens) == ("o3-mini", 401, 882)
    tool = next(s for s in spans if s.kind is SpanKind.TOOL)
    assert tool.tool_name == "final_answer" and tool.tool_args and '"right"' in tool.tool_args
    assert root.service == "gaia-annotation-samples/app:GAIA-Samples"


def test_raw_is_the_span_without_its_children(fixtures: Path) -> None:
    spans = _spans(fixtures / "trail" / TRAIL)
    raw = orjson.loads(spans[0].raw)
    assert "child_spans" not in raw and raw["span_id"] == spans[0].span_id
    assert isinstance(raw["span_attributes"], dict)


def test_python_repr_strings_read_like_the_dict_copies(fixtures: Path, tmp_path: Path) -> None:
    for src in sorted((fixtures / "trail").glob("*.json")):
        doc = json.loads(src.read_text())
        real = {"trace_id": doc["trace_id"], "spans": [_as_real_export(s) for s in doc["spans"]]}
        path = tmp_path / src.name
        path.write_text(json.dumps(real, indent=4))
        assert detect_shape(path) == "openinference_nested"
        ours, copies = _spans(path), _spans(src)
        fields = ("span_id", "parent_id", "kind", "status", "model", "input_tokens", "output_tokens", "tool_name")
        assert [[getattr(s, f) for f in fields] for s in ours] == [[getattr(s, f) for f in fields] for s in copies]
        assert isinstance(orjson.loads(ours[0].raw)["span_attributes"], dict)  # decoded in raw


def test_error_span_with_trail_exception_event(fixtures: Path, tmp_path: Path) -> None:
    doc = json.loads((fixtures / "trail" / TRAIL).read_text())
    tool = doc["spans"][0]["child_spans"][1]["child_spans"][1]["child_spans"][2]["child_spans"][1]
    assert tool["span_name"] == "FinalAnswerTool"
    tool["status_code"] = "Error"
    tool["status_message"] = "AgentExecutionError: tool failed"
    tool["events"] = [{"Name": "exception", "Timestamp": "2025-03-19T16:41:06.806520Z", "Attributes": {
        "exception.type": "AgentExecutionError", "exception.message": "tool failed",
        "exception.stacktrace": "Traceback (most recent call last): ...", "exception.escaped": "False"}}]  # fmt: skip
    path = tmp_path / "error.json"
    path.write_text(json.dumps({"trace_id": doc["trace_id"], "spans": [_as_real_export(s) for s in doc["spans"]]}))
    failed = [s for s in _spans(path) if s.status is SpanStatus.ERROR]
    assert len(failed) == 1 and failed[0].exception == "AgentExecutionError: tool failed"
    assert failed[0].status_message == "AgentExecutionError: tool failed"


def test_repr_strings_are_parsed_as_literals_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    span = {
        "timestamp": "2025-03-19T16:40:46.830526Z", "trace_id": "ab" * 16, "span_id": "cd" * 8,
        "parent_span_id": "None", "span_name": "x", "duration": "PT1S", "status_code": "Ok",
        "span_attributes": f"{{'a': __import__('pathlib').Path({str(marker)!r}).touch()}}",
        "events": "[]", "child_spans": [],
    }  # fmt: skip
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"trace_id": "ab" * 16, "spans": [span]}))
    spans = _spans(path)
    assert len(spans) == 1 and not marker.exists()
    assert orjson.loads(spans[0].raw)["span_attributes"] == span["span_attributes"]  # kept as text
