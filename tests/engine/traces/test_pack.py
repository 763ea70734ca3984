"""Packs: many small files of a directory indexed together, and read back exactly as one segment each would be."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.halo_lines import jsonl, span

from engine.errors import UnknownShapeError
from engine.traces.dataset import Dataset
from engine.traces.index import cache
from engine.traces.index.pack import PACK_MIN_FILES, load_packs, pack_home

# Every fixture shape, several files of each (the same trace ids recur across files on purpose).
_SHAPE_FILES = [
    "halo/tiny_traces.jsonl", "halo/realistic_traces.jsonl", "otlp/collector.jsonl", "otlp/protobuf_pretty.json",
    "otel_sdk/console.json", "otel_sdk/spans_list.json", "openai_agents/spans.jsonl", "openai_agents/batch.json",
    "any_agent/OPENAI_trace.json", "any_agent/LANGCHAIN_trace.json", "bad/malformed_lines.jsonl", "bad/empty.jsonl",
]  # fmt: skip


def _mixed_folder(tmp_path: Path, fixtures: Path, copies: int = 2) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(copies):
        for rel in _SHAPE_FILES:
            src = fixtures / rel
            shutil.copy(src, folder / f"{i}_{src.parent.name}_{src.name}")
    for trail in sorted((fixtures / "trail").glob("*.json")):
        shutil.copy(trail, folder / f"trail_{trail.name}")
    assert len(list(folder.iterdir())) >= PACK_MIN_FILES
    return folder


def _records(ds: Dataset, file_index: int) -> list[tuple[Any, ...]]:
    """Everything the index says about a file's spans, with ids instead of row numbers."""
    s, t = ds.spans, ds.traces
    rows = np.flatnonzero(np.asarray(s.file) == file_index)
    out = []
    for r in rows.tolist():
        parent = int(s.parent_row[r])
        trace = int(s.trace[r])
        out.append((
            ds.trace_id_of_row(r), s.span_id[r], s.parent_id[r], s.span_id[parent] if parent >= 0 else None,
            int(s.depth[r]), s.name[r], int(s.kind[r]), int(s.status[r]), int(s.start_ns[r]), int(s.end_ns[r]),
            int(s.input_tokens[r]), int(s.output_tokens[r]), s.model[r], s.tool_name[r], s.tool_args[r],
            int(s.flags[r]), int(s.line[r]), s.offered_tools[r], ds.raw_bytes(r),
            int(t.span_count[trace]), int(t.error_count[trace]), t.services[trace], int(t.input_tokens[trace]),
        ))  # fmt: skip
    return out


def _pack_dirs(folder: Path) -> list[Path]:
    return [p.directory for p in load_packs(pack_home(cache.cache_root(), folder))]


def test_a_folder_of_many_small_files_is_one_pack_that_reads_exactly_like_one_segment_per_file(
    tmp_path: Path, fixtures: Path
) -> None:
    folder = _mixed_folder(tmp_path, fixtures)
    ds = Dataset.open([folder])
    assert len(_pack_dirs(folder)) == 1
    assert not (cache.cache_root() / f"v{cache.INDEX_FORMAT}" / "segments").exists()
    assert {f.index for f in ds.files} == {"built"}
    for i, info in enumerate(ds.files):
        alone = Dataset.open([info.path], cache_dir=tmp_path / "alone")  # one file: its own segment
        assert alone.files[0]._replace(index="") == info._replace(index="")
        assert _records(ds, i) == _records(alone, 0), info.path
    assert (
        ds.quality.malformed_lines == 2 * Dataset.open([fixtures / "bad/malformed_lines.jsonl"]).quality.malformed_lines
    )
    assert any("0_bad_malformed_lines.jsonl:" in s for s in ds.quality.malformed_samples)


def test_a_trace_id_in_two_packed_files_stays_two_traces_with_parents_linked_within_each_file(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    for i in range(PACK_MIN_FILES):
        # every file has trace "shared" with the same span ids: a root and a child
        (folder / f"run{i:02d}.jsonl").write_bytes(
            jsonl(span("shared", "root"), span("shared", "child", "root", start=i))
        )
    ds = Dataset.open([folder])
    assert len(_pack_dirs(folder)) == 1
    assert ds.n_traces == PACK_MIN_FILES and len(ds.trace_indices("shared")) == PACK_MIN_FILES
    assert ds.quality.traces_in_several_files == 1 and ds.quality.duplicate_span_ids == 0
    parents = np.asarray(ds.spans.parent_row)
    files = np.asarray(ds.spans.file)
    children = np.flatnonzero(parents >= 0)
    assert len(children) == PACK_MIN_FILES and (files[parents[children]] == files[children]).all()


def test_reopening_a_packed_folder_builds_nothing_and_gives_the_same_rows(tmp_path: Path, fixtures: Path) -> None:
    folder = _mixed_folder(tmp_path, fixtures)
    first = Dataset.open([folder])
    again = Dataset.open([folder])
    assert {f.index for f in again.files} == {"fresh"}
    assert again.fingerprint == first.fingerprint
    assert [_records(again, i) for i in range(len(again.files))] == [
        _records(first, i) for i in range(len(first.files))
    ]


def _runs_folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    for i in range(count):
        (folder / f"run{i:02d}.jsonl").write_bytes(jsonl(span(f"t{i}", "root")))
    return folder


def test_one_changed_file_gets_its_own_segment_while_the_pack_serves_the_rest(tmp_path: Path) -> None:
    folder = _runs_folder(tmp_path, PACK_MIN_FILES + 2)
    before = Dataset.open([folder])
    packs = _pack_dirs(folder)
    (folder / "run03.jsonl").write_bytes(jsonl(span("t3", "root"), span("t3", "late", "root", start=5)))
    after = Dataset.open([folder])
    assert after.n_spans == before.n_spans + 1 and len(after.trace_rows("t3")) == 2
    assert _pack_dirs(folder) == packs
    assert [f.index for f in after.files].count("built") == 1
    assert after.files[3].index == "built" and after.files[3].spans == 2


def test_many_changed_files_are_repacked_and_the_small_old_pack_deleted(tmp_path: Path) -> None:
    folder = _runs_folder(tmp_path, PACK_MIN_FILES + 2)
    Dataset.open([folder])
    old_packs = _pack_dirs(folder)
    for i in range(PACK_MIN_FILES):
        (folder / f"run{i:02d}.jsonl").write_bytes(jsonl(span(f"t{i}", "root"), span(f"t{i}", "late", "root")))
    after = Dataset.open([folder])
    assert after.n_spans == 2 * PACK_MIN_FILES + 2
    new_packs = _pack_dirs(folder)
    assert len(new_packs) == 1 and new_packs != old_packs and not old_packs[0].exists()
    assert {f.index for f in after.files} == {"built"}  # the unchanged two were absorbed into the new pack


def test_new_files_go_into_a_new_pack_while_a_big_pack_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.traces.index import pack

    monkeypatch.setattr(pack, "PACK_ABSORB_BYTES", 0)  # every pack counts as big enough to keep
    folder = _runs_folder(tmp_path, PACK_MIN_FILES)
    Dataset.open([folder])
    for i in range(PACK_MIN_FILES):
        (folder / f"run{50 + i:02d}.jsonl").write_bytes(jsonl(span(f"t{50 + i}", "root")))
    ds = Dataset.open([folder])
    assert len(_pack_dirs(folder)) == 2
    assert [f.index for f in ds.files] == ["fresh"] * PACK_MIN_FILES + ["built"] * PACK_MIN_FILES
    assert ds.trace_rows("t50").tolist() == [PACK_MIN_FILES]


def test_a_subset_of_a_packed_folder_is_served_by_the_same_pack(tmp_path: Path, fixtures: Path) -> None:
    folder = _mixed_folder(tmp_path, fixtures)
    whole = Dataset.open([folder])
    pack_dirs = _pack_dirs(folder)
    chosen = sorted(folder.glob("1_*"))[::2] + sorted(folder.glob("0_halo*"))
    subset = Dataset.open(chosen)
    assert _pack_dirs(folder) == pack_dirs  # nothing built
    assert {f.index for f in subset.files} == {"fresh"}
    by_path = {f.path: i for i, f in enumerate(whole.files)}
    for i, info in enumerate(subset.files):
        assert _records(subset, i) == _records(whole, by_path[info.path])
    # the overview's summary covers only the chosen files
    assert subset.summary["kinds"] == [
        int(np.count_nonzero(np.asarray(subset.spans.kind) == k)) for k in range(len(subset.summary["kinds"]))
    ]
    snap = Dataset.open_snapshot(subset.snapshot())
    assert [_records(snap, i) for i in range(len(snap.files))] == [
        _records(subset, i) for i in range(len(subset.files))
    ]


def test_a_non_trace_file_among_many_is_skipped_but_named_alone_it_fails(tmp_path: Path, fixtures: Path) -> None:
    folder = _mixed_folder(tmp_path, fixtures)
    shutil.copy(fixtures / "bad" / "unknown.json", folder / "zz_unknown.json")
    ds = Dataset.open([folder])
    assert any("zz_unknown.json" in s for s in ds.quality.skipped_files)
    assert all(not f.path.endswith("zz_unknown.json") for f in ds.files)
    with pytest.raises(UnknownShapeError):
        Dataset.open(sorted(folder.iterdir()))  # every file named: the unknown one is an error


_CONCURRENT = """
import json, sys
from engine.traces.dataset import Dataset
ds = Dataset.open([sys.argv[1]])
print(json.dumps([ds.n_spans, ds.n_traces, [f.spans for f in ds.files]]))
"""


def test_two_processes_opening_a_new_folder_at_once_agree_and_leave_one_pack(tmp_path: Path, fixtures: Path) -> None:
    folder = _mixed_folder(tmp_path, fixtures)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    children = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(folder)], stdout=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    outputs = [c.communicate(timeout=120)[0] for c in children]
    assert all(c.returncode == 0 for c in children)
    assert len(set(outputs)) == 1
    assert len(_pack_dirs(folder)) == 1


def test_a_same_size_rewrite_that_left_the_stat_unchanged_is_caught_by_the_content_hash(tmp_path: Path) -> None:
    """Coarse filesystem clocks can give a rewrite the same mtime and ctime: files written
    just before they were packed keep a content hash, checked on open."""
    folder = _runs_folder(tmp_path, PACK_MIN_FILES)
    Dataset.open([folder])
    target = folder / "run03.jsonl"
    target.write_bytes(target.read_bytes().replace(b'"root"', b'"ROOT"'))  # same size, new content
    (pack,) = load_packs(pack_home(cache.cache_root(), folder))
    members = pack.members
    members.table = members.table.copy()
    row = members.table[members.index[target.name] :][:1]
    st = target.stat()  # as if the filesystem had not moved the timestamps:
    row["size"], row["mtime_ns"], row["ctime_ns"], row["ino"] = st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
    members.write(pack.directory)
    ds = Dataset.open([folder])
    assert ds.spans.span_id[int(ds.trace_rows("t3")[0])] == "ROOT"


def test_a_folder_over_the_pack_size_is_split_into_packs_built_by_worker_processes(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.traces.index import pack

    folder = _mixed_folder(tmp_path, fixtures, copies=3)
    total = sum(p.stat().st_size for p in folder.iterdir())
    monkeypatch.setattr(pack, "PACK_BYTES", total // 4)
    monkeypatch.setattr(pack, "PACK_ABSORB_BYTES", 0)
    ds = Dataset.open([folder])
    assert len(_pack_dirs(folder)) >= 4
    assert len({(loc.directory) for loc in ds._opened.locations}) >= 4
    for i, info in enumerate(ds.files):
        alone = Dataset.open([info.path], cache_dir=tmp_path / "alone")
        assert _records(ds, i) == _records(alone, 0), info.path
    assert {f.index for f in Dataset.open([folder]).files} == {"fresh"}


