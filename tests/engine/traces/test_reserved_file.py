"""A chunk file written over zeros reserved ahead is byte for byte the file written plainly."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from engine.traces.columns import reserved_file
from engine.traces.columns.arrow_chunk import write_file
from engine.traces.columns.reserved_file import ReservedFile
from engine.traces.index.cache import cache_root
from engine.traces.index.segments import ensure_segment

_BLOCK = 64 << 10


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reserved_file, "RESERVE_BLOCK_BYTES", _BLOCK)
    monkeypatch.setattr(reserved_file, "RESERVE_FROM_BYTES", 0)


def _columns() -> dict[str, pa.Array]:
    rng = np.random.default_rng(7)
    return {
        "start_ns": pa.array(rng.integers(0, 2**62, 100_000)),
        "name": pa.array([f"span-{i % 977}" for i in range(100_000)]).dictionary_encode(),
        "span_id": pa.array([f"{i:016x}" if i % 5 else None for i in range(100_000)]),
    }


def _wait_for_size(path: Path, size: int) -> None:
    deadline = time.monotonic() + 30
    while not (path.exists() and path.stat().st_size >= size):
        assert time.monotonic() < deadline, f"{path} never reached {size} bytes"
        time.sleep(0.01)


def test_a_batch_written_over_its_reservation_equals_the_plain_write(tmp_path: Path) -> None:
    columns = _columns()
    plain = write_file(tmp_path / "plain.arrow", columns)
    reserved = ReservedFile(tmp_path / "reserved.arrow")
    for array in columns.values():
        reserved.grow(array.nbytes)
    _wait_for_size(reserved.path, _BLOCK)  # some of it is reserved, maybe not all
    assert write_file(reserved.path, columns, reserved) == plain
    assert reserved.path.read_bytes() == (tmp_path / "plain.arrow").read_bytes()


def test_a_reservation_bigger_than_the_batch_is_cut_where_the_batch_ends(tmp_path: Path) -> None:
    columns = _columns()
    plain = write_file(tmp_path / "plain.arrow", columns)
    reserved = ReservedFile(tmp_path / "reserved.arrow")
    reserved.grow(3 * plain)
    _wait_for_size(reserved.path, 2 * plain)
    assert write_file(reserved.path, columns, reserved) == plain
    assert reserved.path.read_bytes() == (tmp_path / "plain.arrow").read_bytes()
    table = pa.ipc.open_file(reserved.path).read_all()
    assert all(table.column(name).combine_chunks().equals(array) for name, array in columns.items())


def test_less_than_a_block_reserves_nothing_and_the_write_is_plain(tmp_path: Path) -> None:
    reserved = ReservedFile(tmp_path / "small.arrow")
    reserved.grow(_BLOCK - 1)
    assert not reserved.path.exists()
    columns = {"n": pa.array([1, 2, 3])}
    size = write_file(reserved.path, columns, reserved)
    assert size == reserved.path.stat().st_size
    assert pa.ipc.open_file(reserved.path).read_all().equals(pa.table(columns))


def test_a_file_is_reserved_only_once_enough_is_announced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reserved_file, "RESERVE_FROM_BYTES", 10 * _BLOCK)
    reserved = ReservedFile(tmp_path / "late.arrow")
    reserved.grow(5 * _BLOCK)
    reserved.grow(4 * _BLOCK)
    assert reserved.stop() == 0 and not reserved.path.exists()
    reserved = ReservedFile(tmp_path / "late.arrow")
    reserved.grow(9 * _BLOCK)
    reserved.grow(2 * _BLOCK)  # past the threshold: the blocks announced so far are reserved
    _wait_for_size(reserved.path, 11 * _BLOCK)
    assert reserved.stop() == 11 * _BLOCK


def test_a_reservation_that_cannot_be_written_leaves_the_write_its_own_error(tmp_path: Path) -> None:
    reserved = ReservedFile(tmp_path / "gone" / "x.arrow")
    reserved.grow(4 * _BLOCK)
    with pytest.raises(FileNotFoundError, match="gone"):
        write_file(reserved.path, _columns(), reserved)


def test_an_index_built_with_reservations_reads_as_one_built_without(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "traces.jsonl"
    shutil.copy(fixtures / "halo" / "tiny_traces.jsonl", path)
    monkeypatch.setattr(reserved_file, "RESERVE_BLOCK_BYTES", 256)  # every column reserves
    with_reserve = ensure_segment(path, cache_root() / "a")
    monkeypatch.setattr(reserved_file, "RESERVE_BLOCK_BYTES", 1 << 40)  # nothing does
    without = ensure_segment(path, cache_root() / "b")
    for suffix in ("spans", "traces"):
        (a,), (b,) = (
            [pa.ipc.open_file(seg.directory / f"{c.id}.{suffix}.arrow").read_all() for c in seg.chunks]
            for seg in (with_reserve, without)
        )
        assert a.schema.equals(b.schema)
        assert a.to_pandas().equals(b.to_pandas())  # NaN costs compare equal here
    assert with_reserve.spans == without.spans > 0
