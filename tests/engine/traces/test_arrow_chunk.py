"""A built index's chunks are plain Arrow files: pyarrow and pandas read the spans without our code."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa

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
    assert spans.schema.field("span_id").type == pa.large_string()
    assert pa.types.is_large_list(spans.schema.field("offered_tools").type)
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
