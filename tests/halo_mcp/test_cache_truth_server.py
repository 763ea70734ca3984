"""The MCP server never serves an index its file outgrew: same-size rewrites, forced shapes (issue 16: 4, 5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client
from support.halo_lines import jsonl, span

from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio


def _file(path: Path) -> tuple[bytes, bytes]:
    head = [span("t1", f"s{i}", name="head") for i in range(600)]  # past the hashed head
    a = span("t2", "b", name="tail-a")
    b = span("t2", "c", "b", name="tail-b", attributes={"pad": "y" * 40})
    path.write_bytes(jsonl(*head, a, b))
    new = jsonl(dict(a, name="tail-a-renamed"), dict(b, attributes={**b["attributes"], "pad": "y" * 32}))
    return jsonl(a, b), new


async def test_a_same_size_rewrite_with_the_old_mtime_is_answered_from_the_new_index(
    make_server, tmp_path: Path
) -> None:
    path = tmp_path / "t.jsonl"
    old, new = _file(path)
    server = make_server([str(path)])
    async with server.runs, Client(server.mcp) as client:
        first = await client.call_tool("view_spans", {"trace_id": "t2", "span_ids": ["b", "c"]})
        assert not first.is_error and "tail-a" in first.content[0].text
        st = path.stat()
        path.write_bytes(path.read_bytes().replace(old, new))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size
        again = await client.call_tool("view_spans", {"trace_id": "t2", "span_ids": ["b", "c"]})
    assert not again.is_error, again.content[0].text
    spans = {s["span_id"]: s for s in again.structured_content["spans"]}
    assert spans["b"]["name"] == "tail-a-renamed" and spans["c"]["name"] == "tail-b"


async def test_a_forced_shape_in_the_cli_does_not_poison_the_server(make_server, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a"), span("t2", "b"), span("t3", "c")))
    assert Dataset.open([path], shape="otlp").n_traces == 0  # what `overview --shape otlp F` leaves in the cache
    server = make_server([str(path)])
    async with server.runs, Client(server.mcp) as client:
        result = await client.call_tool("overview", {})
    assert not result.is_error
    assert result.structured_content["traces"] == 3
