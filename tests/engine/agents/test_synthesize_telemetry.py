"""Telemetry of `synthesize`: its model calls in a traced diagnose run become LLM spans under its tool call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event
from engine.agents.telemetry import Telemetry
from engine.llm import LLMConfig
from engine.tools.context import ToolContext
from engine.tools.registry import call_tool
from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio

TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
MAP = "You are reading one trace of an LLM agent run"
REDUCE = "You are given notes on several traces"
Collect = Callable[..., Awaitable[list[Event]]]


def _spans(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_synthesize_in_a_traced_run_records_a_chain_and_an_llm_span_per_model_call(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, tmp_path: Path
) -> None:
    telemetry = tmp_path / "self.jsonl"
    llm.script_for(MAP, reply.text("The answer names the wrong person (span b5dd8eb7f514a817)."))
    llm.script_for(REDUCE, reply.text("One trace: the final answer is wrong."))
    llm.script_for(
        "# Question",
        reply.call("synthesize", {"trace_ids": [TRACE_C], "question": "Is the answer right?"}),
        reply.call("final_report", {"summary": "Read one trace.", "findings": []}),
    )  # fmt: skip
    await collect(make_config(telemetry=telemetry))

    spans = _spans(telemetry)
    by_id = {s["span_id"]: s for s in spans}
    (tool,) = [s for s in spans if s["name"] == "synthesize" and s["attributes"]["openinference.span.kind"] == "TOOL"]
    (chain,) = [s for s in spans if s["name"] == "synthesize" and s["attributes"]["openinference.span.kind"] == "CHAIN"]
    assert chain["parent_span_id"] == tool["span_id"]
    assert chain["attributes"]["input.value"] == "Is the answer right?"
    assert chain["attributes"]["output.value"] == "One trace: the final answer is wrong."
    (note,) = [s for s in spans if s["name"] == f"synthesize note on {TRACE_C}"]
    (summary,) = [s for s in spans if s["name"] == "synthesize summary"]
    for span in (note, summary):
        assert by_id[span["parent_span_id"]] is chain and span["attributes"]["openinference.span.kind"] == "LLM"
        assert span["attributes"]["llm.model_name"] == "scripted-agent"
        assert span["attributes"]["llm.token_count.prompt"] == 100
    assert "wrong person" in note["attributes"]["output.value"] and MAP in note["attributes"]["input.value"]


async def test_a_python_caller_traces_synthesize_with_a_recorder_in_its_context(
    llm: ScriptedLLM, trail: Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "synth.jsonl"
    llm.script_for(MAP, reply.text("note"))
    llm.script_for(REDUCE, reply.text("summary"))
    context = ToolContext(
        open_dataset=lambda _: trail,
        llm=LLMConfig(base_url=llm.base_url, model="scripted-synth", backoff_s=0.01, timeout_s=10),
        telemetry=Telemetry(path, "python-caller"),
    )  # fmt: skip
    await call_tool("synthesize", context, {"trace_ids": [TRACE_C]})
    kinds = sorted(s["attributes"]["openinference.span.kind"] for s in _spans(path))
    assert kinds == ["CHAIN", "LLM", "LLM"]
    assert len({s["trace_id"] for s in _spans(path)}) == 1
    assert Dataset.open([path]).n_spans == 3  # halo-mcp reads it back
