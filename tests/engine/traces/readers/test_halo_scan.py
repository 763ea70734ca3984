"""The C line scanner gives exactly what orjson gives for each field it returns, or no answer.

`columns_from_lines` (and so every HALO test) runs through the scanner where it
is compiled; these tests aim at the JSON itself: random documents, random
corruptions of real lines, and the texts orjson refuses.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from engine.traces.native import halo_scan, split_lines

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FIELDS = ("trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time")
needs_scanner = pytest.mark.skipif(halo_scan is None, reason="the C scanner is not compiled here")


def _expected(line: bytes) -> dict[str, Any] | None:
    """What the scanner must give for `line`, from orjson; None when orjson refuses it or it is no object."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    status, resource = obj.get("status"), obj.get("resource")
    rattrs = resource.get("attributes") if type(resource) is dict else None
    return {
        **{f: obj.get(f) for f in FIELDS},
        "code": status.get("code") if type(status) is dict else None,
        "message": status.get("message") if type(status) is dict else None,
        "service": rattrs.get("service.name") if type(rattrs) is dict else None,
        "attributes": obj.get("attributes"),
        "events": obj.get("events"),
    }


def _scanned_rows(lines: list[bytes]) -> list[dict[str, Any]] | None:
    assert halo_scan is not None
    out = halo_scan(lines)
    if out is None:
        return None
    trace, span, parent, name, start, end, code, message, service, attrs, events = out
    if type(start) is bytearray:  # times already read: compare them as the texts they came from
        start = [_iso(ns) for ns in np.frombuffer(start, dtype=np.int64).tolist()]
        end = [_iso(ns) for ns in np.frombuffer(end, dtype=np.int64).tolist()]
    keys = (*FIELDS, "code", "message", "service", "attributes", "events")
    return [dict(zip(keys, row)) for row in zip(trace, span, parent, name, start, end, code, message, service, attrs,
                                                events)]  # fmt: skip


def _iso(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = np.datetime_as_string(np.datetime64(seconds, "s"), unit="s")
    return f"{text}.{fraction:09d}Z"


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 and 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if type(a) is float and a != a:
        return b != b
    return bool(a == b)


def _check_one_by_one(lines: list[bytes]) -> list[bytes]:
    """Each line alone: the scanner agrees with orjson or gives no answer. Returns the good lines it left."""
    left = []
    for line in lines:
        expected, got = _expected(line), _scanned_rows([line])
        if expected is None:
            assert got is None, line
        elif got is None:
            left.append(line)
        else:
            assert _same(got[0], expected), line
    return left


def _text(rng: random.Random) -> str:
    pieces = ["a", "Z", " ", "é", "名", "😀", "\x00", "\n", "\t", '"', "\\", "/", "\u2028", "\x7f", "\ud7ff", "\ue000"]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))


# integers past 18 digits: orjson's rules there (u64, then float) are left to orjson
LONG_INTEGERS = ("1234567890123456789", "18446744073709551615", "1" + "0" * 30)


def _number(rng: random.Random) -> str:
    return rng.choice([
        "0", "-0", "7", "-12", "123456789012345678", "-123456789012345678", *LONG_INTEGERS, "1.5", "-0.0", "1e5", "1E+5", "2.5e-3", "1e308", "1e309", "4.9e-325", "0.1",
        "3.141592653589793238462643383279", "01", "1.", ".5", "-", "1e", "+1", "0x10", "NaN",
    ])  # fmt: skip


def _escaped(rng: random.Random, text: str) -> str:
    """A JSON string for `text`, escaping some characters as \\u (pairs for astral ones), some left raw."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or code < 0x20 or (code >= 0x7F and rng.random() < 0.5):
            if code > 0xFFFF:
                hi, lo = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
                out.append(f"\\u{hi:04x}\\u{lo:04X}")
            elif ch in '"\\' and rng.random() < 0.5:
                out.append("\\" + ch)
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.45:
        return rng.choice([_escaped(rng, _text(rng)), _number(rng), "true", "false", "null", '"\\ud800"'])
    if r < 0.75:
        keys = [rng.choice(["a", "b", "k\\u0065y", "service.name", "code", "message", "attributes"]) for _ in
                range(rng.randrange(0, 5))]  # fmt: skip
        return "{" + ",".join(f'"{k}"{rng.choice(["", " "])}:{_json(rng, depth + 1)}' for k in keys) + "}"
    return "[" + ", ".join(_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))) + "]"


def _span_line(rng: random.Random) -> bytes:
    fields = [
        '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"', '"span_id":"00f067aa0ba902b7"',
        f'"parent_span_id":{_json(rng)}', f'"name":{_json(rng)}', f'"start_time":{_json(rng)}',
        '"end_time":"2026-04-23T05:32:00.123456789Z"', f'"status":{_json(rng)}', f'"resource":{_json(rng)}',
        f'"attributes":{_json(rng)}', f'"events":{_json(rng)}', f'"kind":{_json(rng)}', f'"trace\\u005fid":{_json(rng)}',
    ]  # fmt: skip
    chosen = rng.sample(fields, rng.randrange(1, len(fields) + 1))
    chosen += rng.sample(fields, rng.randrange(0, 2))  # a key twice: the last one counts
    return ("{" + ",".join(chosen) + "}" + rng.choice(["", " ", "\r"])).encode("utf-8", "surrogatepass")


@needs_scanner
def test_random_json_documents_read_like_orjson() -> None:
    rng = random.Random(7)
    lines = [_span_line(rng) for _ in range(20_000)]
    left = _check_one_by_one(lines)
    assert sum(_expected(line) is not None for line in lines) > 2 * len(left) > 0
    # it leaves to orjson only what it does not reproduce: here, long integers
    assert all(any(n.encode() in line for n in LONG_INTEGERS) for line in left)


@needs_scanner
def test_corrupted_real_lines_read_like_orjson() -> None:
    rng = random.Random(11)
    good: list[bytes] = []
    for name in ("tiny", "realistic", "medium"):
        good += (FIXTURES / "halo" / f"{name}_traces.jsonl").read_bytes().splitlines()
    noise = [b'"', b"\\", b"{", b"}", b"[", b",", b":", b" ", b"\xff", b"\xc3", b"\xe2\x82", b"\x01", b"0", b"e", b"-"]
    lines = []
    for _ in range(20_000):
        line = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(line))
            action = rng.random()
            if action < 0.4:
                line[at : at + 1] = rng.choice(noise)
            elif action < 0.7:
                del line[at]
            else:
                line[at:at] = rng.choice(noise)
        lines.append(bytes(line))
    _check_one_by_one(lines)
    assert _check_one_by_one(good) == []  # every real line is read by the scanner


@needs_scanner
@pytest.mark.parametrize("text", [
    b"", b"  ", b"[]", b"null", b'"x"', b"{", b'{"a":1,}', b'{"a" 1}', b'{"a":1}x', b'{"a":01}', b'{"a":1.}',
    b'{"a":.5}', b'{"a":NaN}', b'{"a":1e400}', b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}', b'{"a":"\\x"}',
    b'{"a":"\t"}', b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xc0\x80"}', b"\xef\xbb\xbf{}", b'{"a":tru}',
    b'{"a":[1,]}', b'{"a":"unterminated}', b"{'a':1}", b'{"a":1 "b":2}',
])  # fmt: skip
def test_texts_orjson_refuses_get_no_answer(text: bytes) -> None:
    good = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()
    assert halo_scan is not None
    assert halo_scan(good) is not None
    assert halo_scan([*good, text]) is None


@needs_scanner
def test_a_block_whose_times_are_not_all_of_the_usual_form_gives_the_time_values() -> None:
    good = (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()
    odd = good[0].replace(b'"start_time":"', b'"start_time":"x', 1)
    assert halo_scan is not None
    start, end = halo_scan([good[0], odd])[4:6]  # type: ignore[index]
    assert [type(start), type(end)] == [list, list]
    assert start == [orjson.loads(good[0])["start_time"], orjson.loads(odd)["start_time"]]
    assert end == [orjson.loads(good[0])["end_time"], orjson.loads(odd)["end_time"]]


@needs_scanner
@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n", b"a", b"a\n", b"a\nb", b"a\n\nb\n", b"\r\n", b"x" * 100 + b"\n"])
def test_split_lines_splits_like_bytes_split_without_the_empty_last_line(data: bytes) -> None:
    assert split_lines is not None
    expected = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        expected.pop()
    assert split_lines(data) == expected
