"""The real process: `halo-mcp serve --stdio` spawned by the SDK's stdio client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from support.scripted_llm import ScriptedLLM, reply

pytestmark = pytest.mark.anyio


def sample_arguments(trace_id: str, span_id: str) -> dict[str, dict]:
    """One sensible call per tool, on the sample traces."""
    return {
        "overview": {},
        "query": {"has_errors": True},
        "search": {"pattern": "tool fail", "ignore_case": True},
        "view_trace": {"trace_id": trace_id},
        "view_spans": {"trace_id": trace_id, "span_ids": [span_id]},
        "synthesize": {"question": "What went wrong?", "trace_ids": [trace_id]},
        "run_code": {"code": "len(spans)"},
        "patterns": {},
        "compare": {"after": "2026-04-23T05:32:30Z"},
        "datasets": {},
        "diagnose": {"question": "Why do runs fail?"},
        "diagnose_status": {"wait_seconds": 20},
        "diagnose_runs": {},
    }


async def test_every_tool_answers_over_stdio(traces_dir: Path, tmp_path: Path, stdio_params) -> None:
    params = stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"))
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        calls = sample_arguments("t-bbbb", "s-bbbb-2")
        missing = names - set(calls) - {"diagnose_cancel"}
        assert not missing, f"no sample call for {missing}"
        answers = {}
        for name in [n for n in calls if n in names]:
            with anyio.fail_after(60):
                answers[name] = await client.call_tool(name, calls[name])
        errors = {n: r.content[0].text for n, r in answers.items() if r.is_error}
        # synthesize without a model says so as an error; everything else answers.
        errors.pop("synthesize", None)
        assert errors == {}
        assert answers["diagnose_status"].structured_content["status"] == "finished"
        run_id = answers["diagnose"].structured_content["run_id"]
        report = await client.read_resource(f"halo://runs/{run_id}/report")
        assert "# Diagnosis" in report.contents[0].text
        overview = await client.read_resource("halo://dataset/overview")
        assert overview.contents[0].text.strip()
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert {"diagnose_dataset", "investigate_finding"} <= prompts


async def test_a_full_diagnosis_over_stdio_against_a_scripted_model(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    final = {
        "summary": "One trace fails in a tool call.",
        "findings": [
            {
                "title": "Tool call failures",
                "category": "tool_error",
                "impact": "high",
                "traces_affected": 1,
                "total_traces": 3,
                "evidence": [{"trace_id": "t-bbbb", "span_id": "s-bbbb-2", "quote": "tool failure"}],
            }
        ],
    }
    with ScriptedLLM() as llm:
        llm.script(reply.call("overview", {}), reply.call("final_report", final))
        params = stdio_params(
            tmp_path, str(traces_dir / "tiny.jsonl"), OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="test"
        )
        async with Client(params) as client:
            started = await client.call_tool("diagnose", {"question": "Why do runs fail?"})
            run_id = started.structured_content["run_id"]
            with anyio.fail_after(60):
                status = await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 30})
            assert status.structured_content["status"] == "finished"
            assert status.structured_content["report"]["findings"][0]["title"] == "Tool call failures"
            report = await client.read_resource(f"halo://runs/{run_id}/report")
        assert "Tool call failures" in report.contents[0].text
    assert (tmp_path / "runs" / run_id / "report.md").is_file()


def _rpc(proc: subprocess.Popen, message: dict | str) -> None:
    line = message if isinstance(message, str) else json.dumps(message)
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _read(proc: subprocess.Popen) -> dict:
    return json.loads(proc.stdout.readline())


def test_malformed_input_is_answered_or_dropped_and_the_server_keeps_serving(
    traces_dir: Path, tmp_path: Path, server_env
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "serve", "--stdio", str(traces_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        _rpc(proc, "this is not json {")
        _rpc(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            },
        )
        init = _read(proc)
        assert init["id"] == 1 and init["result"]["serverInfo"]["name"] == "halo-mcp"
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"arguments": {}}})
        bad = _read(proc)
        assert bad["id"] == 2 and bad["error"]["code"] == -32602
        _rpc(proc, {"jsonrpc": "2.0", "id": 3, "method": "no/such/method"})
        unknown = _read(proc)
        assert unknown["id"] == 3 and unknown["error"]["code"] == -32601
        _rpc(proc, {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "datasets", "arguments": {}}})
        ok = _read(proc)
        assert ok["id"] == 4 and ok["result"]["isError"] is False
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, stderr


def test_nothing_but_protocol_reaches_stdout(traces_dir: Path, tmp_path: Path, server_env) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "-v", "serve", "--stdio", str(traces_dir)],
        input=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            }
        )
        + "\n",
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert len(lines) == 1
