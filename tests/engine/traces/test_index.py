from __future__ import annotations

import gzip
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from support.halo_lines import jsonl, span

from engine.errors import DatasetError
from engine.traces.dataset import Dataset
from engine.traces.index.build import Flag
from engine.traces.index.cache import cache_root, segment_dir
from engine.traces.index.segments import Builder, ensure_segment


def _segment(path: Path, **kw):  # type: ignore[no-untyped-def]
    return ensure_segment(path, cache_root(), **kw)


def _span_ids(seg) -> list[str]:  # type: ignore[no-untyped-def]

    return [sid for c in seg.chunks for sid in c.arrays.string("span_id").to_list()]


def test_a_built_segment_is_reused_as_long_as_the_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a"), span("t1", "b", "a")))
    first = _segment(path)
    again = _segment(path)
    assert (first.built, again.built) == ("built", "fresh")
    assert [c.id for c in again.chunks] == [c.id for c in first.chunks]
    assert again.spans == 2 and again.traces == 1


def test_the_segment_lives_in_the_user_cache_not_next_to_the_traces(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    path = traces / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    seg = _segment(path)
    assert seg.directory.is_relative_to(cache_root())
    assert os.environ["XDG_CACHE_HOME"] in str(seg.directory)
    assert sorted(p.name for p in traces.iterdir()) == ["t.jsonl"]


def test_a_file_that_only_grew_is_read_from_where_the_last_build_stopped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a"), span("t1", "b", "a", start=0.5)))
    first = _segment(path)
    with open(path, "ab") as f:
        f.write(jsonl(span("t2", "c", start=5)))
    grown = _segment(path)
    assert grown.built == "appended"
    assert grown.spans == 3 and grown.traces == 2
    # The new trace shares nothing with the old chunk: that chunk is kept as it was.
    assert grown.chunks[0].id == first.chunks[0].id and len(grown.chunks) == 2
    lines = np.concatenate([c.arrays["line"] for c in grown.chunks]).tolist()
    assert lines == [1, 2, 3]


def test_a_trace_continued_in_the_grown_tail_is_merged_into_one_contiguous_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "root"), span("t2", "x", start=3)))
    _segment(path)
    with open(path, "ab") as f:
        f.write(jsonl(span("t1", "child", "root", start=0.2), span("t1", "orphan-later", "missing", start=0.1)))
    grown = _segment(path)
    assert grown.built == "appended" and len(grown.chunks) == 1
    ds = Dataset.open([path])
    rows = ds.trace_rows("t1")
    assert rows.tolist() == list(range(rows[0], rows[0] + 3))
    child = ds.span_row("t1", "child")
    assert ds.spans.depth[child] == 1 and ds.spans.parent_row[child] == ds.span_row("t1", "root")
    assert ds.spans.flags[ds.span_row("t1", "orphan-later")] & Flag.ORPHAN
    assert ds.spans.line[child] == 3


def test_an_unterminated_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    whole = jsonl(span("t1", "a"), span("t1", "b", "a"))
    cut = whole.index(b"\n") + 20
    path.write_bytes(whole[:cut])
    first = _segment(path)
    assert first.spans == 1 and first.meta["malformed"] == 0
    path.write_bytes(whole)
    done = _segment(path)
    assert done.built == "appended"
    assert done.spans == 2 and done.meta["malformed"] == 0


def test_a_rewritten_file_is_rebuilt_even_with_the_same_size(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a", name="first")))
    _segment(path)
    path.write_bytes(jsonl(span("t1", "a", name="other")))
    os.utime(path, ns=(1, 1))
    seg = _segment(path)
    assert seg.built == "built"
    ds = Dataset.open([path])
    assert ds.spans.name.to_list() == ["other"]


def test_malformed_lines_are_counted_and_sampled_with_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")) + b"{not json\n" + jsonl(span("t1", "b", "a")) + b"[1, 2]\n")
    seg = _segment(path)
    assert seg.spans == 2
    assert seg.meta["malformed"] == 2
    assert [line for line, _ in seg.meta["samples"]] == [2, 4]


def test_duplicate_ids_are_kept_and_flagged_orphans_are_roots_and_cycles_end(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        jsonl(
            span("t1", "root"),
            span("t1", "dup", "root", start=0.1),
            span("t1", "dup", "root", start=0.2),
            span("t1", "lost", "never-exported", start=0.3),
            span("t2", "a", "b"),
            span("t2", "b", "a", start=0.1),
        )
    )
    ds = Dataset.open([path])
    assert ds.n_spans == 6
    flags = {(ds.trace_id_of_row(r), ds.spans.span_id[r], int(ds.spans.flags[r])) for r in range(ds.n_spans)}
    assert ("t1", "dup", Flag.DUPLICATE) in flags
    assert sum(1 for t, s, f in flags if s == "dup") == 1  # both rows identical in this view
    assert [int(ds.spans.flags[r]) & Flag.DUPLICATE for r in ds.trace_rows("t1")].count(Flag.DUPLICATE) == 2
    lost = ds.span_row("t1", "lost")
    assert ds.spans.flags[lost] & Flag.ORPHAN and ds.spans.depth[lost] == 0 and ds.spans.parent_row[lost] == -1
    cycle = ds.trace_rows("t2")
    assert all(ds.spans.flags[r] & Flag.ORPHAN for r in cycle)
    assert ds.quality.duplicate_span_ids == 2 and ds.quality.duplicate_examples == ["t1/dup"]
    assert ds.quality.orphan_spans == 3


def test_a_parallel_build_gives_the_same_index_as_a_serial_one(tmp_path: Path, fixtures: Path) -> None:
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    with Builder(workers=1) as serial:
        one = ensure_segment(path, tmp_path / "serial", builder=serial)
    with Builder(workers=2, piece_bytes=64 << 10, parallel_min_bytes=0) as parallel:
        two = ensure_segment(path, tmp_path / "parallel", builder=parallel)
    a, b = one.chunks[0].arrays, two.chunks[0].arrays
    for x, y in ((a.spans, b.spans), (a.traces, b.traces)):  # strings, dictionaries, lists (NaN != NaN in Arrow)
        assert x.schema == y.schema
        assert all(x.column(n).equals(y.column(n)) for n in x.schema.names if n != "cost"), x.schema.names
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert one.meta["lines"] == two.meta["lines"] == 2000


def test_raw_bytes_of_a_plain_halo_file_point_into_the_source(tmp_path: Path, fixtures: Path) -> None:
    path = tmp_path / "tiny.jsonl"
    shutil.copy(fixtures / "halo" / "tiny_traces.jsonl", path)
    seg = _segment(path)
    assert seg.chunks[0].raw_path is None  # nothing copied
    lines = path.read_bytes().splitlines()
    ds = Dataset.open([path])
    for row in range(ds.n_spans):
        assert ds.raw_bytes(row) == lines[ds.spans.line[row] - 1]


def test_a_gzip_file_is_indexed_with_raw_copies_in_the_cache(tmp_path: Path, fixtures: Path) -> None:
    source = (fixtures / "halo" / "tiny_traces.jsonl").read_bytes()
    path = tmp_path / "tiny.jsonl.gz"
    path.write_bytes(gzip.compress(source))
    seg = _segment(path)
    assert seg.meta["gzip"] and seg.chunks[0].raw_path is not None
    ds = Dataset.open([path])
    lines = source.splitlines()
    assert sorted(ds.raw_bytes(r) for r in range(ds.n_spans)) == sorted(lines)


def _index_in_child(path: str, cache: str, out: str) -> None:
    seg = ensure_segment(Path(path), Path(cache))
    Path(out).write_bytes(orjson.dumps({"spans": seg.spans, "chunks": [c.id for c in seg.chunks]}))


def test_two_processes_indexing_the_same_file_at_once_agree_and_leave_one_segment(
    tmp_path: Path, fixtures: Path
) -> None:
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    cache = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_index_in_child, args=(str(path), str(cache), str(tmp_path / f"out{i}.json")))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    results = [orjson.loads((tmp_path / f"out{i}.json").read_bytes()) for i in range(3)]
    assert all(r == results[0] for r in results) and results[0]["spans"] == 2000
    directory = segment_dir(cache, path)
    names = sorted(p.name for p in directory.iterdir())
    chunk = results[0]["chunks"][0]
    assert names == sorted(["lock", "meta.json", f"{chunk}.spans.arrow", f"{chunk}.traces.arrow"])


def test_an_unusable_cache_directory_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    with pytest.raises(DatasetError, match="HALO_MCP_CACHE_DIR"):
        ensure_segment(path, blocker / "cache")  # (Dataset.open falls back: see test_cache_unusable)


def test_a_grown_otlp_file_keeps_every_raw_span_readable_across_merged_chunks(tmp_path: Path, fixtures: Path) -> None:
    first, second = (fixtures / "otlp" / "collector.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "otlp.jsonl"
    path.write_bytes(first)
    assert _segment(path).chunks[0].raw_path is not None  # OTLP spans are re-serialised: copies in the cache
    with open(path, "ab") as f:
        f.write(second)  # new trace: a second chunk
    assert len(_segment(path).chunks) == 2
    with open(path, "ab") as f:
        f.write(first)  # the first trace again: merged with the chunk that holds it
    grown = _segment(path)
    assert grown.built == "appended" and grown.spans == 15
    ds = Dataset.open([path])
    for row in range(ds.n_spans):
        raw = ds.raw(row)
        assert raw["spanId"] == ds.spans.span_id[row] or raw["spanId"].lower() == ds.spans.span_id[row]
        assert "resource" in raw
    assert ds.quality.duplicate_span_ids == 10
    repeated = orjson.loads(first)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].lower()
    assert sorted(ds.spans.line[ds.trace_rows(repeated)].tolist()) == [1] * 5 + [3] * 5


@pytest.mark.parametrize("suffix", [".spans.arrow", ".traces.arrow", ".raw"])
def test_a_chunk_file_cut_short_by_a_crash_is_rebuilt_not_trusted(tmp_path: Path, fixtures: Path, suffix: str) -> None:
    path = tmp_path / "trace.json"
    shutil.copy(fixtures / "any_agent" / "OPENAI_trace.json", path)
    first = _segment(path)
    (cut,) = [p for p in first.directory.iterdir() if p.name.endswith(suffix)]
    with open(cut, "r+b") as f:  # what an unsynced file can look like after a crash
        f.truncate(cut.stat().st_size // 2)
    again = _segment(path)
    assert again.built == "built"
    assert [c.id for c in again.chunks] != [c.id for c in first.chunks]
    assert not cut.exists()
    assert _segment(path).built == "fresh"
    assert Dataset.open([path]).raw(0)
