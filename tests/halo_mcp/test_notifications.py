"""What the server tells a stdio client unasked: index progress, the end of a fast run, new resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


def _method(message: Any) -> str | None:
    return getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)


async def test_a_first_use_reports_index_progress_to_a_client_that_asked(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    # No default dataset: nothing is indexed before the call, so the call builds the index.
    params = stdio_params(tmp_path, "--root", str(traces_dir))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(params) as client:
        with anyio.fail_after(120):
            result = await client.call_tool("overview", {"dataset": str(traces_dir)}, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    indexing = [s for s in seen if s[2] and s[2].startswith("indexing traces")]
    assert indexing, seen
    assert indexing[-1][0] == 1.0 and indexing[-1][1] == 1.0
    assert [s[0] for s in indexing] == sorted(s[0] for s in indexing)


async def test_a_fast_run_is_answered_finished_not_running_after_0s(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    async with Client(stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"))) as client:
        with anyio.fail_after(60):
            started = await client.call_tool("diagnose", {"question": "Why do runs fail?"})
    assert started.structured_content["status"] == "finished", started.content[0].text
    assert "running after" not in started.content[0].text


async def test_a_new_report_is_announced_to_a_handshake_era_client(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    methods: list[str] = []

    async def on_message(message: Any) -> None:
        method = _method(message)
        if method:
            methods.append(method)

    params = stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"))
    async with Client(params, message_handler=on_message, mode="legacy") as client:
        assert client.server_capabilities.resources.list_changed is True
        with anyio.fail_after(60):
            started = await client.call_tool("diagnose", {"question": "Why do runs fail?", "wait_seconds": 30})
        run_id = started.structured_content["run_id"]
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        with anyio.fail_after(30):
            while "notifications/resources/list_changed" not in methods:
                await anyio.sleep(0.05)
    assert f"halo://runs/{run_id}/report" in listed


async def test_a_new_report_is_announced_on_a_listen_stream(traces_dir: Path, tmp_path: Path, stdio_params) -> None:
    async with Client(stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"))) as client:
        async with client.listen(resources_list_changed=True) as events:
            with anyio.fail_after(60):
                started = await client.call_tool("diagnose", {"question": "Why do runs fail?", "wait_seconds": 30})
                event = await events.__anext__()
        assert "resource" in type(event).__name__.lower(), event
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert f"halo://runs/{started.structured_content['run_id']}/report" in listed
