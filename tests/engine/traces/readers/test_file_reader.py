"""FileReader mechanics: byte ranges, resumption, gzip, files still being written."""

from __future__ import annotations

import gzip
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InvalidArgumentError
from engine.traces.model import Malformed, Span
from engine.traces.readers import FileReader, detect_shape
from engine.traces.readers._detect import detect_document
from engine.traces.readers._locate import DocumentLocator


def _ids(items: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(i.span_id, i.line) for i in items if isinstance(i, Span)]


def test_chunks_split_at_newlines_read_the_same_spans_as_the_whole_file(fixtures: Path) -> None:
    path = fixtures / "halo" / "medium_traces.jsonl"
    data = path.read_bytes()
    whole = list(FileReader(path))
    cuts = [0]
    for approx in (len(data) // 3, 2 * len(data) // 3):
        cuts.append(data.index(b"\n", approx) + 1)
    cuts.append(len(data))
    parts: list = []  # type: ignore[type-arg]
    for start, end in pairwise(cuts):
        reader = FileReader(path, "halo", start, end, data.count(b"\n", 0, start) + 1)
        assert reader.line_based
        parts.extend(reader)
        assert reader.end == end and reader.lines == data.count(b"\n", 0, end)
    assert _ids(parts) == _ids(whole)


def test_gzip_file_is_read_transparently_whatever_its_name(fixtures: Path, tmp_path: Path) -> None:
    src = fixtures / "halo" / "tiny_traces.jsonl"
    for name in ("t.jsonl.gz", "t.jsonl"):
        target = tmp_path / name
        target.write_bytes(gzip.compress(src.read_bytes()))
        assert detect_shape(target) == "halo"
        reader = FileReader(target)
        assert _ids(list(reader)) == _ids(list(FileReader(src)))
        assert reader.end == len(src.read_bytes()) and reader.lines == 6


def test_unterminated_last_line_is_left_for_the_next_read(fixtures: Path, tmp_path: Path) -> None:
    lines = (fixtures / "halo" / "tiny_traces.jsonl").read_bytes().split(b"\n")[:6]
    path = tmp_path / "growing.jsonl"
    head = b"\n".join(lines[:5]) + b"\n"
    path.write_bytes(head + lines[5][:40])  # the writer is mid-line
    first = FileReader(path)
    items = list(first)
    assert len(items) == 5 and all(isinstance(i, Span) for i in items)
    assert first.end == len(head) and first.lines == 5
    path.write_bytes(head + lines[5] + b"\n")  # the line is finished
    resumed = FileReader(path, first.shape, start=first.end, first_line=first.lines + 1)
    rest = list(resumed)
    assert _ids(rest) == [("s-cccc-2", 6)]
    assert resumed.end == path.stat().st_size and resumed.lines == 6


def test_complete_last_line_without_newline_is_consumed(fixtures: Path, tmp_path: Path) -> None:
    data = (fixtures / "halo" / "tiny_traces.jsonl").read_bytes().rstrip(b"\n")
    path = tmp_path / "no_final_newline.jsonl"
    path.write_bytes(data)
    reader = FileReader(path)
    assert len([i for i in reader if isinstance(i, Span)]) == 6
    assert reader.end == len(data)


def test_gzip_stream_cut_short_gives_its_complete_lines_without_error(fixtures: Path, tmp_path: Path) -> None:
    data = (fixtures / "halo" / "medium_traces.jsonl").read_bytes()
    packed = gzip.compress(data)
    path = tmp_path / "partial.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items = list(FileReader(path, "halo"))
    assert items and all(isinstance(i, Span) for i in items)
    assert len(items) < 2000 and [i.line for i in items] == list(range(1, len(items) + 1))


def test_blank_lines_are_skipped_but_counted(fixtures: Path, tmp_path: Path) -> None:
    lines = (fixtures / "halo" / "tiny_traces.jsonl").read_bytes().split(b"\n")
    path = tmp_path / "blanks.jsonl"
    path.write_bytes(lines[0] + b"\n\n   \n" + lines[1] + b"\r\n")
    items = list(FileReader(path))
    assert _ids(items) == [("s-aaaa-1", 1), ("s-aaaa-2", 4)]


def test_malformed_line_is_reported_with_file_and_line_and_reading_goes_on(fixtures: Path, tmp_path: Path) -> None:
    lines = (fixtures / "halo" / "tiny_traces.jsonl").read_bytes().split(b"\n")
    path = tmp_path / "one_bad.jsonl"
    path.write_bytes(lines[0] + b"\n" + b'{"trace_id": "t-x", "span_id": oops}\n' + lines[1] + b"\n")
    items = list(FileReader(path))
    assert _ids(items) == [("s-aaaa-1", 1), ("s-aaaa-2", 3)]
    bad = [i for i in items if isinstance(i, Malformed)]
    assert len(bad) == 1 and bad[0].line == 2 and bad[0].sample.startswith('{"trace_id": "t-x"')
    assert str(bad[0]).startswith(f"{path}:2: invalid JSON")


def test_unknown_shape_override_is_refused_with_the_supported_shapes(fixtures: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="openinference_nested"):
        FileReader(fixtures / "halo" / "tiny_traces.jsonl", shape="jaeger")


def test_content_read_by_the_caller_reads_as_the_file_does(fixtures: Path) -> None:
    """A small file handed over as bytes and parsed once (what packs do) gives the same shape,
    spans, bad records and ends as the file read by path."""
    paths = [p for p in sorted(fixtures.rglob("*")) if p.is_file() and p.stat().st_size < 1 << 20]
    paths = [p for p in paths if p.read_bytes()[:2] != b"\x1f\x8b"]
    assert len(paths) > 20
    for path in paths:
        data = path.read_bytes()
        try:
            shape = detect_shape(path)
        except Exception as exc:  # the same error, from the bytes
            with pytest.raises(type(exc)) as again:
                detect_document(path, data)
            assert str(again.value) == str(exc)
            continue
        found, document = detect_document(path, data)
        assert found == shape, path
        by_path, by_content = FileReader(path, shape), FileReader(path, shape, content=data, document=document)
        assert [_row(i) for i in by_content] == [_row(i) for i in by_path], path
        ends = [(r.end, r.lines, r.line_based) for r in (by_content, by_path)]
        assert ends[0] == ends[1], path


def _row(item: Span | Malformed) -> tuple:  # type: ignore[type-arg]
    if isinstance(item, Span):
        return tuple(getattr(item, name) for name in Span.__slots__)
    return (item.path, item.line, item.reason, item.sample)


def test_document_locator_gives_the_same_lines_with_a_newline_index() -> None:
    """Lines found by binary search over newline offsets are the ones counting finds (ids spaced or
    not, a numeric id that prefixes a longer number, searches that go back)."""
    text = '{"id": "a",\n"n":12,\n\n"n": 123,\n  "id":"b", "n":1234}\n"id": "a"\n'
    newlines = np.flatnonzero(np.frombuffer(text.encode(), dtype=np.uint8) == 10)
    asks = [("id", "a", 0), ("n", 123, 0), ("id", "b", 0), ("n", 12, 0), ("id", "a", 0), ("n", 1234, 0), ("x", 1, 7)]
    counted, indexed = DocumentLocator(text, 3), DocumentLocator(text, 3, newlines)
    assert [counted(*a) for a in asks] == [indexed(*a) for a in asks] == [3, 6, 7, 4, 8, 7, 7]
