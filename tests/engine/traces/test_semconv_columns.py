"""Column-wise semantic conventions: every row equals `read_fields` on that span alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from support.odd_halo import odd_halo_lines

from engine.traces.model import SpanStatus
from engine.traces.semconv import read_fields
from engine.traces.semconv.columns import read_fields_columns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _inputs(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[str], list[SpanStatus], list[Any]]:
    attrs, names, statuses, events = [], [], [], []
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("attributes"), dict):
            continue
        attrs.append(obj["attributes"])
        names.append(obj["name"] if isinstance(obj.get("name"), str) else "")
        statuses.append(SpanStatus.ERROR if "ERROR" in str(obj.get("status")) else SpanStatus.OK)
        events.append(obj.get("events"))
    return attrs, names, statuses, events


def _expected(attrs: dict[str, Any], name: str, status: SpanStatus, events: Any) -> Any:
    try:
        return read_fields(attrs, name, status, events if type(events) is list else None)
    except (ValueError, TypeError) as exc:
        return type(exc)


@pytest.mark.parametrize("rate", [0.02, 0.3, 1.0])
def test_every_row_of_a_block_reads_like_read_fields_on_its_own(rate: float) -> None:
    lines = odd_halo_lines(seed=int(rate * 100), count=6000, rate=rate, bad=0.0)
    attrs, names, statuses, events = _inputs(lines)
    for lo in range(0, len(attrs), 300):
        block = slice(lo, lo + 300)
        expected = [
            _expected(*row) for row in zip(attrs[block], names[block], statuses[block], events[block], strict=True)
        ]
        if any(isinstance(e, type) for e in expected):  # a span read_fields refuses: the block refuses too
            with pytest.raises((ValueError, TypeError)):
                read_fields_columns(attrs[block], names[block], statuses[block], events[block])
            continue
        columns = read_fields_columns(attrs[block], names[block], statuses[block], events[block])
        assert [tuple(row) for row in zip(*columns, strict=True)] == expected


def test_the_fixtures_read_alike_in_one_block() -> None:
    lines = [line for name in ("tiny", "realistic", "medium")
             for line in (FIXTURES / "halo" / f"{name}_traces.jsonl").read_bytes().splitlines()]  # fmt: skip
    attrs, names, statuses, events = _inputs(lines)
    columns = read_fields_columns(attrs, names, statuses, events)
    assert [tuple(row) for row in zip(*columns, strict=True)] == [
        _expected(*row) for row in zip(attrs, names, statuses, events, strict=True)
    ]
