"""halo:// resources and the two prompts, read through the SDK client."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client, MCPError

from halo_mcp.server import HaloServer

pytestmark = pytest.mark.anyio


async def test_resources_and_templates_are_listed(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert {"halo://dataset/overview", "halo://runs"} <= uris
    assert {
        "halo://traces/{trace_id}{?dataset}",
        "halo://traces/{trace_id}/spans/{span_id}{?dataset}",
        "halo://runs/{run_id}/report",
        "halo://runs/{run_id}/report.json",
    } <= templates


async def test_a_trace_and_a_span_open_as_resources(server: HaloServer, traces_dir: Path) -> None:
    async with Client(server.mcp) as client:
        trace = await client.read_resource("halo://traces/t-bbbb")
        span = await client.read_resource("halo://traces/t-bbbb/spans/s-bbbb-2")
        other = await client.read_resource(f"halo://traces/t-bbbb?dataset={traces_dir / 'tiny.jsonl'}")
    assert "s-bbbb-2" in trace.contents[0].text
    assert "tool failure" in span.contents[0].text
    assert "s-bbbb-2" in other.contents[0].text


async def test_unknown_ids_and_outside_datasets_are_resource_errors(server: HaloServer, outside_dir: Path) -> None:
    async with Client(server.mcp) as client:
        with pytest.raises(MCPError, match="nope"):
            await client.read_resource("halo://traces/nope")
        with pytest.raises(MCPError, match="20990101T000000Z-abcdef"):
            await client.read_resource("halo://runs/20990101T000000Z-abcdef/report")
        with pytest.raises(MCPError, match="outside"):
            await client.read_resource(f"halo://traces/t-bbbb?dataset={outside_dir / 'secret.jsonl'}")


async def test_a_finished_report_is_served_as_markdown_and_json(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        run_id = (await client.call_tool("diagnose", {"question": "What fails?"})).structured_content["run_id"]
        with anyio.fail_after(60):
            await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 30})
        md = await client.read_resource(f"halo://runs/{run_id}/report")
        index = await client.read_resource("halo://runs")
        listed = {str(r.uri) for r in (await client.list_resources(cache_mode="refresh")).resources}
    assert f"halo://runs/{run_id}/report" in listed
    assert md.contents[0].mime_type == "text/markdown"
    assert md.contents[0].text.startswith("# Diagnosis: What fails?")
    assert run_id in index.contents[0].text


async def test_the_prompts_carry_their_arguments(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        diagnose = await client.get_prompt("diagnose_dataset", {"question": "Why loops?", "dataset": "/data/t.jsonl"})
        investigate = await client.get_prompt(
            "investigate_finding", {"run_id": "20260101T000000Z-abcdef", "finding": "2"}
        )
    assert names == {"diagnose_dataset", "investigate_finding"}
    text = diagnose.messages[0].content.text
    assert "Why loops?" in text and "/data/t.jsonl" in text and "diagnose_status" in text
    text = investigate.messages[0].content.text
    assert "20260101T000000Z-abcdef" in text and "finding 2" in text.lower() and "view_spans" in text
