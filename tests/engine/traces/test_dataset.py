from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from support.halo_lines import jsonl, span

from engine.errors import DatasetError, UnknownIdError, UnknownShapeError
from engine.traces.dataset import QUALITY_EXAMPLES, Dataset, resolve_paths
from engine.traces.frames import span_frame, trace_frame
from engine.traces.model import SpanKind


def _halo_dir(tmp_path: Path, fixtures: Path) -> Path:
    d = tmp_path / "traces"
    (d / "nested").mkdir(parents=True)
    shutil.copy(fixtures / "halo" / "tiny_traces.jsonl", d / "tiny.jsonl")
    shutil.copy(fixtures / "halo" / "realistic_traces.jsonl", d / "nested" / "realistic.jsonl")
    (d / "README.md").write_text("not traces")
    return d


def test_a_directory_is_read_recursively_for_trace_files_only(tmp_path: Path, fixtures: Path) -> None:
    d = _halo_dir(tmp_path, fixtures)
    ds = Dataset.open([d])
    assert sorted(Path(f.path).name for f in ds.files) == ["realistic.jsonl", "tiny.jsonl"]
    assert ds.n_spans == 6 + 58 and ds.n_traces == 3 + 3


def test_globs_and_files_are_resolved_and_deduplicated(tmp_path: Path, fixtures: Path) -> None:
    d = _halo_dir(tmp_path, fixtures)
    found = resolve_paths([str(d / "**" / "*.jsonl"), d / "tiny.jsonl"])
    assert sorted(p.name for p, _ in found) == ["realistic.jsonl", "tiny.jsonl"]
    assert dict((p.name, explicit) for p, explicit in found)["tiny.jsonl"] is True


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.jsonl", "does not exist"),
        (lambda d: d, "no trace files under"),
        (lambda d: d / "*.nothing", "matches no files"),
    ],
)
def test_paths_that_give_no_files_are_explained(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError, match=message):
        Dataset.open([make(tmp_path)])


def test_a_non_trace_file_in_a_directory_is_skipped_and_reported_but_named_alone_it_fails(tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.jsonl").write_bytes(jsonl(span("t1", "a")))
    (d / "package.json").write_text('{"name": "not-a-trace", "version": "1.0.0"}')
    ds = Dataset.open([d])
    assert [Path(f.path).name for f in ds.files] == ["good.jsonl"]
    assert len(ds.quality.skipped_files) == 1 and "package.json" in ds.quality.skipped_files[0]
    with pytest.raises(UnknownShapeError):
        Dataset.open([d / "package.json"])


def test_many_skipped_files_are_counted_and_listed_short_and_bounded(tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.jsonl").write_bytes(jsonl(span("t1", "a")))
    for n in range(QUALITY_EXAMPLES + 20):
        (d / f"package{n:03}.json").write_text('{"name": "not-a-trace", "version": "1.0.0"}')
    q = Dataset.open([d]).quality
    assert q.skipped_total == QUALITY_EXAMPLES + 20
    assert len(q.skipped_files) == QUALITY_EXAMPLES
    first = q.skipped_files[0]
    assert first.startswith(str((d / "package000.json").resolve()) + " is JSON but matches no supported trace shape")
    assert first.count("package000.json") == 1 and "Supported trace shapes" not in first
    assert all(len(s) < len(str(d)) + 150 for s in q.skipped_files)


def test_a_trace_id_in_two_files_is_reported_and_kept_apart(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(jsonl(span("shared", "a1"), span("only-a", "x")))
    (tmp_path / "b.jsonl").write_bytes(jsonl(span("shared", "b1", start=9), span("shared", "b2", "b1", start=9.5)))
    ds = Dataset.open([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert ds.n_traces == 3
    parts = ds.trace_indices("shared")
    assert len(parts) == 2
    assert sorted(int(ds.traces.span_count[t]) for t in parts) == [1, 2]
    assert len(ds.trace_rows("shared")) == 3
    assert ds.quality.traces_in_several_files == 1
    assert ds.quality.several_files_examples == ["shared: a.jsonl, b.jsonl"]


def test_unknown_ids_are_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(jsonl(span("t1", "a")))
    ds = Dataset.open([tmp_path / "a.jsonl"])
    with pytest.raises(UnknownIdError, match=r"'nope'"):
        ds.trace_rows("nope")
    with pytest.raises(UnknownIdError, match=r"'zzz'.*'t1'"):
        ds.span_row("t1", "zzz")


def _llm(trace: str, sid: str, parent: str, tin: int, tout: int) -> dict:
    return span(
        trace, sid, parent, kind="LLM", attributes={"llm.token_count.prompt": tin, "llm.token_count.completion": tout}
    )


def test_trace_tokens_count_llm_spans_once_not_the_agent_totals_that_repeat_them(tmp_path: Path) -> None:
    agent = span(
        "t1", "agent", kind="AGENT", attributes={"llm.token_count.prompt": 30, "llm.token_count.completion": 7}
    )
    tool = span(
        "t2", "tool-root", kind="CHAIN", attributes={"llm.token_count.prompt": 99, "llm.token_count.completion": 1}
    )
    leaf = span(
        "t2",
        "leaf",
        "tool-root",
        kind="TOOL",
        attributes={"llm.token_count.prompt": 5, "llm.token_count.completion": 2},
    )
    path = tmp_path / "tok.jsonl"
    path.write_bytes(jsonl(agent, _llm("t1", "l1", "agent", 10, 3), _llm("t1", "l2", "agent", 20, 4), tool, leaf))
    ds = Dataset.open([path])
    t1, t2 = ds.trace_indices("t1")[0], ds.trace_indices("t2")[0]
    assert (ds.traces.input_tokens[t1], ds.traces.output_tokens[t1]) == (30, 7)
    assert ds.traces.llm_calls[t1] == 2
    # no LLM span: the leaf's own figures, not the parent's rollup
    assert (ds.traces.input_tokens[t2], ds.traces.output_tokens[t2]) == (5, 2)


def test_trace_rollups_cover_bounds_errors_and_distinct_names(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        jsonl(
            span("t1", "root", kind="AGENT", start=0, end=10, service="svc-a"),
            span("t1", "call", "root", kind="TOOL", start=2, end=12, status="STATUS_CODE_ERROR", message="boom",
                 attributes={"tool.name": "search"}, service="svc-b"),
            span("t1", "call2", "root", kind="TOOL", start=3, attributes={"tool.name": "search"}, service="svc-a"),
        )
    )
    ds = Dataset.open([path])
    t = ds.traces
    assert t.span_count[0] == 3 and t.error_count[0] == 1 and t.tool_calls[0] == 2
    assert t.duration_ns[0] == 12 * 10**9
    assert t.services[0] == ["svc-a", "svc-b"] and t.tools[0] == ["search"]
    assert ds.spans.span_id[int(t.root_row[0])] == "root"
    assert ds.spans.kind[ds.span_row("t1", "call")] == SpanKind.TOOL


def test_reopening_maps_the_index_instead_of_reading_the_files(tmp_path: Path, fixtures: Path) -> None:
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    first = Dataset.open([path])
    again = Dataset.open([path])
    assert [f.index for f in first.files] == ["built"] and [f.index for f in again.files] == ["fresh"]
    start = again.spans.start_ns
    assert not start.flags.writeable and not start.flags.owndata  # a view of the mapped cache file
    np.testing.assert_array_equal(start, first.spans.start_ns)


def test_span_frame_has_the_canonical_columns(tmp_path: Path, fixtures: Path) -> None:
    ds = Dataset.open([fixtures / "halo" / "tiny_traces.jsonl"])
    df = span_frame(ds)
    for column in (
        "trace_id", "span_id", "parent_id", "name", "kind", "status", "status_message", "start_ns", "end_ns",
        "duration_ms", "service", "model", "input_tokens", "output_tokens", "cost", "tool_name", "agent_name",
        "raw_size", "file", "line",
    ):  # fmt: skip
        assert column in df.columns, column
    assert len(df) == 6
    assert set(df.trace_id) == {"t-aaaa", "t-bbbb", "t-cccc"}
    assert (df.status == "ERROR").sum() == 2
    assert df.loc[df.kind == "LLM", "model"].notna().all()
    assert df.input_tokens.isna().sum() == (df.kind != "LLM").sum()
    trace_df = trace_frame(ds)
    assert list(trace_df.trace_id) == ["t-aaaa", "t-bbbb", "t-cccc"]
    assert trace_df.set_index("trace_id").loc["t-bbbb", "error_count"] == 2


@pytest.mark.parametrize("folder", ["any_agent", "trail", "otlp", "otel_sdk", "openai_agents"])
def test_every_fixture_shape_is_indexed_with_readable_raw_spans_and_trees(fixtures: Path, folder: str) -> None:
    from engine.traces import store

    ds = Dataset.open([fixtures / folder])
    assert ds.n_spans > 0 and ds.quality.malformed_lines == 0
    assert all(isinstance(ds.raw(r), dict) for r in range(ds.n_spans))
    for t in range(ds.n_traces):
        trace_id = ds.traces.trace_id[t]
        view = store.view_trace(ds, trace_id)  # every file's part of the trace, each as a tree
        assert sorted(v.row for v in view) == sorted(ds.trace_rows(trace_id).tolist())
    assert ds.traces.span_count.sum() == ds.n_spans
    if folder in ("trail", "otlp"):
        assert ds.spans.depth.max() >= 1  # parents linked, not all roots



def test_a_snapshot_maps_the_same_chunks_even_after_the_file_grew(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    parent = Dataset.open([path])
    snap = parent.snapshot()
    with open(path, "ab") as f:
        f.write(jsonl(span("t2", "b")))
    child = Dataset.open_snapshot(snap)
    assert child.n_spans == 1 and child.fingerprint == parent.fingerprint
    Dataset.open([path])  # appends a chunk: the snapshot still names only the old one
    assert Dataset.open_snapshot(snap).n_spans == 1
    path.write_bytes(jsonl(span("t9", "z"), span("t9", "y")))  # rewritten: rebuilt, old chunk deleted
    Dataset.open([path])
    with pytest.raises(DatasetError, match=r"changed since the snapshot"):
        Dataset.open_snapshot(snap)


def test_raw_spans_read_from_many_threads_over_many_files_come_back_intact(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from engine.traces.index import raw

    paths = []
    for i in range(raw.OPEN_SOURCE_FILES + 8):  # more files than descriptors kept open: evictions happen
        path = tmp_path / f"f{i}.jsonl"
        path.write_bytes(jsonl(*(span(f"t{i}", f"s{i}-{j}", start=j) for j in range(20))))
        paths.append(path)
    ds = Dataset.open(paths)
    expected = {r: f"s{r // 20}-{r % 20}" for r in range(ds.n_spans)}

    def check(seed: int) -> int:
        rows = [(seed * 7919 + k * 104729) % ds.n_spans for k in range(400)]
        return sum(ds.raw(r)["span_id"] == expected[r] for r in rows)

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(check, range(16))) == 16 * 400


def test_many_traces_in_several_files_are_counted_and_their_rows_kept_in_order(tmp_path: Path) -> None:
    shared = [f"s{i:02d}" for i in range(QUALITY_EXAMPLES + 3)]
    for name in ("a", "b", "c"):
        spans = [span(t, f"{name}-{t}") for t in shared] + [span(f"only-{name}", f"{name}-x")]
        (tmp_path / f"{name}.jsonl").write_bytes(jsonl(*spans))
    ds = Dataset.open([tmp_path / f"{name}.jsonl" for name in ("a", "b", "c")])
    assert ds.quality.traces_in_several_files == len(shared)
    assert len(ds.quality.several_files_examples) == QUALITY_EXAMPLES
    assert all(e.endswith(": a.jsonl, b.jsonl, c.jsonl") for e in ds.quality.several_files_examples)
    keys, order = ds._trace_lookup
    assert (keys[1:] >= keys[:-1]).all()
    same = keys[1:] == keys[:-1]
    assert (order[1:][same] > order[:-1][same]).all()  # a key's rows in row order
    assert [len(ds.trace_indices(t)) for t in shared] == [3] * len(shared)
