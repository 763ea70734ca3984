"""OTLP/JSON: real SDK spans encoded with opentelemetry-proto, in both id/enum spellings."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import ModuleType

import orjson

from engine.traces.model import Span, SpanKind, SpanStatus
from engine.traces.readers import FileReader, detect_shape
from engine.traces.readers.otlp import flatten_attributes


def _spans(path: Path) -> list[Span]:
    items = list(FileReader(path))
    assert all(isinstance(i, Span) for i in items), items
    return items  # type: ignore[return-value]


def _check_against_sdk(spans: list[Span], sdk_spans: list) -> None:  # type: ignore[type-arg]
    assert len(spans) == len(sdk_spans)
    for ours, theirs in zip(spans, sdk_spans, strict=True):
        assert ours.trace_id == format(theirs.context.trace_id, "032x")
        assert ours.span_id == format(theirs.context.span_id, "016x")
        assert ours.parent_id == (format(theirs.parent.span_id, "016x") if theirs.parent else None)
        assert (ours.name, ours.start_ns, ours.end_ns) == (theirs.name, theirs.start_time, theirs.end_time)
        assert ours.status.value == theirs.status.status_code.value
        assert ours.service == theirs.resource.attributes["service.name"]


def test_protobuf_json_mapping_with_base64_ids_and_enum_names(make_fixtures: ModuleType, tmp_path: Path) -> None:
    sdk_spans = make_fixtures.agent_run()
    path = tmp_path / "export.json"
    path.write_text(make_fixtures.proto_json(make_fixtures.to_request(sdk_spans), indent=2))
    assert detect_shape(path) == "otlp"
    reader = FileReader(path)
    spans = [s for s in reader if isinstance(s, Span)]
    assert not reader.line_based
    _check_against_sdk(spans, sdk_spans)


def test_collector_file_exporter_lines_with_hex_ids_and_enum_integers(
    make_fixtures: ModuleType, tmp_path: Path
) -> None:
    runs = [make_fixtures.agent_run(), make_fixtures.agent_run("billing-agent")]
    path = tmp_path / "collector.jsonl"
    path.write_text(
        "".join(json.dumps(make_fixtures.collector_style(make_fixtures.to_request(r))) + "\n" for r in runs)
    )
    reader = FileReader(path)
    spans = [s for s in reader if isinstance(s, Span)]
    assert reader.line_based and reader.lines == 2
    _check_against_sdk(spans, runs[0] + runs[1])
    assert [s.line for s in spans] == [1] * len(runs[0]) + [2] * len(runs[1])


def test_semantic_fields_and_derived_signals_from_otlp(fixtures: Path) -> None:
    spans = _spans(fixtures / "otlp" / "collector.jsonl")[:5]
    first_llm, weather, lookup, second_llm, agent = spans
    assert first_llm.kind is SpanKind.LLM and first_llm.model == "gpt-4o-mini"
    assert (first_llm.input_tokens, first_llm.output_tokens, first_llm.cost) == (412, 23, 0.00021)
    assert first_llm.offered_tools == ("get_weather", "lookup_city")
    assert first_llm.requested_tools == ("get_weather",)
    assert weather.kind is SpanKind.TOOL and weather.tool_name == "get_weather"
    assert weather.tool_args == '{"city": "Oslo"}'
    assert weather.output_error == "404 Not Found: no station for 'Oslo'" and weather.status is SpanStatus.UNSET
    assert lookup.status is SpanStatus.ERROR and lookup.status_message == "LookupError: city index is offline"
    assert lookup.exception == "LookupError: city index is offline" and lookup.output_error is None
    assert second_llm.refusal and second_llm.status is SpanStatus.OK
    assert agent.kind is SpanKind.AGENT and agent.agent_name == "weather" and agent.parent_id is None


def test_both_spellings_give_the_same_spans(fixtures: Path) -> None:
    def key(s: Span) -> tuple:  # type: ignore[type-arg]
        return (s.trace_id, s.span_id, s.parent_id, s.kind, s.status, s.start_ns, s.end_ns, s.input_tokens)

    collector = _spans(fixtures / "otlp" / "collector.jsonl")
    protobuf = _spans(fixtures / "otlp" / "protobuf.jsonl")
    pretty = _spans(fixtures / "otlp" / "protobuf_pretty.json")
    assert [key(s) for s in collector] == [key(s) for s in protobuf]
    assert [key(s) for s in pretty] == [key(s) for s in collector[: len(pretty)]]


def test_raw_is_the_span_object_with_its_resource_and_scope(fixtures: Path) -> None:
    span = _spans(fixtures / "otlp" / "collector.jsonl")[0]
    raw = orjson.loads(span.raw)
    assert raw["spanId"] == span.span_id and raw["name"] == span.name
    assert raw["scope"] == {"name": "halo-mcp.fixtures", "version": "1.0.0"}
    assert flatten_attributes(raw["resource"]["attributes"])["service.name"] == "weather-agent"
    attrs = flatten_attributes(raw["attributes"])
    assert attrs["tag.tags"] == ["weather", "eval"] and attrs["retry.enabled"] is True
    assert attrs["llm.token_count.prompt"] == 412  # an intValue written as a string in proto JSON


def test_pretty_document_lines_point_at_each_span(fixtures: Path) -> None:
    path = fixtures / "otlp" / "protobuf_pretty.json"
    lines = path.read_text().splitlines()
    for span in _spans(path):
        assert '"spanId"' in lines[span.line - 1]


def test_any_value_kinds_are_unpacked() -> None:
    attrs = flatten_attributes([
        {"key": "n", "value": {"intValue": "9007199254740993"}},
        {"key": "f", "value": {"doubleValue": 0.5}},
        {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}},
        {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}},
        {"key": "empty", "value": {}},
    ])  # fmt: skip
    assert attrs == {"n": 9007199254740993, "f": 0.5, "list": ["a", 2], "map": {"k": False}, "empty": None}


def test_gzip_compressed_otlp_lines(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "otlp.jsonl.gz"
    path.write_bytes(gzip.compress((fixtures / "otlp" / "collector.jsonl").read_bytes()))
    assert detect_shape(path) == "otlp"
    assert len(_spans(path)) == 10
