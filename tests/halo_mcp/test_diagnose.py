"""diagnose over MCP: background runs against the scripted OpenAI-compatible server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from support.scripted_llm import ScriptedLLM, reply

from engine.llm import LLMConfig
from halo_mcp.run_tools import SETTLE_WAIT_S
from halo_mcp.server import HaloServer

pytestmark = pytest.mark.anyio

FINAL = {
    "summary": "Tool calls fail and the agent does not recover.",
    "findings": [
        {
            "title": "Tool failures end the run",
            "category": "tool_error",
            "impact": "high",
            "traces_affected": 1,
            "total_traces": 3,
            "evidence": [{"trace_id": "t-bbbb", "span_id": "s-bbbb-2", "quote": "tool failure"}],
            "hypothesis": "No retry after a failed tool call.",
            "change_target": "retry_logic",
            "change": "Retry a failed tool call once with the error in context.",
        }
    ],
}


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as scripted:
        yield scripted


@pytest.fixture
async def model_server(make_server, traces_dir: Path, llm: ScriptedLLM):
    config = LLMConfig(base_url=llm.base_url, api_key="test", model="scripted", max_retries=0)
    halo = make_server([str(traces_dir / "tiny.jsonl")], llm=config)
    async with halo.runs:
        yield halo


async def _until_done(client: Client, run_id: str) -> dict:
    with anyio.fail_after(60):
        while True:
            status = (
                await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 5})
            ).structured_content
            if status["status"] != "running":
                return status


async def test_diagnose_returns_at_once_then_status_brings_the_report(
    model_server: HaloServer, llm: ScriptedLLM
) -> None:
    llm.script(reply.call("overview", {}, delay_s=3.0), reply.call("final_report", FINAL))
    async with Client(model_server.mcp) as client:
        with anyio.fail_after(SETTLE_WAIT_S + 1.5):
            started = await client.call_tool("diagnose", {"question": "Why do runs fail?"})
        assert not started.is_error, started.content[0].text
        run = started.structured_content
        assert run["status"] == "running"
        assert run["report_uri"] == f"halo://runs/{run['run_id']}/report"
        done = await _until_done(client, run["run_id"])
        assert done["status"] == "finished", done
        assert done["report"]["findings"][0]["title"] == "Tool failures end the run"
        assert done["report"]["produced_by"] == "model"
        resource = await client.read_resource(run["report_uri"])
        assert "Tool failures end the run" in resource.contents[0].text
        as_json = await client.read_resource(run["report_uri"] + ".json")
        assert '"run_id"' in as_json.contents[0].text
        listed = (await client.call_tool("diagnose_runs", {})).structured_content
        assert listed["items"][0]["run_id"] == run["run_id"]
    assert any("final_report" in r.tool_names for r in llm.requests)


async def test_without_a_model_diagnose_reports_the_deterministic_analytics(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        run = (await client.call_tool("diagnose", {"question": "What fails?"})).structured_content
        done = await _until_done(client, run["run_id"])
    assert done["status"] == "finished"
    assert done["report"]["produced_by"] == "deterministic"


async def test_a_run_survives_the_client_that_started_it(model_server: HaloServer, llm: ScriptedLLM) -> None:
    llm.script(reply.call("overview", {}, delay_s=1.5), reply.call("final_report", FINAL))
    async with Client(model_server.mcp) as first:
        run_id = (await first.call_tool("diagnose", {"question": "Why?"})).structured_content["run_id"]
    # The first client is gone; a second one finds the run going and then finished.
    async with Client(model_server.mcp) as second:
        done = await _until_done(second, run_id)
    assert done["status"] == "finished"


async def test_status_long_polls_and_sends_progress_to_a_client_that_asks(
    model_server: HaloServer, llm: ScriptedLLM
) -> None:
    # Slower than diagnose's settle wait, so the run is still going when status is asked.
    llm.script(reply.call("overview", {}, delay_s=SETTLE_WAIT_S + 0.5), reply.call("final_report", FINAL, delay_s=0.5))
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with Client(model_server.mcp) as client:
        run_id = (await client.call_tool("diagnose", {"question": "Why?"})).structured_content["run_id"]
        with anyio.fail_after(40):
            result = await client.call_tool(
                "diagnose_status", {"run_id": run_id, "wait_seconds": 30}, progress_callback=on_progress
            )
    assert result.structured_content["status"] == "finished"
    assert progress, "no progress notification arrived"
    values = [v for v, _ in progress]
    assert values == sorted(values)


async def test_cancel_stops_a_running_diagnosis(model_server: HaloServer, llm: ScriptedLLM) -> None:
    llm.script(reply.call("overview", {}, delay_s=30), reply.call("final_report", FINAL))
    async with Client(model_server.mcp) as client:
        run_id = (await client.call_tool("diagnose", {"question": "Why?"})).structured_content["run_id"]
        with anyio.fail_after(10):
            cancelled = (await client.call_tool("diagnose_cancel", {"run_id": run_id})).structured_content
        assert cancelled["status"] == "cancelled"
        status = (await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 0})).structured_content
    assert status["status"] == "cancelled"


async def test_unknown_runs_are_named_in_the_error(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("diagnose_status", {"run_id": "20990101T000000Z-abcdef", "wait_seconds": 0})
        missing = await client.call_tool("diagnose_status", {"wait_seconds": 0})
    assert result.is_error and "20990101T000000Z-abcdef" in result.content[0].text
    assert missing.is_error and "diagnose" in missing.content[0].text


async def test_diagnose_refuses_a_dataset_outside_the_roots(server: HaloServer, outside_dir: Path) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("diagnose", {"question": "Why?", "dataset": str(outside_dir)})
    assert result.is_error and "outside" in result.content[0].text


async def test_cancelling_a_diagnose_call_that_waits_stops_its_run(model_server: HaloServer, llm: ScriptedLLM) -> None:
    llm.script(reply.call("overview", {}, delay_s=30), reply.call("final_report", FINAL))
    async with Client(model_server.mcp) as client:
        with anyio.move_on_after(2):
            await client.call_tool("diagnose", {"question": "Why?", "wait_seconds": 40})
        with anyio.fail_after(10):
            while True:
                runs = (await client.call_tool("diagnose_runs", {})).structured_content["items"]
                if runs and runs[0]["status"] != "running":
                    break
                await anyio.sleep(0.1)
    assert runs[0]["status"] == "cancelled"


async def test_diagnose_with_a_baseline_reports_what_changed_first(make_server, tmp_path: Path, fixtures: Path) -> None:
    runs = tmp_path / "compare"
    shutil.copytree(fixtures / "compare" / "runs", runs)
    halo = make_server([str(runs / "after.jsonl")], roots=[str(runs)])
    async with halo.runs, Client(halo.mcp) as client:
        run = (
            await client.call_tool("diagnose", {"question": "What changed?", "baseline": str(runs / "before.jsonl")})
        ).structured_content
        done = await _until_done(client, run["run_id"])
    changes = done["report"]["changes"]
    assert done["status"] == "finished" and changes["counts"] == {"resolved": 1, "unchanged": 1}
    assert changes["patterns"][0]["title"] == "error family rate limited on 2 span names"


async def test_diagnose_refuses_a_baseline_outside_the_roots(server: HaloServer, outside_dir: Path) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("diagnose", {"question": "Why?", "baseline": str(outside_dir)})
    assert result.is_error and "outside" in result.content[0].text
