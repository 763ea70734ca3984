"""Pieces handed from the build's workers through files: the same index, nothing left behind, the pipe when no room."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.traces.index import handover
from engine.traces.index.build import Piece
from engine.traces.index.handover import Handover, parse_range_handed, received
from engine.traces.index.parse import parse_range
from engine.traces.index.segments import Builder, Segment, ensure_segment


def _assert_same_piece(a: Piece, b: Piece) -> None:
    assert a.n == b.n and a.lines == b.lines and a.end == b.end
    assert a.span_id.to_list() == b.span_id.to_list()
    assert a.trace_ids == b.trace_ids
    assert a.numbers.keys() == b.numbers.keys()
    for name in a.numbers:
        np.testing.assert_array_equal(a.numbers[name], b.numbers[name], err_msg=name)


def _build(path: Path, cache: Path, workers: int) -> Segment:
    with Builder(workers=workers, piece_bytes=64 << 10, parallel_min_bytes=0) as builder:
        return ensure_segment(path, cache, builder=builder)


def _assert_same_index(one: Segment, two: Segment) -> None:
    a, b = one.chunks[0].arrays, two.chunks[0].arrays
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _leftovers(base: Path) -> list[str]:
    return [n for n in os.listdir(base) if n.startswith("halo-pieces-")]


def test_a_handed_piece_is_the_piece_and_its_file_goes_once_read(tmp_path: Path, fixtures: Path) -> None:
    path = str(fixtures / "halo" / "medium_traces.jsonl")
    directory = tmp_path / "handover"
    directory.mkdir()
    handed = parse_range_handed(str(directory), path, "halo", 0, None, True)
    assert isinstance(handed, str) and Path(handed).parent == directory
    _assert_same_piece(received(handed), parse_range(path, "halo", 0, None, True))
    assert list(directory.iterdir()) == []


def test_a_piece_that_cannot_be_written_comes_back_itself(tmp_path: Path, fixtures: Path) -> None:
    path = str(fixtures / "halo" / "medium_traces.jsonl")
    handed = parse_range_handed(str(tmp_path / "gone"), path, "halo", 0, None, True)
    assert isinstance(handed, Piece)
    _assert_same_piece(received(handed), parse_range(path, "halo", 0, None, True))


def test_a_parallel_build_through_files_equals_a_serial_one_and_leaves_nothing(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "shm"
    base.mkdir()
    monkeypatch.setattr(handover, "HANDOVER_BASE", str(base))
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    serial = _build(path, tmp_path / "serial", workers=1)
    parallel = _build(path, tmp_path / "parallel", workers=2)
    _assert_same_index(serial, parallel)
    assert parallel.meta["lines"] == 2000
    assert _leftovers(base) == []


def test_without_a_place_for_files_the_pieces_take_the_pipe(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "HANDOVER_BASE", str(tmp_path / "no such directory"))
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    _assert_same_index(_build(path, tmp_path / "serial", workers=1), _build(path, tmp_path / "parallel", workers=2))


def test_the_directories_of_builders_that_died_are_removed_and_live_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "HANDOVER_BASE", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead = tmp_path / f"halo-pieces-{int(ended.stdout)}-abc"
    live = tmp_path / f"halo-pieces-{os.getpid()}-def"
    odd = tmp_path / "halo-pieces-notapid"
    for d in (dead, live, odd):
        d.mkdir()
        (d / "piece").write_bytes(b"x")
    made = Handover()
    assert not dead.exists() and live.exists() and odd.exists()
    assert made.directory is not None and Path(made.directory).parent == tmp_path
    made.close([])
    assert sorted(_leftovers(tmp_path)) == sorted([live.name, odd.name])
