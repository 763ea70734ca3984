"""Identifiers handed out by one server process work in the next one.

Claude Code, Cursor and the Inspector start a new `serve --stdio` process per
session, so a run id, a report URI or a cursor from yesterday's session reaches
a process that never saw it made. Each test runs two real processes in turn.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


async def _first_session(params) -> dict[str, str]:
    """Run a diagnosis to its end and collect what a client would keep."""
    async with Client(params) as client:
        with anyio.fail_after(90):
            started = await client.call_tool("diagnose", {"question": "Why do runs fail?", "wait_seconds": 40})
        assert started.structured_content["status"] == "finished", started.content[0].text
        page = await client.call_tool("query", {"limit": 1})
        assert not page.is_error and page.structured_content["next_cursor"]
        found = await client.call_tool("search", {"pattern": "error", "ignore_case": True, "limit": 1})
        assert not found.is_error and found.structured_content.get("next_cursor"), found.content[0].text
        match = found.structured_content["matches"][0]
        return {
            "search_cursor": found.structured_content["next_cursor"],
            "span_uri": f"halo://traces/{match['trace_id']}/spans/{match['span_id']}",
            "span_id": match["span_id"],
            "run_id": started.structured_content["run_id"],
            "report_uri": started.structured_content["report_uri"],
            "cursor": page.structured_content["next_cursor"],
            "first_trace": page.structured_content["traces"][0]["trace_id"],
        }


async def test_a_run_made_by_one_process_is_read_by_the_next(traces_dir: Path, tmp_path: Path, stdio_params) -> None:
    params = stdio_params(tmp_path, str(traces_dir))
    kept = await _first_session(params)
    async with Client(params) as client:
        runs = json.loads((await client.read_resource("halo://runs")).contents[0].text)
        assert [r["run_id"] for r in runs] == [kept["run_id"]]
        assert runs[0]["status"] == "finished" and runs[0]["report"] == kept["report_uri"]
        report = await client.read_resource(kept["report_uri"])
        assert "# Diagnosis" in report.contents[0].text
        status = await client.call_tool("diagnose_status", {"run_id": kept["run_id"], "wait_seconds": 5})
        assert not status.is_error, status.content[0].text
        assert status.structured_content["status"] == "finished"
        assert status.structured_content["report"]["findings"] is not None
        cancelled = await client.call_tool("diagnose_cancel", {"run_id": kept["run_id"]})
        assert not cancelled.is_error and cancelled.structured_content["status"] == "finished"
        listed = await client.call_tool("diagnose_runs", {})
        assert listed.structured_content["items"][0]["run_id"] == kept["run_id"]


async def test_cursors_and_trace_uris_from_one_process_work_in_the_next(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    params = stdio_params(tmp_path, str(traces_dir))
    kept = await _first_session(params)
    async with Client(params) as client:
        page = await client.call_tool("query", {"cursor": kept["cursor"]})
        assert not page.is_error, page.content[0].text
        assert page.structured_content["traces"][0]["trace_id"] != kept["first_trace"]
        trace = await client.read_resource(f"halo://traces/{kept['first_trace']}")
        assert kept["first_trace"] in trace.contents[0].text
        more = await client.call_tool("search", {"cursor": kept["search_cursor"]})
        assert not more.is_error, more.content[0].text
        span = await client.read_resource(kept["span_uri"])
        assert kept["span_id"] in span.contents[0].text
