"""HALO / inference.net flat JSONL, read from HALO's own fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.traces.model import Malformed, Span, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape


def _spans(path: Path) -> list[Span]:
    items = list(FileReader(path))
    assert all(isinstance(i, Span) for i in items), [i for i in items if isinstance(i, Malformed)]
    return items  # type: ignore[return-value]


def test_halo_files_are_detected_as_halo(fixtures: Path) -> None:
    for name in ("tiny", "realistic", "medium"):
        assert detect_shape(fixtures / "halo" / f"{name}_traces.jsonl") == "halo"


def test_tiny_file_gives_every_span_with_its_normalised_fields(fixtures: Path) -> None:
    spans = _spans(fixtures / "halo" / "tiny_traces.jsonl")
    assert len(spans) == 6
    root, llm = spans[0], spans[1]
    assert (root.trace_id, root.span_id, root.parent_id) == ("t-aaaa", "s-aaaa-1", None)
    assert root.kind is SpanKind.AGENT and root.agent_name == "agent-a" and root.service == "agent-a"
    assert root.start_ns == int(datetime(2026, 4, 23, 5, 32, tzinfo=UTC).timestamp()) * 10**9
    assert root.end_ns - root.start_ns == 10**9
    assert llm.parent_id == "s-aaaa-1" and llm.kind is SpanKind.LLM
    assert (llm.model, llm.input_tokens, llm.output_tokens, llm.cost) == ("claude-sonnet-4-5", 100, 50, 0.0012)
    assert llm.end_ns - llm.start_ns == 800_000_000
    assert [s.line for s in spans] == [1, 2, 3, 4, 5, 6]


def test_error_status_and_message_are_kept(fixtures: Path) -> None:
    spans = _spans(fixtures / "halo" / "tiny_traces.jsonl")
    failed = [s for s in spans if s.status is SpanStatus.ERROR]
    assert {s.status_message for s in failed} >= {"tool call failed", "tool failure"}
    assert all(s.status is SpanStatus.OK for s in spans if s not in failed)


def test_raw_is_the_line_bytes_as_they_are(fixtures: Path) -> None:
    path = fixtures / "halo" / "realistic_traces.jsonl"
    lines = path.read_bytes().split(b"\n")
    for span in _spans(path):
        assert span.raw == lines[span.line - 1]


def test_realistic_file_gives_tool_calls_and_offered_tools(fixtures: Path) -> None:
    spans = _spans(fixtures / "halo" / "realistic_traces.jsonl")
    assert len(spans) == 58
    tools = [s for s in spans if s.kind is SpanKind.TOOL]
    assert len(tools) == 16
    assert {s.tool_name for s in tools} == {"list_files", "grep", "read_file"}
    assert tools[0].tool_args == '{"subdir":"./","pattern":"*.py"}'
    agents = [s for s in spans if s.kind is SpanKind.AGENT]
    assert agents and all(s.offered_tools == ("list_files", "read_file", "grep") for s in agents)
    assert all(s.agent_name == "HaloCodeHelper" for s in agents)
    llms = [s for s in spans if s.kind is SpanKind.LLM]
    assert all(s.input_tokens and s.output_tokens for s in llms)
    # a tool that failed says so in its status: no separate output_error is derived
    assert not any(s.output_error for s in tools)


def test_medium_file_reads_without_malformed_records(fixtures: Path) -> None:
    reader = FileReader(fixtures / "halo" / "medium_traces.jsonl")
    spans = list(reader)
    assert len(spans) == 2000 and all(isinstance(s, Span) for s in spans)
    assert len({s.trace_id for s in spans}) == 500  # type: ignore[union-attr]
    assert reader.lines == 2000 and reader.end == reader.path.stat().st_size
