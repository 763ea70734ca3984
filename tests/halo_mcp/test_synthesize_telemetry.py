"""`serve --telemetry`: a plain MCP `synthesize` call is recorded as a trace of its own model calls.

The real server process over stdio, the real `openai` client against the scripted
model server on 127.0.0.1, and the recorded file read back by `overview`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from mcp import Client
from support.scripted_llm import ScriptedLLM, reply

pytestmark = pytest.mark.anyio
HIDDEN = ["000000000000000000000000a000006f", "000000000000000000000000a0000070"]


async def test_each_synthesize_call_over_mcp_is_one_trace_of_llm_spans(
    tmp_path: Path, fixtures: Path, stdio_params, server_env
) -> None:
    telemetry = tmp_path / "own.jsonl"
    dataset = str(fixtures / "analytics" / "patterns.jsonl")
    with ScriptedLLM() as llm:
        llm.script_for("You are reading one trace", *[reply.text("a note")] * 4)
        llm.script_for("You are given notes on several traces", *[reply.text("the summary")] * 2)
        params = stdio_params(tmp_path, dataset, "--model", "m", "--telemetry", str(telemetry),
                              OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="test")  # fmt: skip
        async with Client(params) as client:
            for _ in range(2):
                result = await client.call_tool("synthesize", {"trace_ids": HIDDEN, "question": "Why?"})
                assert not result.is_error, result.content
            plain = await client.call_tool("overview", {})
            assert not plain.is_error
    spans = [orjson.loads(line) for line in telemetry.read_bytes().splitlines()]
    traces = {s["trace_id"] for s in spans}
    assert len(traces) == 2  # one per call; overview recorded nothing
    kinds = sorted(s["attributes"]["openinference.span.kind"] for s in spans)
    assert kinds == ["CHAIN"] * 2 + ["LLM"] * 6
    done = subprocess.run([sys.executable, "-m", "halo_mcp", "overview", str(telemetry), "--json"],
                          capture_output=True, text=True, env=server_env(tmp_path), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["traces"] == 2
