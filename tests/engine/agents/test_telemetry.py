"""`diagnose --telemetry`: a run's own spans, read back by halo-mcp and diagnosed in turn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event, diagnose_stream
from engine.tools.context import ToolContext
from engine.tools.registry import call_tool
from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio

ROOT = "# Question"
TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
LLM_SPAN_C = "b5dd8eb7f514a817"
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"
FINDING = {
    "title": "Final answers are not checked against the question", "category": "wrong_final_answer",
    "impact": "high", "traces_affected": 1, "total_traces": 3,
    "evidence": [{"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": QUOTE_C}],
}  # fmt: skip

Collect = Callable[..., Awaitable[list[Event]]]


async def test_a_diagnose_run_writes_its_spans_and_a_second_run_diagnoses_them(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, tmp_path: Path
) -> None:
    telemetry = tmp_path / "self" / "diagnose.jsonl"
    llm.script_for("Task A", reply.call("query", {}), reply.call("submit_answer", {"answer": "3 traces."}))
    llm.script_for(
        ROOT,
        reply.calls(("call_subagent", {"task": "Task A: how many traces?"}), ("overview", {})),
        reply.call("no_such_tool", {}),
        reply.call("final_report", {"summary": "Answers go unchecked.", "findings": [FINDING]}),
    )  # fmt: skip
    report = (await collect(make_config(telemetry=telemetry)))[-1].report

    spans = [orjson.loads(line) for line in telemetry.read_bytes().splitlines()]
    kinds = Counter(s["attributes"]["openinference.span.kind"] for s in spans)
    assert kinds == {"LLM": report.facts.model_calls, "TOOL": 6, "AGENT": 2, "CHAIN": 1}
    assert len({s["trace_id"] for s in spans}) == 1
    by_id = {s["span_id"]: s for s in spans}
    (chain,) = [s for s in spans if s["name"] == "diagnose"]
    (root,) = [s for s in spans if s["name"] == "root"]
    (child,) = [s for s in spans if s["name"] == "root.1"]
    assert chain["parent_span_id"] == "" and root["parent_span_id"] == chain["span_id"]
    assert by_id[child["parent_span_id"]]["name"] == "call_subagent"  # the subagent under the call that started it
    (query,) = [s for s in spans if s["name"] == "query"]
    assert query["parent_span_id"] == child["span_id"]
    (bad,) = [s for s in spans if s["name"] == "no_such_tool"]
    assert bad["status"]["code"] == "STATUS_CODE_ERROR" and "no tool named" in bad["status"]["message"]
    llm_span = next(s for s in spans if s["attributes"]["openinference.span.kind"] == "LLM")
    assert llm_span["attributes"]["llm.model_name"] == "scripted-agent"
    assert llm_span["attributes"]["llm.token_count.prompt"] == 100

    # halo-mcp reads the run back: overview over the telemetry file
    own = Dataset.open([telemetry])
    context = ToolContext(open_dataset=lambda path: own if path is None else Dataset.open([path]))
    overview = await call_tool("overview", context, {})
    assert own.n_traces == 1 and own.n_spans == len(spans)
    assert "halo-mcp-diagnose" in overview.text and "overview" in overview.text

    # ... and diagnoses it, citing a span of the first run
    (overview_span,) = [s for s in spans if s["name"] == "overview"]
    cite = {"trace_id": spans[0]["trace_id"], "span_id": overview_span["span_id"], "quote": "overview"}
    second = {**FINDING, "title": "The lead agent reads the overview again", "category": "other",
              "total_traces": 1, "evidence": [cite]}  # fmt: skip
    llm.script_for(ROOT, reply.call("final_report", {"summary": "One run, checked.", "findings": [second]}))
    config = make_config()
    events = [e async for e in diagnose_stream("What did the diagnose run do?", context, config)]
    again = events[-1].report
    assert (again.citations_checked, again.citations_failed) == (1, 0) and not again.partial


async def test_without_telemetry_no_file_is_written(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, tmp_path: Path
) -> None:
    llm.script_for(ROOT, reply.call("final_report", {"summary": "s", "findings": [FINDING]}))
    await collect(make_config())
    assert [p.name for p in tmp_path.rglob("*.jsonl")] == ["events.jsonl"]  # the run log only
