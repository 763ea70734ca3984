"""A folder of small files and big ones: its packs build while the big files get their segments.

The two run at once (`index/refresh`), sharing the worker pool; what the
dataset serves must equal what each file gives opened on its own, a file that
fails is reported as it was, and progress comes from the opening thread only,
never going back.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import UnknownShapeError
from engine.traces.dataset import Dataset
from engine.traces.index.pack import PACK_FILE_BYTES, PACK_MIN_FILES
from engine.traces.index.segments import PARALLEL_MIN_BYTES
from tests.support.halo_lines import jsonl, span

_SMALL_FILES = PACK_MIN_FILES + 8


def _big_halo(path: Path, tag: str, size: int) -> None:
    """A HALO file of at least `size` bytes: traces of 4 spans, each with a bulky attribute."""
    pad = "x" * 2000
    spans, written, t = [], 0, 0
    while written < size:
        trace = f"{tag}-{t:06d}"
        batch = [span(trace, f"{trace}-{k}", f"{trace}-0" if k else "", name=f"step {k}", start=float(k),
                      status="STATUS_CODE_ERROR" if t % 7 == 0 and k == 3 else "STATUS_CODE_OK",
                      attributes={"pad": pad}) for k in range(4)]  # fmt: skip
        spans += batch
        written += 4 * 2300
        t += 1
    path.write_bytes(jsonl(*spans))


def _folder(root: Path, fixtures: Path) -> Path:
    folder = root / "mixed"
    folder.mkdir()
    tiny = (fixtures / "halo" / "tiny_traces.jsonl").read_text()
    for i in range(_SMALL_FILES):
        (folder / f"small_{i:03d}.jsonl").write_text(tiny.replace('"t-', f'"s{i}-'))
    _big_halo(folder / "big_serial.jsonl", "a", PACK_FILE_BYTES + (1 << 20))  # read by this process
    _big_halo(folder / "big_parallel.jsonl", "b", PARALLEL_MIN_BYTES + (1 << 20))  # read in ranges by workers
    (folder / "big_notes.jsonl").write_text('{"note": "not a trace"}\n' * (PACK_FILE_BYTES // 20))
    return folder


def _spans_of(ds: Dataset) -> set[tuple[str | None, str | None, str | None, int]]:
    trace_ids = ds.traces.trace_id.to_list()
    traces = [trace_ids[t] for t in ds.spans.trace.tolist()]
    return set(zip(traces, ds.spans.span_id.to_list(), ds.spans.name.to_list(), ds.spans.status.tolist(), strict=True))


def test_a_folder_builds_as_its_files_do_one_by_one(tmp_path: Path, fixtures: Path) -> None:
    folder = _folder(tmp_path, fixtures)
    shown: list[tuple[int, int]] = []
    threads: set[int] = set()

    def progress(done: int, total: int) -> None:
        threads.add(threading.get_ident())
        shown.append((done, total))

    ds = Dataset.open([folder], cache_dir=tmp_path / "cache", progress=progress)
    try:
        got = _spans_of(ds)
        by_file = {Path(f.path).name: (f.spans, f.traces, f.shape) for f in ds.files}
        skipped = list(ds.quality.skipped_files)
    finally:
        ds.close()

    expected: set[tuple[str | None, str | None, str | None, int]] = set()
    for path in sorted(folder.iterdir()):
        if path.name == "big_notes.jsonl":
            continue
        alone = Dataset.open([path], cache_dir=tmp_path / "alone")
        try:
            expected |= _spans_of(alone)
            (info,) = alone.files
            assert by_file[path.name] == (info.spans, info.traces, info.shape)
        finally:
            alone.close()
    assert got == expected
    assert len(by_file) == _SMALL_FILES + 2
    assert any("big_notes.jsonl" in line for line in skipped)
    with pytest.raises(UnknownShapeError):
        Dataset.open([folder / "big_notes.jsonl"], cache_dir=tmp_path / "alone")

    assert threads == {threading.get_ident()}
    totals = {total for _done, total in shown}
    assert len(totals) == 1
    done = [d for d, _t in shown]
    assert done == sorted(done) and done[-1] == totals.pop()


def test_the_second_open_of_the_folder_builds_nothing(tmp_path: Path, fixtures: Path) -> None:
    folder = _folder(tmp_path, fixtures)
    Dataset.open([folder], cache_dir=tmp_path / "cache").close()
    again = Dataset.open([folder], cache_dir=tmp_path / "cache")
    try:
        assert {f.index for f in again.files} == {"fresh"}
        assert len(again.files) == _SMALL_FILES + 2
    finally:
        again.close()
