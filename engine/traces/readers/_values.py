"""Field value conversions shared by the shape readers: times, durations, ids.

Timestamps arrive as ISO-8601 text (with 0 to 9 fraction digits, `Z` or an
offset), as integer nanoseconds, or as numeric strings; ids as hex, `0x` hex,
base64 (proto3 JSON bytes) or decimal integers. Everything leaves as epoch
nanoseconds and lower-case hex. The ISO path is on every shape's hot path, so the
common `...:SS[.f…][Z|±HH:MM]` forms are parsed by slicing with a per-minute cache.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np

from engine.traces.memo import remember

__all__ = [
    "RECORD_ERRORS",
    "MINUTE_CACHE",
    "MINUTE_CACHE_MAX",
    "ValueProblem",
    "to_ns",
    "iso_to_ns",
    "iso_column_ns",
    "iso_duration_ns",
    "hex_id",
    "parent_id_of",
]

# Errors a shape reader may raise on one record it cannot read: the record is
# reported as malformed, the read goes on. OverflowError (an integer too big for
# a float) and RecursionError (values nested thousands deep) are the content's
# fault too, never a reason to fail the file or the dataset.
RECORD_ERRORS: tuple[type[Exception], ...] = (
    ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError,
)  # fmt: skip

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_day_ns: dict[str, int] = {}
# "YYYY-MM-DDTHH:MM" -> epoch ns: spans cluster in time, so nearly all lookups hit.
MINUTE_CACHE: dict[str, int] = {}
MINUTE_CACHE_MAX = 1 << 16
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?\s*(Z|z|[+-]\d\d:?\d\d)?$"
)
_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_HEX = frozenset("0123456789abcdef")
_STR_ONLY = {str}
_NO_PARENT = frozenset(("", "None", "none", "null", "0", "0000000000000000", "0x0000000000000000"))


class ValueProblem(ValueError):
    """A field value that cannot be converted; the message says which and why."""


def _day(date: str) -> int:
    y, m, d = int(date[0:4]), int(date[5:7]), int(date[8:10])
    ns = (datetime(y, m, d, tzinfo=UTC) - _EPOCH) // _ONE_SECOND * _NS
    if len(_day_ns) < 100_000:
        _day_ns[date] = ns
    return ns


_ONE_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC) - _EPOCH


def _minute(text: str) -> int:
    """Epoch ns of the whole minute of a `YYYY-MM-DD[T ]HH:MM` prefix, or -1 when it is not one.

    Only prefixes the general parser reads alike are cached (ASCII digits, its
    separators, 1970 on): the cache is what makes a hit need no other check.
    """
    key = text[:16]
    if not (len(key) == 16 and key.isascii() and key[4] == "-" and key[7] == "-" and key[10] in "T "
            and key[13] == ":" and (key[:4] + key[5:7] + key[8:10] + key[11:13] + key[14:]).isdigit()):  # fmt: skip
        return -1
    try:
        day = _day_ns.get(key[:10]) or _day(key[:10])
    except ValueError:
        return -1
    ns = day + (int(key[11:13]) * 3600 + int(key[14:16]) * 60) * _NS
    if ns < 0:
        return -1  # before 1970: the general parser's business (the cache holds only what it agrees with)
    return remember(MINUTE_CACHE, key, ns, MINUTE_CACHE_MAX)


# "+HH:MM" / "-HH:MM" -> what the zone adds to a local time to make it UTC (filled as zones are met).
_ZONE_NS: dict[str, int] = {}


def _zone_ns(zone: str) -> int | None:
    """The ns a `±HH:MM` zone adds (as the general parser reads it), or None for other text."""
    if not (len(zone) == 6 and zone[0] in "+-" and zone[3] == ":" and (zone[1:3] + zone[4:]).isdigit()):
        return None
    offset = (int(zone[1:3]) * 3600 + int(zone[4:]) * 60) * _NS
    _ZONE_NS[zone] = offset = -offset if zone[0] == "+" else offset
    return offset


# ns of one unit of a k-digit fraction (k = 0..9): ".1" and ".100000" both read as 100 ms.
_FRACTION_UNIT = tuple(10 ** (9 - k) for k in range(10))


def iso_to_ns(text: str) -> int:
    """ISO-8601 timestamp to epoch ns; no zone means UTC.

    `YYYY-MM-DDTHH:MM:SS[.f…][Z|±HH:MM]` in ASCII (what the writers of every
    shape use) is read by slicing, its minute from `MINUTE_CACHE`; anything else,
    or anything odd in it, goes to the general parser, which gives the same
    values and refuses what it refuses.
    """
    n = len(text)
    if n >= 19 and text[16] == ":" and text.isascii():
        minute = MINUTE_CACHE.get(text[:16])
        if minute is None:
            minute = _minute(text)
        second = text[17:19]
        if minute >= 0 and second.isdigit():
            ns = minute + int(second) * _NS
            last = text[-1]
            if last == "Z" or last == "z":
                end = n - 1
            elif (offset := _ZONE_NS.get(text[-6:])) is not None or (offset := _zone_ns(text[-6:])) is not None:
                ns += offset
                end = n - 6
            else:
                end = n
            if end == 19:
                return ns
            if end > 20 and text[19] == ".":
                fraction = text[20:end]
                if fraction.isdigit():
                    return ns + (int(fraction[:9]) if end > 29 else int(fraction) * _FRACTION_UNIT[end - 20])
    return _iso_general(text)


def _iso_general(text: str) -> int:
    """`iso_to_ns` by the regular expression: every form it takes, and the reason it refuses one."""
    m = _ISO.match(text.strip())
    if m is None:
        raise ValueProblem(f"not an ISO-8601 time: {text[:40]!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        day = _day_ns.get(f"{y}-{mo}-{d}") or _day(f"{y}-{mo}-{d}")
    except ValueError as exc:
        raise ValueProblem(f"not a valid date: {text[:40]!r}") from exc
    ns = day + (int(h) * 3600 + int(mi) * 60 + int(s or 0)) * _NS
    if frac:
        ns += int(frac[:9].ljust(9, "0"))
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        ns += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * _NS
    return ns


def to_ns(value: object, field: str) -> int:
    """A time field as epoch ns: ISO text, integer ns, or a numeric string of ns."""
    if type(value) is str:
        if value and value[0] != "-" and value.isdigit():
            return int(value)
        try:
            return iso_to_ns(value)
        except ValueProblem as exc:
            raise ValueProblem(f"{field}: {exc}") from None
    if type(value) is int:
        return value
    if type(value) is float:
        return int(value)
    raise ValueProblem(
        f"{field} is missing or not a time" if value is None else f"{field} is not a time: {value!r:.40}"
    )


# Years `iso_column_ns` converts: every time of them fits int64 nanoseconds, whatever HH:MM:SS say.
_COLUMN_YEARS = (1678, 2261)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_COLUMN_FORMS: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
_EPOCH_DAYS: dict[int, int | None] = {}  # YYYYMMDD -> days since 1970-01-01 (None: no such date)


def _column_form(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`YYYY-MM-DDTHH:MM:SS[.f...]Z` of `width` characters: per column the lowest character and the
    range it may take ("0" and 9 for a digit, the separator and 0 for the others), and digit weights.

    The weights turn a row of character codes into (YYYYMMDD, seconds of the
    day as HH * 3600 + MM * 60 + SS, fraction in ns) with one matrix product;
    float64 holds these sums exactly (they stay far below 2**53).
    """
    if width not in _COLUMN_FORMS:
        fraction = width - 21 if width > 20 else 0
        separators = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", width - 1: "Z", **({19: "."} if fraction else {})}
        weights = np.zeros((width, 3), dtype=np.float64)
        for col, weight in zip((0, 1, 2, 3, 5, 6, 8, 9), (10**7, 10**6, 10**5, 10**4, 1000, 100, 10, 1), strict=True):
            weights[col, 0] = weight
        for col, weight in zip((11, 12, 14, 15, 17, 18), (36000, 3600, 600, 60, 10, 1), strict=True):
            weights[col, 1] = weight
        for power, col in enumerate(reversed(range(20, 20 + fraction))):
            weights[col, 2] = 10.0 ** (power + 9 - fraction)
        _COLUMN_FORMS[width] = (
            np.array([ord(separators.get(c, "0")) for c in range(width)], dtype=np.uint8),
            np.array([0 if c in separators else 9 for c in range(width)], dtype=np.uint8),
            weights,
            48.0 * weights.sum(axis=0),  # what the character code of "0" adds to each part
        )
    return _COLUMN_FORMS[width]


def _epoch_day(yyyymmdd: int) -> int | None:
    """Days from 1970-01-01 to a real date of `_COLUMN_YEARS` (what `_day` gives), else None."""
    if yyyymmdd not in _EPOCH_DAYS:
        year, month_day = divmod(yyyymmdd, 10000)
        try:
            days = date(year, *divmod(month_day, 100)).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            days = None
        if not _COLUMN_YEARS[0] <= year <= _COLUMN_YEARS[1]:
            days = None
        return remember(_EPOCH_DAYS, yyyymmdd, days, MINUTE_CACHE_MAX)
    return _EPOCH_DAYS[yyyymmdd]


def iso_column_ns(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Many `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` texts at once: (epoch ns, which rows were read).

    Reads rows whose text has exactly that form (ASCII digits, `T`, `Z`, a real
    date from 1678 to 2261) with numpy, giving what `iso_to_ns` gives for
    them; other rows are left to `to_ns` (`ok` is False there, ns 0). None when
    the values are not all texts (`str`) of one such length (nothing read).
    """
    n = len(values)
    try:
        widths = set(map(len, values))
        text = "".join(values)  # TypeError when a value is no text
    except TypeError:
        return None
    width = widths.pop() if len(widths) == 1 else 0
    if not (width == 20 or 22 <= width <= 30) or not text.isascii() or set(map(type, values)) != _STR_ONLY:
        return None
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(n, width)
    lowest, spread, weights, zeros = _column_form(width)
    fits = (chars - lowest) <= spread  # below the lowest wraps around to a large uint8
    ok = np.ones(n, dtype=bool) if fits.all() else fits.all(axis=1)
    day, seconds, fraction = (chars @ weights - zeros).astype(np.int64).T
    if not ok.all():
        day = np.where(ok, day, day[ok][0] if ok.any() else 19700101)  # other rows' digits are not digits
    first = int(day[0])
    days: int | np.ndarray
    if (day == first).all():  # the usual block: one day
        one = _epoch_day(first)
        if one is None:
            ok[:] = False
        days = 0 if one is None else one
    else:
        distinct, where = np.unique(day, return_inverse=True)
        found = [_epoch_day(d) for d in distinct.tolist()]
        ok &= np.array([d is not None for d in found])[where]
        days = np.array([d or 0 for d in found], dtype=np.int64)[where]
    return np.where(ok, (days * 86400 + seconds) * _NS + fraction, 0), ok


def iso_duration_ns(text: str) -> int:
    """ISO-8601 duration (`PT1M48.75533S`, `P1DT2H`) to ns."""
    m = _DURATION.match(text.strip())
    if m is None or not any(m.groups()):
        raise ValueProblem(f"not an ISO-8601 duration: {text[:40]!r}")
    days, hours, minutes, _seconds = (float(g) if g else 0.0 for g in m.groups())
    whole = int(days) * 86400 + int(hours) * 3600 + int(minutes) * 60
    # Seconds keep their digits exactly: float seconds would lose ns precision.
    sec = m.group(4) or "0"
    int_part, _, frac = sec.partition(".")
    ns = (whole + int(int_part)) * _NS + int(frac[:9].ljust(9, "0") or 0)
    # Fractional days/hours/minutes are rare; add their remainder approximately.
    ns += int(((days % 1) * 86400 + (hours % 1) * 3600 + (minutes % 1) * 60) * _NS)
    return ns


def hex_id(value: object, width: int) -> str:
    """An id as lower-case hex: hex and `0x` hex stay, ints are zero-padded to `width`.

    base64 (proto3 JSON bytes) is recognised when the text is not plain hex and
    decodes to the right byte length (8 for spans, 16 for traces). Other text
    (e.g. HALO's `t-aaaa`) is kept as is: an id is an id.
    """
    if type(value) is str:
        if value[:2] in ("0x", "0X"):
            value = value[2:]
        low = value.lower()
        if _HEX.issuperset(low):
            return low
        if len(value) == ((width // 2 + 2) // 3) * 4:
            try:
                raw = binascii.a2b_base64(value, strict_mode=True)  # b64decode(validate=True), less Python
            except (binascii.Error, ValueError):
                return value
            if len(raw) == width // 2:
                return raw.hex()
        return value
    if type(value) is int:
        return format(value, f"0{width}x")
    if value is None:
        return ""
    return str(value)


def parent_id_of(value: object, width: int = 16) -> str | None:
    """A parent id, or None for the many ways sources say "no parent"."""
    if value is None or (type(value) is str and value in _NO_PARENT) or value == 0:
        return None
    return hex_id(value, width)
