"""Forged cursors and out-of-range values are refused in sentences that name the argument."""

from __future__ import annotations

import base64
import json

import pytest
from mcp import Client

from halo_mcp.server import HaloServer

pytestmark = pytest.mark.anyio

# Raw Python text that reached the model before: exception reprs, library messages, pydantic dumps.
RAW = ("KeyError", "Traceback", "object is not", "not a mapping", "Integer exceeds", "embedded null byte",
       "invalid literal", "not iterable", "validation error for", "errors.pydantic.dev",
       "first argument must")  # fmt: skip


def forged(state: dict) -> str:
    """A cursor as the tools write them, with whatever state a forger likes (json allows >64-bit ints)."""
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


CASES = [
    ("query", {"cursor": forged({"t": "query"})}, "cursor"),
    ("query", {"cursor": forged({"t": "query", "f": [1], "s": "start", "d": False})}, "cursor"),
    ("query", {"cursor": forged({"t": "query", "f": {"zz": 1}, "s": "start", "d": False})}, "unknown filter zz"),
    ("query", {"cursor": forged({"t": "query", "f": {"min_tokens": 2**64}, "s": "start", "d": False})}, "min_tokens"),
    ("query", {"cursor": forged({"t": "query", "f": {}, "s": "start", "d": False, "k": 10**30})}, "cursor"),
    ("query", {"cursor": forged({"t": "query", "f": {}, "s": "bogus", "d": False, "c": [1]})}, "cursor"),
    ("search", {"cursor": forged({"t": "search"})}, "cursor"),
    ("search", {"cursor": forged({"t": "search", "p": 1, "cx": 10**30, "k": -5})}, "cursor"),
    ("patterns", {"cursor": forged({"t": "patterns", "o": "x"})}, "cursor"),
    ("patterns", {"cursor": forged({"t": "patterns", "o": 0, "k": 5})}, "cursor"),
    ("view_trace", {"trace_id": "t-bbbb", "cursor": forged({"t": "view_trace", "o": "x"})}, "cursor"),
    ("view_trace", {"trace_id": "t-bbbb", "cursor": "!!not base64!!"}, "cursor"),
    ("query", {"min_tokens": 2**64}, "min_tokens"),
    ("query", {"max_tokens": -(2**70)}, "max_tokens"),
    ("query", {"limit": 10**30}, "limit"),
    ("overview", {"top": -(2**70)}, "top"),
    ("view_spans", {"trace_id": "t-bbbb", "span_ids": ["s-bbbb-2"], "offset": 2**70}, "offset"),
    ("search", {"pattern": "a\x00b"}, "pattern"),
    ("view_trace", {"trace_id": "t\x00"}, "trace_id"),
    ("overview", {"dataset": "traces/\x00x"}, "dataset"),
    ("datasets", {"path": "/\x00"}, "path"),
    ("query", {"trace_ids": ["a", "b\x00"]}, "trace_ids.1"),
    ("query", {"limit": "many"}, "limit must be an integer"),
    ("query", {"sort": "size"}, "sort must be one of"),
    ("view_spans", {"trace_id": "t-bbbb", "span_ids": "s-bbbb-2"}, "span_ids must be a list"),
    ("overview", {"bogus": 1}, "bogus: not an argument"),
    ("diagnose_runs", {"limit": 0}, "limit must be at least 1"),
]


async def test_every_bad_value_is_refused_in_a_sentence_naming_it(server: HaloServer) -> None:
    wrong = []
    async with Client(server.mcp) as client:
        for tool, arguments, named in CASES:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text
            raw = [r for r in RAW if r in text]
            if not result.is_error or named not in text or raw or len(text) > 800:
                wrong.append(f"{tool} {arguments}: {text[:300]}")
    assert wrong == []


async def test_a_genuine_cursor_still_pages(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        for tool, first in (("query", {"limit": 1}), ("search", {"pattern": "span", "limit": 1})):
            page = await client.call_tool(tool, first)
            cursor = page.structured_content["next_cursor"]
            assert cursor, tool
            following = await client.call_tool(tool, {"cursor": cursor})
            assert not following.is_error, following.content[0].text
