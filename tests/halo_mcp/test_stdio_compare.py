"""`compare` over the real stdio transport: a real client, the real server process."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[1] / "fixtures" / "compare"


async def test_compare_answers_over_stdio_with_verdicts(tmp_path: Path, stdio_params) -> None:
    root = tmp_path / "traces"
    shutil.copytree(FIXTURES / "runs", root)
    async with Client(stdio_params(tmp_path, str(root))) as client:
        with anyio.fail_after(120):
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert "compare" in tools and tools["compare"].annotations.read_only_hint
            two = await client.call_tool(
                "compare", {"baseline": str(root / "before.jsonl"), "candidate": str(root / "after.jsonl")}
            )
            split = await client.call_tool("compare", {"after": "2026-04-24T00:00:00Z"})
            refused = await client.call_tool("compare", {})
    assert not two.is_error, two.content[0].text
    assert "1. RESOLVED [error_signature] error family rate limited on 2 span names" in two.content[0].text
    assert two.structured_content["patterns"][0]["verdict"] == "resolved"
    assert split.structured_content["baseline_traces"] == split.structured_content["candidate_traces"] == 60
    assert refused.is_error and "compare needs a candidate dataset" in refused.content[0].text


async def test_a_diagnose_finding_is_checked_by_run_id_over_stdio(tmp_path: Path, stdio_params) -> None:
    root = tmp_path / "traces"
    shutil.copytree(FIXTURES / "runs", root)
    async with Client(stdio_params(tmp_path, str(root / "before.jsonl"), str(root / "after.jsonl"))) as client:
        with anyio.fail_after(120):
            started = await client.call_tool("diagnose", {"question": "why?", "dataset": str(root / "before.jsonl")})
            run_id = started.structured_content["run_id"]
            done = await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 40})
            assert done.structured_content["status"] == "finished", done.content[0].text
            checked = await client.call_tool(
                "compare", {"candidate": str(root / "after.jsonl"), "run_id": run_id, "finding": 1}
            )
    assert not checked.is_error, checked.content[0].text
    finding = checked.structured_content["finding"]
    assert finding["still_occurs"] is False and finding["patterns"][0]["verdict"] == "resolved"
    assert "finding check: finding 1 of run" in checked.content[0].text
