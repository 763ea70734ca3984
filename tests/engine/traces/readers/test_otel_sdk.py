"""OTel Python SDK span dumps (ConsoleSpanExporter / to_json) and the any-agent variant."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape, otel_sdk


def _spans(path: Path) -> list[Span]:
    items = list(FileReader(path))
    assert all(isinstance(i, Span) for i in items), items
    return items  # type: ignore[return-value]


def test_console_exporter_output_reads_as_concatenated_objects(make_fixtures: ModuleType, tmp_path: Path) -> None:
    sdk_spans = make_fixtures.agent_run()
    path = tmp_path / "console.txt"
    path.write_text(make_fixtures.console_dump(sdk_spans))
    assert detect_shape(path) == "otel_sdk"
    spans = _spans(path)
    assert [s.span_id for s in spans] == [format(s.context.span_id, "016x") for s in sdk_spans]
    assert [s.trace_id for s in spans] == [format(s.context.trace_id, "032x") for s in sdk_spans]
    # to_json writes microseconds (rounded through a float by the SDK)
    assert all(abs(ours.start_ns - theirs.start_time) <= 1000 for ours, theirs in zip(spans, sdk_spans, strict=True))
    assert all(abs(ours.end_ns - theirs.end_time) <= 1000 for ours, theirs in zip(spans, sdk_spans, strict=True))
    lookup = spans[2]
    assert lookup.status is SpanStatus.ERROR and lookup.status_message == "LookupError: city index is offline"
    assert lookup.exception == "LookupError: city index is offline"
    text = path.read_text().splitlines()
    assert all('"span_id"' in text[s.line - 1] for s in spans)


def test_list_jsonl_and_console_files_agree(fixtures: Path) -> None:
    jsonl = _spans(fixtures / "otel_sdk" / "spans.jsonl")
    console = _spans(fixtures / "otel_sdk" / "console.json")
    listed = _spans(fixtures / "otel_sdk" / "spans_list.json")
    assert len(jsonl) == 10 and [s.span_id for s in jsonl] == [s.span_id for s in console + listed]
    assert [s.kind for s in console] == [SpanKind.LLM, SpanKind.TOOL, SpanKind.TOOL, SpanKind.LLM, SpanKind.AGENT]
    assert jsonl[0].parent_id == jsonl[4].span_id and jsonl[4].parent_id is None
    assert orjson.loads(jsonl[0].raw)["kind"] == "SpanKind.CLIENT"


def test_any_agent_decimal_ids_become_exact_hex(fixtures: Path) -> None:
    path = fixtures / "any_agent" / "OPENAI_trace.json"
    assert detect_shape(path) == "otel_sdk"
    doc = json.loads(path.read_text())  # the stdlib keeps 128-bit integers exact
    spans = _spans(path)
    assert len(spans) == len(doc["spans"])
    for span, src in zip(spans, doc["spans"], strict=True):
        assert span.trace_id == format(src["context"]["trace_id"], "032x")
        assert span.span_id == format(src["context"]["span_id"], "016x")
        assert span.start_ns == src["start_time"] and span.end_ns == src["end_time"]
        assert json.loads(span.raw) == src  # raw keeps the big integers too
    agent = spans[-1]
    assert agent.kind is SpanKind.AGENT and agent.agent_name == "any_agent" and agent.parent_id is None


def test_any_agent_semantics_tokens_cost_and_tools(fixtures: Path) -> None:
    spans = _spans(fixtures / "any_agent" / "OPENAI_trace.json")
    llm, tool = spans[0], spans[1]
    assert llm.kind is SpanKind.LLM and llm.model == "mistral/mistral-small-latest"
    assert (llm.input_tokens, llm.output_tokens) == (269, 16)
    assert abs(llm.cost - (2.69e-05 + 4.8e-06)) < 1e-12  # type: ignore[operator]
    assert llm.requested_tools == ("get_current_time",) and llm.status is SpanStatus.OK
    assert tool.kind is SpanKind.TOOL and tool.tool_name == "get_current_time"
    assert tool.tool_args == '{"timezone": "America/New_York"}'


def test_every_any_agent_framework_file_reads_with_orphans_allowed(fixtures: Path) -> None:
    for path in sorted((fixtures / "any_agent").glob("*_trace.json")):
        spans = _spans(path)
        assert spans and {s.kind for s in spans} >= {SpanKind.LLM, SpanKind.TOOL, SpanKind.AGENT}, path.name
        assert len({s.trace_id for s in spans}) == 1
    google = _spans(fixtures / "any_agent" / "GOOGLE_trace.json")
    ids = {s.span_id for s in google}
    assert all(s.parent_id is None or s.parent_id not in ids for s in google)  # parents were never exported


def test_loads_with_big_integers_gives_what_json_loads_gives(fixtures: Path) -> None:
    """Documents with 20-digit integers are read by msgspec when it can: the value (types too) is json's,
    and what msgspec refuses but json takes (NaN, a byte order mark, lone surrogates, deep nesting) still reads."""
    big = b'{"context": {"trace_id": 123456789012345678901234567890, "span_id": 18446744073709551616}, '
    docs = [p.read_bytes() for p in sorted((fixtures / "any_agent").glob("*.json"))]
    docs += [big + tail for tail in (
        b'"a": NaN, "b": Infinity, "c": -Infinity}', b'"a": 1e999}', b'"s": "\\ud800"}', b'"n": -9223372036854775809}',
        b'"f": [1e-7, 1.5e16, 0.1, -0.0, 1E+2, 1e-400], "u": "\\u00e9\\ud83d\\ude00", "d": {"k": 1, "k": 2}}',
        b'"x": ' + b"[" * 700 + b"]" * 700 + b"}",
    )]
    docs += [b"\xef\xbb\xbf" + big + b'"a": 1}', big.replace(b"{", b"[", 1)]
    for doc in docs:
        try:
            expected = repr(json.loads(doc))
        except (ValueError, RecursionError) as exc:
            expected = type(exc).__name__
        try:
            got = repr(otel_sdk.loads(doc))
        except (ValueError, RecursionError) as exc:
            got = type(exc).__name__
        assert got == expected, doc[:120]
