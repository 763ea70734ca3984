"""Time values: the cached ISO fast path agrees with the general parser, cache warm or cold."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.traces.readers import halo
from engine.traces.readers._values import MINUTE_CACHE, ValueProblem, to_ns


def _expected(text: str) -> int:
    whole = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(whole.timestamp()) * 10**9 + int(text[20:29])


@pytest.mark.parametrize("warm", [False, True])
def test_nanosecond_iso_times_read_the_same_whether_their_minute_is_cached_or_not(warm: bool) -> None:
    times = ["2026-04-23T05:32:07.123456789Z", "2026-04-23T05:32:59.999999999Z", "2024-02-29T23:59:00.000000001Z"]
    MINUTE_CACHE.clear()
    if warm:
        for t in times:
            to_ns(t, "start_time")
    for t in times:
        assert to_ns(t, "start_time") == _expected(t)
        span = halo.span_from_object({"trace_id": "t", "span_id": "s", "start_time": t, "end_time": t}, b"", 1)
        assert span.start_ns == span.end_ns == _expected(t)


@pytest.mark.parametrize(
    "text",
    ["2026-04-23T05:32:x7.123456789Z", "2026-04-23T05:32:07,12345678xZ", "2026-13-23T05:32:07.123456789Z"],
)
def test_a_malformed_time_is_refused_even_when_its_minute_is_cached(text: str) -> None:
    to_ns("2026-04-23T05:32:00.000000000Z", "start_time")
    with pytest.raises(ValueProblem, match="start_time"):
        halo.span_from_object({"trace_id": "t", "span_id": "s", "start_time": text}, b"", 1)


def test_times_before_1970_take_the_general_path_and_are_not_cached() -> None:
    MINUTE_CACHE.clear()
    assert to_ns("1969-12-31T23:59:59.000000000Z", "start_time") == -(10**9)
    assert MINUTE_CACHE == {}
