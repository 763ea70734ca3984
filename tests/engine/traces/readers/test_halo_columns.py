"""HALO lines to columns a block at a time: the same values as `fields_from_object`, or None for a bad block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from support.odd_halo import odd_halo_lines

from engine.traces.readers.halo.block import BLOCK_LINES, columns_from_lines
from engine.traces.readers.halo.spans import fields_from_object

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def _row_fields(line: bytes, lineno: int) -> tuple[Any, ...] | None:
    """`fields_from_object`'s tuple with times as int64 stores them (0 beyond int64); None for a bad line."""
    try:
        obj = orjson.loads(line)
        if type(obj) is not dict:
            return None
        fields = list(fields_from_object(obj, line, lineno))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    for i in (7, 8):
        fields[i] = fields[i] if -(2**63) <= fields[i] < 2**63 else 0
    return tuple(fields)


def _rows(columns: list[Any]) -> list[tuple[Any, ...]]:
    columns = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns]
    return [tuple(row) for row in zip(*columns, strict=True)]


def test_clean_fixture_lines_are_read_as_columns_not_line_by_line() -> None:
    for name in ("tiny", "realistic", "medium"):
        lines = (FIXTURES / "halo" / f"{name}_traces.jsonl").read_bytes().splitlines()
        for lo in range(0, len(lines), BLOCK_LINES):
            columns = columns_from_lines(lines[lo : lo + BLOCK_LINES], lo + 1)
            assert columns is not None
            block = lines[lo : lo + BLOCK_LINES]
            assert _rows(columns) == [_row_fields(line, lo + i) for i, line in enumerate(block, 1)]


@pytest.mark.parametrize(("rate", "size"), [(0.01, 100), (0.05, 50), (0.5, 6)])
def test_odd_values_read_exactly_like_fields_from_object(rate: float, size: int) -> None:
    lines = odd_halo_lines(seed=int(rate * 1000), count=8000, rate=rate, bad=0.0)
    read_as_columns = 0
    for lo in range(0, len(lines), size):
        block = lines[lo : lo + size]
        expected = [_row_fields(line, lo + i) for i, line in enumerate(block, 1)]
        columns = columns_from_lines(block, lo + 1)
        if None in expected:  # a line that is no span: the block is left to the line-by-line reader
            assert columns is None
            continue
        assert columns is not None
        assert _rows(columns) == expected
        read_as_columns += 1
    assert read_as_columns >= 20


@pytest.mark.parametrize("bad", [b"", b"   ", b"{not json", b"[1, 2]", b"null", b'{"trace_id": "t"}',
                                 b'{"trace_id": "t", "span_id": "s", "start_time": "yesterday"}',
                                 b'{"trace_id": "t", "span_id": "s", "start_time": 1, "attributes": 5}'])  # fmt: skip
def test_a_block_with_a_line_that_is_no_span_is_left_to_the_line_by_line_reader(bad: bytes) -> None:
    lines = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()
    assert columns_from_lines(lines, 1) is not None
    assert columns_from_lines([*lines[:3], bad, *lines[3:]], 1) is None
