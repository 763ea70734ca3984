"""A folder the server keeps listings of still answers with every file it holds now.

The server lists its dataset on every tool call and reuses a directory's kept
listing while the directory is unchanged (`engine/traces/index/listings.py`).
Two real server processes in turn, on a folder old enough for its listing to
be kept: files added and removed meanwhile are seen at once, in the same
session and in the next.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from mcp import Client

from engine.traces.index import listings

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


async def _traces(client: Client) -> int:
    result = await client.call_tool("overview", {})
    assert not result.is_error, result.content[0].text
    traces: int = result.structured_content["traces"]
    return traces


async def test_files_added_or_removed_are_seen_although_the_listing_was_kept(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    time.sleep(listings.RACY_NS / 1e9 + 0.2)  # the folder is then old enough for its listing to be kept
    params = stdio_params(tmp_path, str(traces_dir))
    home = listings.Listings(tmp_path / "cache").home
    async with Client(params) as client:
        before = await _traces(client)
        assert home.exists() and any(home.iterdir()), "the folder's listing was not kept"
        assert await _traces(client) == before  # from the kept listing
        shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", traces_dir / "added.jsonl")
        with_added = await _traces(client)
        assert with_added > before
    async with Client(params) as client:
        assert await _traces(client) == with_added
        (traces_dir / "tiny.jsonl").unlink()
        assert await _traces(client) == before  # tiny.jsonl and added.jsonl hold the same traces
