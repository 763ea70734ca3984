"""What a model's report may carry: weak findings refused, empty reports completed, notes quoted.

Against the scripted model on 127.0.0.1 over the TRAIL sample (3 traces), as in
test_diagnose; the model here writes what small local models wrote (issue 17).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event, RunStore
from halo_mcp.run_tools import RunList, RunSummary
from halo_mcp.runs import RunManager

pytestmark = pytest.mark.anyio

TRACE_A = "0ebe673d64647ec44c370638b82d3c78"
TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
LLM_SPAN_C = "b5dd8eb7f514a817"  # the slow, token-heavy LLM call the analytics measure in 1/3 traces
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"
ROOT = "# Question"
QUESTION = "Why do these runs fail?"

Collect = Callable[..., Awaitable[list[Event]]]


def finding(
    title: str, affected: int = 1, total: int = 3, evidence: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    cited = evidence if evidence is not None else [{"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": QUOTE_C}]
    return {"title": title, "category": "latency", "impact": "high", "traces_affected": affected,
            "total_traces": total, "evidence": cited}  # fmt: skip


GOOD = finding("Answers rest on one slow, unverified model call")
BARE_IDS = [{"trace_id": TRACE_A}, {"trace_id": TRACE_A}]


def tool_results(events: list[Event], name: str) -> list[str]:
    return [e.text for e in events if e.type == "tool_result" and e.name == name]


async def test_schema_name_findings_with_impossible_frequencies_get_one_correction_then_are_dropped(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(
        ROOT,
        reply.call("record_finding", finding("Category", 3, 6, BARE_IDS)),
        reply.call("record_finding", finding("FindingArgs", 5, 3)),
        reply.call("final_report", {"summary": "s", "findings": [GOOD]}),
    )
    events = await collect(make_config())

    corrected, dropped, _ = tool_results(events, "record_finding") + tool_results(events, "final_report")
    assert "not recorded, because they are too weak" in corrected
    assert "6 traces in all, but the dataset has 3" in corrected and "field or schema name" in corrected
    assert "evidence is only trace ids" in corrected
    assert dropped.startswith("Dropped") and "5 affected traces out of 3" in dropped
    report = events[-1].report
    assert [f.title for f in report.findings] == [GOOD["title"]]
    assert any(n.startswith("Dropped the finding 'FindingArgs'") for n in report.notes)
    assert "Dropped the finding 'FindingArgs'" in report.to_markdown()


async def test_a_title_repeating_the_question_or_a_count_above_the_measured_pattern_is_sent_back(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    overstated = finding("Model calls are slow", 3, 3)  # its span is measured in 1/3 traces
    llm.script_for(
        ROOT,
        reply.call("final_report", {"summary": "s", "findings": [finding(QUESTION), overstated]}),
        reply.call("final_report", {"summary": "s", "findings": [finding("Model calls are slow", 1, 3)]}),
    )
    events = await collect(make_config())

    first, second = tool_results(events, "final_report")
    assert "repeats the question" in first
    assert "the analytics measure" in first and "in 1/3 traces" in first and "claims 3/3" in first
    assert second == "Report accepted."
    report = events[-1].report
    assert [(f.title, str(f.frequency)) for f in report.findings] == [("Model calls are slow", "1/3 traces (33%)")]
    assert not report.notes


async def test_an_empty_final_report_is_sent_back_once_then_completed_with_the_analytics_findings(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    empty = reply.call("final_report", {"summary": "The page_down loop wastes turns."})
    llm.script_for(ROOT, empty, empty)
    events = await collect(make_config())

    asked, accepted = tool_results(events, "final_report")
    assert "your report has no findings" in asked and "slow LiteLLMModel.__call__ spans" in asked
    assert accepted == "Report accepted."
    report = events[-1].report
    assert not report.partial and report.summary == "The page_down loop wastes turns."
    assert report.findings and all(f.source == "analytics" for f in report.findings)
    assert any("reported no findings" in n for n in report.notes)
    md = report.to_markdown()
    assert "· from analytics" in md and "No findings." not in md


def _outside_fences(markdown: str) -> list[str]:
    """The lines of a CommonMark document that are not inside a fenced code block."""
    lines, fence = [], None
    for line in markdown.split("\n"):
        opener = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence is None and opener:
            fence = opener.group(1)
        elif fence is not None and re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


async def test_the_last_notes_of_a_partial_run_cannot_break_the_reports_markdown(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    raw = [
        "Let me look.\n```json\n{\"name\": \"query\"\n",  # an unclosed fence
        "<tool_response>\n# Fake heading\n| a | b |\n</tool_response>\nThe loop in trace A repeats page_down.",
    ]
    llm.script_for(ROOT, *[reply.call("query", {"count_only": True}, content=text) for text in raw])
    events = await collect(make_config(max_turns=2))

    report = events[-1].report
    assert report.partial and "The loop in trace A repeats page_down." in report.summary
    assert "<tool_response>" not in report.summary and "Fake heading" not in report.summary
    outside = _outside_fences(report.to_markdown())
    assert "## Findings" in outside and "## Citations" in outside and "## Run" in outside
    assert not any("Let me look" in line or '"name"' in line for line in outside)  # quoted, inside the fence


async def test_a_partial_run_is_listed_with_the_findings_its_report_carries(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, tmp_path: Path
) -> None:
    llm.script_for(ROOT, reply.call("query", {"count_only": True}))
    config = make_config(max_turns=1)
    events = await collect(config)

    report = events[-1].report
    assert report.partial and len(report.findings) >= 1  # the analytics' findings
    (status,) = RunStore(config.runs_dir).list()
    assert status.progress.findings == len(report.findings)
    (listed,) = RunManager(config.resolved_runs_dir(), lambda **kw: config).list()  # as diagnose_runs reads it
    summary = RunSummary(run_id=listed.run_id, status=listed.status, question=listed.question,
                         dataset=listed.dataset, started_at=listed.started_at, elapsed_s=listed.elapsed_s,
                         findings=listed.findings, report_uri="halo://runs/x")  # fmt: skip
    assert f"· {len(report.findings)} findings ·" in RunList(items=[summary], total=1, has_more=False).render()
