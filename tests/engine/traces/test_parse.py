from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from support.odd_halo import odd_halo_lines

from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn, StringColumn
from engine.traces.index.build import (
    CATEGORICAL_FIELDS,
    LIST_FIELDS,
    STRING_FIELDS,
    Flag,
    Piece,
    PieceBuilder,
)
from engine.traces.index.parse import parse_range, split_at_newlines
from engine.traces.model import Span
from engine.traces.readers import FileReader, _source

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _reader_piece(path: Path, start: int, end: int | None, shape: str = "halo", source_raw: bool = True) -> Piece:
    """The general path: FileReader's spans, one by one, into a PieceBuilder (pointing at the source)."""
    reader = FileReader(path, shape=shape, start=start, end=end, first_line=1)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    builder = PieceBuilder()
    if source_raw:
        builder = PieceBuilder(data, start, np.concatenate([[0], newlines + 1]).astype(np.int64))
    builder.add_all(reader)
    return builder.finish(lines=reader.lines, end=reader.end)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.tobytes())
    if isinstance(value, StringColumn):
        return [_plain(a) for a in (value.starts, value.lengths, value.blob)]
    if isinstance(value, CategoricalColumn):
        return [_plain(value.codes), _plain(value.values)]
    if isinstance(value, ListColumn):
        return [_plain(a) for a in (value.starts, value.lengths, value.items, value.values)]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fields(piece: Piece) -> dict[str, Any]:
    return {name: _plain(getattr(piece, name)) for name in Piece.__dataclass_fields__}


def _malformed_file(tmp_path: Path) -> Path:
    good = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()
    lines = [
        b"\xef\xbb\xbf" + good[0],
        b"",
        b"{not json",
        b"[1, 2]",
        b'{"trace_id": "t", "span_id": ""}',
        b'{"trace_id": "t", "span_id": "s", "start_time": "yesterday"}',
        b'{"trace_id": "t", "span_id": "s", "attributes": 5}',
        *good[1:],
        b"   ",
        good[0] + b"\r",
        good[1],  # no newline after the last line: a complete record all the same
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


@pytest.mark.parametrize("name", ["halo/medium_traces.jsonl", "halo/realistic_traces.jsonl", "halo/tiny_traces.jsonl"])
def test_the_halo_fast_path_gives_the_same_piece_as_the_reader_for_every_range(name: str) -> None:
    path = FIXTURES / name
    size = path.stat().st_size
    for start, end in [(0, None), *split_at_newlines(path, 0, size, 4096)]:
        assert _fields(parse_range(str(path), "halo", start, end, True)) == _fields(_reader_piece(path, start, end))


def test_the_halo_fast_path_reports_bad_lines_like_the_reader(tmp_path: Path) -> None:
    path = _malformed_file(tmp_path)
    fast = parse_range(str(path), "halo", 0, None, True)
    assert _fields(fast) == _fields(_reader_piece(path, 0, None))
    assert fast.malformed == 5 and [line for line, _ in fast.samples] == [3, 4, 5, 6, 7]
    for start, end in split_at_newlines(path, 0, path.stat().st_size, 700):
        assert _fields(parse_range(str(path), "halo", start, end, True)) == _fields(_reader_piece(path, start, end))


def test_the_halo_fast_path_leaves_an_unfinished_last_line_for_the_next_read(tmp_path: Path) -> None:
    good = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes()
    path = tmp_path / "growing.jsonl"
    path.write_bytes(good + good[:40])
    fast = parse_range(str(path), "halo", 0, None, True)
    assert fast.end == len(good) and fast.malformed == 0
    assert _fields(fast) == _fields(_reader_piece(path, 0, None))


def test_a_halo_span_whose_service_name_or_tool_names_are_not_text_still_builds(tmp_path: Path) -> None:
    good = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()[0]
    lines = []
    for service in (7, {"a": 1}, ["x"], 1.5, None, ""):
        obj = orjson.loads(good)
        obj["resource"]["attributes"]["service.name"] = service
        obj["attributes"]["llm.tools.0.tool.name"] = service
        obj["attributes"]["openinference.span.kind"] = "LLM"
        lines.append(orjson.dumps(obj))
    path = tmp_path / "odd_services.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    piece = parse_range(str(path), "halo", 0, None, True)
    assert piece.n == 6 and piece.malformed == 0
    assert piece.categorical["service"].to_list() == ["7", "{'a': 1}", "['x']", "1.5", None, None]
    assert piece.lists["offered_tools"].take(range(6)) == [[]] * 6
    assert _fields(piece) == _fields(_reader_piece(path, 0, None))


@pytest.mark.parametrize(("rate", "bad"), [(0.005, 0.0), (0.05, 0.002), (0.5, 0.03)])
def test_the_halo_fast_path_reads_odd_values_and_bad_lines_like_the_reader(
    tmp_path: Path, rate: float, bad: float
) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(odd_halo_lines(seed=3, count=6000, rate=rate, bad=bad)) + b"\n")
    size = path.stat().st_size
    for start, end in [(0, None), *split_at_newlines(path, 0, size, size // 5)]:
        assert _fields(parse_range(str(path), "halo", start, end, True)) == _fields(_reader_piece(path, start, end))


@pytest.mark.parametrize("source_raw", [True, False])  # the HALO fast path; spans one by one (other shapes)
def test_a_piece_holds_each_span_s_values(tmp_path: Path, source_raw: bool) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(odd_halo_lines(seed=4, count=3000, rate=0.3, bad=0.0)) + b"\n")
    spans = [s for s in FileReader(path, shape="halo") if isinstance(s, Span)]
    piece = parse_range(str(path), "halo", 0, None, source_raw)
    assert piece.n == len(spans) > 1000

    def int64(v: int) -> int:
        return v if -(2**63) <= v < 2**63 else 0

    assert [piece.trace_ids[i] for i in piece.trace_local.tolist()] == [s.trace_id for s in spans]
    assert piece.span_id.to_list() == [s.span_id for s in spans]
    assert piece.parent_id.to_list() == [s.parent_id or None for s in spans]
    for f in CATEGORICAL_FIELDS:
        assert piece.categorical[f].to_list() == [getattr(s, f) or None for s in spans], f
    for f in STRING_FIELDS:
        assert piece.strings[f].to_list() == [getattr(s, f) for s in spans], f
    for f in LIST_FIELDS:
        assert piece.lists[f].take(range(piece.n)) == [list(getattr(s, f)) for s in spans], f
    numbers = {k: v.tolist() for k, v in piece.numbers.items()}
    assert numbers["kind"] == [int(s.kind) for s in spans]
    assert numbers["status"] == [int(s.status) for s in spans]
    assert numbers["start_ns"] == [int64(s.start_ns) for s in spans]
    assert numbers["end_ns"] == [int64(s.end_ns) for s in spans]
    for f in ("input_tokens", "output_tokens"):
        assert numbers[f] == [-1 if v is None or int64(v) != v else v for v in (getattr(s, f) for s in spans)], f
    assert numbers["cost"] == pytest.approx([math.nan if s.cost is None else s.cost for s in spans], nan_ok=True)
    assert numbers["line"] == [s.line for s in spans]
    assert numbers["raw_size"] == [len(s.raw) for s in spans]
    assert piece.raw == (b"" if source_raw else b"".join(s.raw for s in spans))
    flags = [(Flag.EXCEPTION if s.exception else 0) | (Flag.OUTPUT_ERROR if s.output_error else 0)
             | (Flag.REFUSAL if s.refusal else 0) for s in spans]  # fmt: skip
    assert numbers["flags"] == flags


_VALUE_SHAPES = [("openai_agents", "openai_agents/spans.jsonl"), ("otel_sdk", "otel_sdk/spans.jsonl"),
                 ("otlp", "otlp/collector.jsonl"), ("otlp", "otlp/protobuf.jsonl"),
                 ("langfuse", "langfuse/observations.jsonl")]  # fmt: skip


@pytest.mark.parametrize(("shape", "name"), _VALUE_SHAPES)
@pytest.mark.parametrize(("long_lines", "source_raw"), [(False, False), (False, True), (True, False)])
def test_jsonl_of_the_other_shapes_reads_into_the_same_piece_as_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str, name: str, long_lines: bool, source_raw: bool
) -> None:
    good = (FIXTURES / name).read_bytes().splitlines()
    first = orjson.loads(good[0])
    lines = [
        b"\xef\xbb\xbf" + good[0], b"", b"{not json", b"[1, 2]", b"5", b'"text"', b"{}", b"[]", b"   ",
        b"[" * 3000 + b"]" * 3000, b'{"a": 12345678901234567890123, ', b'[{"a": 12345678901234567890123}]',
        orjson.dumps([first, first]), orjson.dumps({"data": [first, 7]}), orjson.dumps({"spans": [first, "x"]}),
        *good[1:], good[0] + b"\r", good[-1],  # the last line without a newline: a record all the same
    ]  # fmt: skip
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    if long_lines:  # lines past MAX_LINE_BYTES: the reader's own path, which reports them
        monkeypatch.setattr(_source, "MAX_LINE_BYTES", max(map(len, good)) - 1)
    piece = parse_range(str(path), shape, 0, None, source_raw)
    assert piece.malformed >= 4 and (long_lines or piece.n >= len(good))
    assert _fields(piece) == _fields(_reader_piece(path, 0, None, shape, source_raw))
    for start, end in split_at_newlines(path, 0, path.stat().st_size, 1500):
        assert _fields(parse_range(str(path), shape, start, end, source_raw)) == _fields(
            _reader_piece(path, start, end, shape, source_raw)
        )


def test_spans_added_as_columns_and_one_by_one_keep_their_order() -> None:
    path = FIXTURES / "halo" / "realistic_traces.jsonl"
    spans = [s for s in FileReader(path, shape="halo") if isinstance(s, Span)]
    one_by_one = PieceBuilder()
    one_by_one.add_all(spans)
    mixed = PieceBuilder()
    mixed.add_all(spans[:10])
    rows = [tuple(getattr(s, f) for f in Span.__slots__) for s in spans[10:30]]  # type: ignore[attr-defined]
    mixed.add_columns(list(zip(*rows, strict=True)))
    for span in spans[30:]:
        mixed.add(span)
    assert len(mixed) == len(spans)
    assert _fields(mixed.finish(lines=58, end=9)) == _fields(one_by_one.finish(lines=58, end=9))
