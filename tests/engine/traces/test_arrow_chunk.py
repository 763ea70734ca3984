"""A built index's chunks are plain Arrow files: pyarrow and pandas read the spans without our code."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from engine.traces.columns import arrow_chunk
from engine.traces.columns.arrow_chunk import read_chunk_columns
from engine.traces.index.cache import cache_root
from engine.traces.index.segments import ensure_segment


def test_a_chunk_opens_with_plain_pyarrow_and_pandas_and_shows_the_spans(tmp_path: Path, fixtures: Path) -> None:
    path = tmp_path / "tiny.jsonl"
    shutil.copy(fixtures / "halo" / "tiny_traces.jsonl", path)
    source = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    seg = ensure_segment(path, cache_root())
    (chunk,) = seg.chunks

    spans = pa.ipc.open_file(seg.directory / f"{chunk.id}.spans.arrow").read_all()
    assert spans.num_rows == len(source)
    assert spans.schema.field("trace_id").type == pa.dictionary(pa.int32(), pa.string())
    assert spans.schema.field("name").type == pa.dictionary(pa.int32(), pa.string())
    assert spans.schema.field("span_id").type == pa.string()  # 32-bit offsets: far from 2 GiB of text
    assert pa.types.is_list(spans.schema.field("offered_tools").type)
    frame = spans.to_pandas()
    by_id = {s["span_id"]: s for s in source}
    assert sorted(frame["span_id"]) == sorted(by_id)
    for row in frame.itertuples():
        expected = by_id[row.span_id]
        assert row.trace_id == expected["trace_id"]
        assert row.name == expected["name"]
        if expected["parent_span_id"]:
            assert row.parent_id == expected["parent_span_id"]
        else:
            assert pd.isna(row.parent_id)  # a root: null, not ""
    assert frame["tool_args"].isna().any()  # spans that are no tool calls: null
    assert not frame["name"].isna().any()

    traces = pa.ipc.open_file(seg.directory / f"{chunk.id}.traces.arrow").read_all().to_pandas()
    assert sorted(traces["trace_id"]) == sorted({s["trace_id"] for s in source})
    assert traces["span_count"].sum() == len(source)
    for row in traces.itertuples():  # a trace's spans are its row range of the span table
        assert set(frame["trace_id"][row.row_start : row.row_end]) == {row.trace_id}


def test_a_column_past_the_32_bit_offsets_is_stored_wide_and_reads_back_alike(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text of 2 GiB or more in one column needs 64-bit offsets: stored so, read as the 32-bit ones are."""
    path = tmp_path / "realistic.jsonl"  # some of its spans offer tools
    shutil.copy(fixtures / "halo" / "realistic_traces.jsonl", path)
    narrow = ensure_segment(path, tmp_path / "narrow")
    monkeypatch.setattr(arrow_chunk, "WIDE_OFFSETS_FROM", 0)  # every column is "past" it
    wide = ensure_segment(path, tmp_path / "wide")
    schema = pa.ipc.open_file(wide.directory / f"{wide.chunks[0].id}.spans.arrow").schema
    assert schema.field("span_id").type == pa.large_string()
    assert pa.types.is_large_list(schema.field("offered_tools").type)
    assert schema.field("name").type == pa.dictionary(pa.int32(), pa.large_string())

    def rows(seg: Any, cut: int) -> list[tuple[object, ...]]:
        (chunk,) = seg.chunks
        columns = read_chunk_columns(seg.directory, {"id": chunk.id})
        n = columns.spans.num_rows
        columns = columns.slice((cut, n), (0, columns.traces.num_rows))  # Arrow's offset into the buffers
        span_id, parent, args = (columns.string(k) for k in ("span_id", "parent_id", "tool_args"))
        name, offered = columns.categorical("name"), columns.list("offered_tools")
        return [(span_id[i], parent[i], args[i], name[i], offered[i]) for i in range(n - cut)]

    for cut in (0, 1):
        assert rows(wide, cut) == rows(narrow, cut)
    assert any(r[4] for r in rows(wide, 0))  # tools are offered: the lists are read, not only empty ones
    assert any(r[2] is None for r in rows(wide, 0)) and any(r[2] for r in rows(wide, 0))  # nulls and text
