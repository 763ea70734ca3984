"""The bounded memo the readers and conventions keep their hot lookups in."""

from __future__ import annotations

from engine.traces.memo import remember


def test_a_memo_keeps_what_it_is_given_and_is_emptied_when_full() -> None:
    memo: dict[str, int] = {}
    assert remember(memo, "a", 1, 3) == 1
    remember(memo, "b", 2, 3)
    remember(memo, "c", 3, 3)
    assert memo == {"a": 1, "b": 2, "c": 3}
    assert remember(memo, "d", 4, 3) == 4  # full: emptied, then kept
    assert memo == {"d": 4}
    for i in range(100):  # hostile input: never past the limit
        remember(memo, str(i), i, 3)
        assert len(memo) <= 3


def test_the_readers_memos_stay_bounded_on_many_distinct_timestamps() -> None:
    from engine.traces.readers._values import MINUTE_CACHE, MINUTE_CACHE_MAX, iso_to_ns

    for minute in range(MINUTE_CACHE_MAX + 10):
        day, rest = divmod(minute, 24 * 60)
        iso_to_ns(f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{rest // 60:02d}:{rest % 60:02d}:00Z")
    assert 0 < len(MINUTE_CACHE) <= MINUTE_CACHE_MAX
