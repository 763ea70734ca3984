"""Compaction on a long run: old tool results summarised by the compaction model, recallable."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

import pytest
from support.scripted_llm import RecordedRequest, Reply, ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event

pytestmark = pytest.mark.anyio

TRACE_A = "0ebe673d64647ec44c370638b82d3c78"
LLM_SPANS_A = ["f71a82ea675d637d", "29f141a7c2556206", "9dfa48b84b860b85", "05168be1bb804a8d"]
ROOT = "# Question"
COMPACTOR = "You compress tool results"

Collect = Callable[..., Awaitable[list[Event]]]


def long_run(llm: ScriptedLLM) -> None:
    """Four big tool results, then a recall of the first, then the report (sent twice: a
    report without findings is sent back once)."""
    views = [reply.call("view_spans", {"trace_id": TRACE_A, "span_ids": [s]}) for s in LLM_SPANS_A]
    report = reply.call("final_report", {"summary": "s"})
    llm.script_for(ROOT, *views, reply.call("recall", {"ref": "r1"}), report, report)


def summarise(request: RecordedRequest) -> Reply:
    """The compaction model: a summary per reference asked for, inside a code fence."""
    assert COMPACTOR in request.system
    refs = re.findall(r"^## (r\d+)$", request.first_user, re.M)
    return reply.text(
        "```json\n" + json.dumps({ref: f"summary of {ref}: LLM span, 3,122 prompt tokens" for ref in refs}) + "\n```"
    )


def without_countdown(text: str) -> str:
    return text[: text.rindex("\n\n[turns left")]


async def test_old_tool_results_are_summarised_keeping_ids_and_can_be_recalled(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    long_run(llm)
    llm.respond(summarise)
    events = await collect(make_config(context_limit_tokens=8000, tool_result_tokens=1000))

    compactions = [e for e in events if e.type == "compaction"]
    # Oldest first, one at a time, the newest results kept. Whether the recall's answer pushes out
    # r3 as well depends on the prompt's size, which holds the dataset's path: not asserted.
    refs = [c.refs for c in compactions]
    assert refs[:2] == [["r1"], ["r2"]] and refs in ([["r1"], ["r2"]], [["r1"], ["r2"], ["r3"]])
    assert all(c.by_model and c.chars_after < c.chars_before for c in compactions)
    asked = llm.requests_matching(COMPACTOR)
    assert [r.model for r in asked] == ["scripted-small"] * len(compactions)  # the compaction role's model
    assert all(0 < r.body["max_tokens"] <= 2048 for r in llm.requests)  # compaction requests are capped too
    roots = llm.requests_matching(ROOT)
    original = without_countdown(roots[1].tool_results[0])
    compacted = roots[4].tool_results[0]
    assert compacted.startswith("[compacted r1:") and "summary of r1: LLM span, 3,122 prompt tokens" in compacted
    assert 'recall(ref="r1")' in compacted
    assert without_countdown(roots[5].tool_results[-1]) == original  # recall gives the full text back
    report = events[-1].report
    assert report.facts.compactions == len(compactions) and not report.partial


async def test_when_the_compaction_model_answers_badly_results_are_cut_and_the_run_goes_on(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    long_run(llm)
    llm.respond(lambda request: reply.text("Sure! Here is a summary of everything."))
    events = await collect(make_config(context_limit_tokens=8000, tool_result_tokens=1000))

    compactions = [e for e in events if e.type == "compaction"]
    assert compactions and not any(c.by_model for c in compactions)
    compacted = llm.requests_matching(ROOT)[4].tool_results[0]
    assert compacted.startswith("[compacted r1:") and compacted.endswith("…(cut)")
    assert not events[-1].report.partial


async def test_a_short_run_is_never_compacted(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    long_run(llm)
    events = await collect(make_config())  # the default limit: 100k tokens
    assert not [e for e in events if e.type == "compaction"]
    assert not llm.requests_matching(COMPACTOR)
