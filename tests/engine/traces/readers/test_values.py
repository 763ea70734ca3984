"""Time values: the cached ISO fast path and the numpy column reader agree with the general parser."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from engine.traces.readers._values import (
    MINUTE_CACHE,
    ValueProblem,
    _iso_general,
    iso_column_ns,
    iso_to_ns,
    to_ns,
)
from engine.traces.readers.halo import spans as halo


def _expected(text: str) -> int:
    whole = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
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


def _random_iso(rng: random.Random, width: int) -> str:
    year = rng.choice([rng.randrange(1, 10000), rng.randrange(1600, 2300), rng.randrange(1960, 2100)])
    fields = (year, rng.randrange(0, 14), rng.randrange(0, 33), rng.randrange(0, 100), rng.randrange(0, 100),
              rng.randrange(0, 100))  # fmt: skip
    text = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*fields)
    if width > 20:
        text += "." + "".join(rng.choice("0123456789") for _ in range(width - 21))
    text += "Z"
    if rng.random() < 0.1:  # one character replaced: mostly no longer the strict form
        at = rng.randrange(width)
        text = text[:at] + rng.choice("0aT:-.Z +/") + text[at + 1 :]
    return text


@pytest.mark.parametrize("width", [20, 22, 24, 27, 29, 30])
def test_a_column_of_iso_times_reads_like_iso_to_ns_row_by_row(width: int) -> None:
    rng = random.Random(width)
    texts = [_random_iso(rng, width) for _ in range(4000)]
    texts += ["2000-02-29T00:00:00" + texts[0][19:], "2100-02-29T00:00:00" + texts[0][19:],
              "1970-01-01T00:00:00" + texts[0][19:], "2261-12-31T99:99:99" + texts[0][19:]]  # fmt: skip
    texts = [t for t in texts if len(t) == width]
    read = iso_column_ns(texts)
    assert read is not None
    ns, ok = read
    assert 0.3 < ok.mean() < 0.9  # both kinds of rows are here
    for text, value, was_read in zip(texts, ns.tolist(), ok.tolist(), strict=True):
        if was_read:  # a row the column read is exactly what the per-span parser gives
            assert value == iso_to_ns(text), text
        else:
            assert value == 0


def test_a_column_of_iso_times_reads_nothing_unless_all_are_texts_of_one_width() -> None:
    assert iso_column_ns([]) is None
    assert iso_column_ns(["2026-04-23T05:32:07.123456789Z", "2026-04-23T05:32:07.123Z"]) is None
    assert iso_column_ns(["2026-04-23T05:32:07.123456789Z", 5]) is None
    assert iso_column_ns(["2026-04-23T05:32:07.12345678\u00e9Z"]) is None
    assert iso_column_ns(["2026-04-23T05:32:07.Z"]) is None


@pytest.mark.parametrize("day", ["2023-02-29", "1677-12-31", "2262-01-01", "2024-02-29"])
def test_a_column_of_times_on_one_day_reads_only_a_real_day_of_the_supported_years(day: str) -> None:
    read = iso_column_ns([f"{day}T05:32:0{i}.123456789Z" for i in range(5)])
    assert read is not None
    ns, ok = read
    if day == "2024-02-29":
        assert ok.all() and ns.tolist() == [iso_to_ns(f"{day}T05:32:0{i}.123456789Z") for i in range(5)]
    else:
        assert not ok.any() and not ns.any()


def _random_form(rng: random.Random) -> str:
    """An ISO-ish time of any fraction length and zone, sometimes with one character changed."""
    year = rng.choice([rng.randrange(0, 10000), *[rng.randrange(1960, 2100)] * 4, 1970, 1969])
    wild = rng.random() < 0.3  # fields out of range (a month 13, an hour 99) as well as real ones
    text = "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}".format(
        year, rng.randrange(0, 14) if wild else rng.randrange(1, 13), rng.randrange(0, 33) if wild else
        rng.randrange(1, 29), rng.choice("TTTTTT t"), rng.randrange(0, 100 if wild else 24),
        rng.randrange(0, 100 if wild else 60))  # fmt: skip
    if rng.random() < 0.9:
        text += f":{rng.randrange(0, 100 if wild else 60):02d}"
        if rng.random() < 0.8:
            text += rng.choice("....,") + "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 13)))
    hh, mm = rng.randrange(0, 30), rng.randrange(0, 70)
    text += rng.choice(["", "Z", "Z", "z", f"+{hh:02d}:{mm:02d}", f"-{hh:02d}:{mm:02d}", f"+{hh:02d}{mm:02d}",
                        " Z", f" +{hh:02d}:{mm:02d}", f"+{hh}:{mm:02d}", "+00:00"])  # fmt: skip
    for _ in range(rng.choice([0, 0, 0, 0, 1, 2])):
        at = rng.randrange(len(text) + 1)
        cut = rng.choice([0, 1])
        text = text[:at] + rng.choice("0aT:-.,Zz +/\u0663\u00b2_\n\t") + text[at + cut :]
    return text


def _read(read: Callable[[str], int], text: str) -> int | str:
    try:
        return read(text)
    except ValueProblem as exc:
        return f"refused: {exc}"


@pytest.mark.parametrize("seed", range(4))
def test_the_iso_fast_path_reads_and_refuses_every_form_as_the_general_parser_does(seed: int) -> None:
    rng = random.Random(seed)
    texts = [_random_form(rng) for _ in range(20_000)]
    if seed % 2:
        MINUTE_CACHE.clear()  # cold: each minute met first by the fast path
    else:
        for text in texts:  # warm: every minute the general parser takes is cached where the fast path can
            _read(iso_to_ns, text)
    read = [_read(iso_to_ns, t) for t in texts]
    assert sum(type(r) is int for r in read) > 5000  # both kinds are here
    for text, value in zip(texts, read, strict=True):
        assert value == _read(_iso_general, text), text
