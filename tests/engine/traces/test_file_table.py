"""A folder's files as a table: what the walk stat-ed is what the files are, and every row reads as a FileInfo."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from support.halo_lines import jsonl, span

from engine.traces.dataset import Dataset
from engine.traces.index.pack import PACK_MIN_FILES
from engine.traces.index.parts import FileInfo, FileTable
from engine.traces.index.paths import find_files, stat_found


def _folder(tmp_path: Path) -> Path:
    """Enough small HALO files for a pack, one with a malformed line, one OTLP file, and things the walk skips."""
    folder = tmp_path / "runs"
    (folder / "sub").mkdir(parents=True)
    for i in range(PACK_MIN_FILES + 4):
        body = jsonl(span(f"{i:032x}", f"{i:016x}"), span(f"{i:032x}", f"{i + 1000:016x}", f"{i:016x}"))
        (folder / f"run_{i:03d}.jsonl").write_bytes(body + (b"{not json\n" if i == 3 else b""))
    (folder / "sub" / "deep.jsonl").write_bytes(jsonl(span("f" * 32, "e" * 16)))
    (folder / "otlp.json").write_bytes(
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",'
        b' "spanId": "eee19b7ec3c1b174", "name": "x", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}'
    )
    (folder / ".hidden.jsonl").write_bytes(jsonl(span("a" * 32, "b" * 16)))
    (folder / "notes.txt").write_bytes(b"not a trace file\n")
    return folder


def test_the_stats_the_walk_took_are_what_os_stat_says(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "link.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    (tmp_path / "elsewhere.jsonl").write_bytes(jsonl(span("c" * 32, "d" * 16)))
    named = find_files([folder / "sub", folder / "otlp.json"])
    linked = find_files([folder])
    assert [lo for lo, _rows in named.walked] == [0]  # the file named itself is stat-ed apart
    assert [lo for lo, _rows in linked.walked] == [len(linked) - 1]  # a directory with a followed link: apart
    assert str((tmp_path / "elsewhere.jsonl").resolve()) in linked.paths
    for found in (named, linked):
        assert ".hidden.jsonl" not in found.names and "notes.txt" not in found.names
        for path, row in zip(found.paths, stat_found(found), strict=True):
            st = os.stat(path)
            assert tuple(row) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, 0), path
    (folder / "link.jsonl").unlink()
    found = find_files([folder])
    assert [lo for lo, _rows in found.walked] == [0, len(found) - 1]  # both directories' stats from the walk
    assert found.paths == sorted(found.paths, key=lambda p: (Path(p).parent.name == "sub", p))  # files, then subdirs
    for path, row in zip(found.paths, stat_found(found), strict=True):
        st = os.stat(path)
        assert tuple(row) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, 0), path


def test_a_file_table_reads_as_the_list_of_its_rows(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for how in ("built", "fresh"):
        ds = Dataset.open([folder], cache_dir=tmp_path / "cache")
        assert isinstance(ds.files, FileTable)
        rows = [ds.files[i] for i in range(len(ds.files))]  # one at a time, before any iteration
        assert {f.index for f in rows} == {how}
        assert all(isinstance(f, FileInfo) for f in rows) and ds.files[-1] == rows[-1] and ds.files[2:5] == rows[2:5]
        assert list(ds.files) == rows and ds.files[1] == rows[1]  # and after the table made them all
        assert ds.files.shape_counts() == dict(Counter(f.shape for f in rows)) == {"halo": PACK_MIN_FILES + 5,
                                                                                  "otlp": 1}  # fmt: skip
        assert ds.files.malformed_total() == sum(f.malformed for f in rows) == 1 == ds.quality.malformed_lines
        assert [f.path for f in rows] == find_files([folder]).paths
        by_name = {Path(f.path).name: f for f in rows}
        assert by_name["run_003.jsonl"].malformed == 1 and by_name["run_003.jsonl"].spans == 2
        assert by_name["otlp.json"].spans == 1 and by_name["deep.jsonl"].traces == 1


def test_shape_counts_and_malformed_totals_of_a_table_of_files_made_already() -> None:
    files = [FileInfo("a", "halo", 1, 2, 1, 0), FileInfo("b", "otlp", 1, 2, 1, 3), FileInfo("c", "halo", 1, 2, 1, 1)]
    table = FileTable.of(files)
    assert table.shape_counts() == {"halo": 2, "otlp": 1} and table.malformed_total() == 4
    assert list(table) == files and table[1] == files[1] and table.paths == ["a", "b", "c"]
