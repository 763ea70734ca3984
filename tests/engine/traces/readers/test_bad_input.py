"""Bad input: clear errors for what is not a trace file, nothing lost from what is."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from engine.errors import UnknownShapeError
from engine.traces.model import Malformed, Span
from engine.traces.readers import FileReader, detect_shape
from engine.traces.readers._source import SAMPLE_CHARS


def _split(items: list) -> tuple[list[Span], list[Malformed]]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, Span)], [i for i in items if isinstance(i, Malformed)]


@pytest.mark.parametrize(
    ("name", "says"),
    [("binary.bin", "binary file"), ("latin1.txt", "not UTF-8"), ("not_json.log", "not JSON"),
     ("unknown.json", "matches no supported trace shape")],
)
def test_files_that_are_not_traces_get_an_error_naming_the_supported_shapes(
    fixtures: Path, name: str, says: str
) -> None:
    for call in (detect_shape, FileReader):
        with pytest.raises(UnknownShapeError) as err:
            call(fixtures / "bad" / name)
        message = str(err.value)
        assert says in message and str(fixtures / "bad" / name) in message
        assert all(f"`{s}`" in message for s in ("halo", "otlp", "otel_sdk", "openinference_nested", "openai_agents"))
        assert "shape=" in message


def test_gzip_of_a_binary_file_is_still_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 4))
    with pytest.raises(UnknownShapeError, match="binary"):
        detect_shape(path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", gzip.compress(b"")])
def test_an_empty_file_is_an_empty_dataset(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    reader = FileReader(path)
    assert list(reader) == [] and reader.shape == "halo"
    decompressed = gzip.decompress(content) if content.startswith(b"\x1f\x8b") else content
    assert reader.end == len(decompressed)


def test_malformed_lines_are_skipped_counted_and_reported_with_file_and_line(fixtures: Path) -> None:
    path = fixtures / "bad" / "malformed_lines.jsonl"
    reader = FileReader(path)
    spans, bad = _split(list(reader))
    assert [s.line for s in spans] == [1, 3, 9]
    assert [(m.line, m.reason.split(":")[0]) for m in bad] == [
        (2, "invalid JSON"), (4, "expected a JSON object per line, got list"), (5, "missing trace_id or span_id"),
        (7, "start_time"), (8, "invalid JSON"),
    ]  # fmt: skip
    assert str(bad[0]) == f"{path}:2: {bad[0].reason}"
    assert bad[0].sample == '{"trace_id": "t-x", "span_id": oops}'
    assert all(m.path == str(path) and 0 < len(m.sample) <= SAMPLE_CHARS for m in bad)
    assert len(bad[-1].sample) == SAMPLE_CHARS  # the 400-char garbage line, cut
    # the last line is still being written: neither consumed nor malformed
    data = path.read_bytes()
    assert reader.end == data.rindex(b"\n") + 1 and reader.lines == 9


def test_a_truncated_pretty_document_is_one_malformed_record_at_the_failing_line(fixtures: Path) -> None:
    path = fixtures / "bad" / "truncated_pretty.json"
    spans, bad = _split(list(FileReader(path)))
    assert spans == [] and len(bad) == 1
    assert bad[0].reason.startswith("invalid JSON document (truncated or corrupt)")
    assert bad[0].line == len(path.read_text().splitlines())  # it ends mid-line: that line failed


def test_a_truncated_console_dump_keeps_its_complete_objects(fixtures: Path) -> None:
    spans, bad = _split(list(FileReader(fixtures / "bad" / "truncated_console.json")))
    assert [s.name for s in spans] == ["chat gpt-4o-mini", "execute_tool get_weather"]
    assert len(bad) == 1 and bad[0].reason.startswith("invalid JSON document (truncated or corrupt)")
    assert bad[0].line > spans[-1].line and bad[0].sample


def test_a_corrupt_gzip_stream_is_reported_after_the_lines_it_gave(fixtures: Path) -> None:
    spans, bad = _split(list(FileReader(fixtures / "bad" / "corrupt.jsonl.gz")))
    assert len(spans) > 500
    assert bad and bad[-1].reason.startswith("corrupt gzip stream")
    assert [s.line for s in spans] == list(range(1, len(spans) + 1))


def test_a_record_of_the_wrong_shape_under_an_override_is_malformed_not_fatal(fixtures: Path) -> None:
    spans, bad = _split(list(FileReader(fixtures / "halo" / "tiny_traces.jsonl", shape="otlp")))
    assert spans == [] and [m.line for m in bad] == [1, 2, 3, 4, 5, 6]
    assert "resourceSpans" in bad[0].reason


def test_one_bad_span_inside_a_good_request_does_not_lose_the_others(fixtures: Path, tmp_path: Path) -> None:
    request = json.loads((fixtures / "otlp" / "collector.jsonl").read_text().splitlines()[0])
    del request["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"]
    path = tmp_path / "one_bad_span.jsonl"
    path.write_text(json.dumps(request) + "\n")
    spans, bad = _split(list(FileReader(path)))
    assert len(spans) == 4 and len(bad) == 1 and bad[0].line == 1
    assert "spanId" in bad[0].reason


def test_a_byte_order_mark_is_not_a_malformed_line(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (fixtures / "halo" / "tiny_traces.jsonl").read_bytes())
    spans, bad = _split(list(FileReader(path)))
    assert len(spans) == 6 and bad == []


def test_nested_children_that_are_not_objects_are_reported(tmp_path: Path) -> None:
    span = {"timestamp": "2025-03-19T16:40:46Z", "trace_id": "ab" * 16, "span_id": "cd" * 8,
            "parent_span_id": None, "span_name": "root", "duration": "PT1S", "child_spans": ["oops"]}  # fmt: skip
    path = tmp_path / "nested.json"
    path.write_text(json.dumps({"trace_id": "ab" * 16, "spans": [span]}))
    spans, bad = _split(list(FileReader(path)))
    assert [s.name for s in spans] == ["root"] and len(bad) == 1 and "got str" in bad[0].reason
