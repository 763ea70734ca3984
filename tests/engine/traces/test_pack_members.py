"""A pack's member table: written as arrays, read back as the member entries the build made."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.traces.index.members import CHANGING, HASHED, IO_ERROR, SAMPLES, SHAPE_ERROR, Members

_ENTRIES = [
    {"name": "a.jsonl", "size": 10, "mtime_ns": 2**62, "ctime_ns": -5, "ino": 2**64 - 1, "shape": "halo",
     "lines": 3, "spans": 2, "malformed": 1, "samples": [[2, "not JSON"]], "rows": [0, 2], "traces": [0, 1]},
    {"name": "caf\u00e9 b.json", "size": 4, "mtime_ns": 1, "ctime_ns": 1, "ino": 7, "shape": "otlp",
     "lines": 1, "spans": 0, "malformed": 0, "samples": [], "rows": [2, 2], "traces": [1, 1], "sha256": "ab" * 32},
    {"name": "c.json", "size": 9, "mtime_ns": 1, "ctime_ns": 1, "ino": 8, "shape": "empty",
     "error": "no trace shape", "error_kind": "shape", "rows": [2, 2], "traces": [1, 1], "spans": 0},
    {"name": "d.jsonl", "size": 0, "mtime_ns": 0, "ctime_ns": 0, "ino": 0, "shape": None,
     "error": "cannot read d.jsonl: Permission denied", "error_kind": "io"},
    {"name": "e.jsonl", "size": 5, "mtime_ns": 3, "ctime_ns": 3, "ino": 9, "shape": "halo",
     "lines": 1, "spans": 1, "malformed": 0, "samples": [], "rows": [2, 3], "traces": [1, 2], "changing": True},
]  # fmt: skip


def test_members_read_back_as_the_entries_they_were_written_from(tmp_path: Path) -> None:
    written = Members.from_entries(_ENTRIES)
    meta = written.write(tmp_path)
    members = Members.read(tmp_path, meta)
    assert members.names == [e["name"] for e in _ENTRIES]
    assert members.index == {e["name"]: no for no, e in enumerate(_ENTRIES)}
    assert members.table["state"].tolist() == [SAMPLES, HASHED, SHAPE_ERROR, IO_ERROR, CHANGING]
    for no, entry in enumerate(_ENTRIES):
        got = members.entry(no)
        for key, value in entry.items():
            assert got[key] == value, (no, key)
    assert members.shape_code("otlp") == 1 and members.shape_code("otel_sdk") is None


def test_a_member_file_cut_short_or_disagreeing_with_meta_is_refused(tmp_path: Path) -> None:
    meta = Members.from_entries(_ENTRIES).write(tmp_path)
    data = (tmp_path / "members.bin").read_bytes()
    (tmp_path / "members.bin").write_bytes(data[:100])
    with pytest.raises(ValueError, match="cut short"):
        Members.read(tmp_path, meta)
    (tmp_path / "members.bin").write_bytes(data + b"/extra.jsonl")
    with pytest.raises(ValueError, match="names 6 files"):
        Members.read(tmp_path, meta)


def test_a_pack_of_no_members_reads_back_empty(tmp_path: Path) -> None:
    members = Members.read(tmp_path, Members.from_entries([]).write(tmp_path))
    assert len(members) == 0 and members.names == [] and len(members.table) == 0
