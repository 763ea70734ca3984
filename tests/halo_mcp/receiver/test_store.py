"""The store: a retried export is stored once, across restarts, within a bounded window."""

from __future__ import annotations

from pathlib import Path

import orjson

from halo_mcp.receiver.payload import JSON, decode
from halo_mcp.receiver.store import SpanStore

TRACE = "5b8efff798038103d269b633813fc60c"


def _request(*span_ids: str):
    spans = [{"traceId": TRACE, "spanId": sid, "name": "s", "startTimeUnixNano": "1"} for sid in span_ids]
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    return decode(body, JSON).request


def _stored_ids(directory: Path) -> list[str]:
    return [
        span["spanId"]
        for path in sorted(directory.iterdir())
        for line in path.read_bytes().splitlines()
        for span in orjson.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ]


def test_a_retried_export_is_stored_once_even_by_a_restarted_store(tmp_path: Path) -> None:
    first = SpanStore(tmp_path)
    assert first.put(_request("00000000000000a1", "00000000000000a2")).written == 2
    first.close()  # as if killed after storing, before answering
    second = SpanStore(tmp_path)
    retried = second.put(_request("00000000000000a1", "00000000000000a2", "00000000000000a3"))
    assert (retried.written, retried.duplicates) == (1, 2)
    again = second.put(_request("00000000000000a3", "00000000000000a3"))
    assert (again.written, again.duplicates) == (0, 2)
    second.close()
    assert _stored_ids(tmp_path) == ["00000000000000a1", "00000000000000a2", "00000000000000a3"]


def test_the_window_forgets_the_oldest_span_ids(tmp_path: Path) -> None:
    store = SpanStore(tmp_path, window=2)
    for sid in ("00000000000000b1", "00000000000000b2", "00000000000000b3"):
        store.put(_request(sid))
    assert store.put(_request("00000000000000b3")).duplicates == 1
    assert store.put(_request("00000000000000b1")).written == 1  # forgotten: left to the index
    store.close()


def test_a_cut_last_line_does_not_stop_the_seed(tmp_path: Path) -> None:
    first = SpanStore(tmp_path)
    first.put(_request("00000000000000c1"))
    first.close()
    [path] = tmp_path.iterdir()
    with path.open("ab") as f:
        f.write(b'{"resourceSpans": [{"scopeSp')
    assert SpanStore(tmp_path).put(_request("00000000000000c1")).duplicates == 1
