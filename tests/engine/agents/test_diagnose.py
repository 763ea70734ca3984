"""Whole diagnose runs over the TRAIL sample, against a scripted model on 127.0.0.1.

The model's side is scripted; everything else is real: the openai client over
HTTP, the tool registry and its tools, the index, citation checks, the run store.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event, RunStore, diagnose_stream
from engine.tools.context import ToolContext

pytestmark = pytest.mark.anyio

TRACE_A = "0ebe673d64647ec44c370638b82d3c78"
TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
FINAL_ANSWER_SPAN_A = "ecc4e15abed97adb"  # FinalAnswerTool of trace A, called with "right"
LLM_SPAN_C = "b5dd8eb7f514a817"  # the slow, token-heavy LLM call of trace C
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"
ROOT = "# Question"  # the root agent's first message starts so: routes scripted replies to it

Collect = Callable[..., Awaitable[list[Event]]]


def of_type(events: list[Event], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


def finding(title: str, evidence: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "title": title, "category": kw.pop("category", "wrong_final_answer"), "impact": kw.pop("impact", "high"),
        "traces_affected": kw.pop("traces_affected", 1), "total_traces": 3, "evidence": evidence, **kw,
    }  # fmt: skip


GOOD_FINDING = finding(
    "Final answers are not checked against the question",
    [{"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": QUOTE_C}],
    hypothesis="The agent answers from one search without verification.",
    change_target="prompt",
    change="Require a second source before final_answer.",
)
GOOD_REPORT = {"summary": "ok", "findings": [GOOD_FINDING]}


async def test_full_run_with_two_parallel_subagents_gives_a_checked_report_saved_with_its_events(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for("Task A", reply.call("view_spans", {"trace_id": TRACE_A, "span_ids": [FINAL_ANSWER_SPAN_A]},
                                        delay_s=0.3))  # fmt: skip
    llm.script_for(
        "Task A",
        reply.call("submit_answer", {"answer": "Trace A answers 'right' via final_answer.",
                                     "evidence": [{"trace_id": TRACE_A, "span_id": FINAL_ANSWER_SPAN_A,
                                                   "quote": '"args": ["right"]'}]}),
    )  # fmt: skip
    llm.script_for("Task B", reply.call("submit_answer", {"answer": "Trace C is slow.", "evidence": [
        {"trace_id": TRACE_C, "span_id": LLM_SPAN_C}]}, delay_s=0.3))  # fmt: skip
    llm.script_for(
        ROOT,
        reply.calls(("call_subagent", {"task": "Task A: what does trace A answer?"}),
                    ("call_subagent", {"task": "Task B: why is trace C slow?"})),
        reply.call("record_finding", GOOD_FINDING),
        reply.call("final_report", {"summary": "The agent answers without checking its answers."}),
    )  # fmt: skip
    events = await collect(make_config())

    report = events[-1].report
    assert events[0].type == "run_started" and events[-1].type == "report"
    assert report.produced_by == "model" and not report.partial
    assert report.summary == "The agent answers without checking its answers."
    assert [f.title for f in report.findings] == ["Final answers are not checked against the question"]
    assert report.findings[0].suggested_change.target == "prompt"
    assert (report.citations_checked, report.citations_failed) == (1, 0)
    assert report.findings[0].evidence[0].verified is True
    assert (report.facts.model_calls, report.facts.subagents) == (6, 2)
    assert report.facts.input_tokens == 600 and report.facts.output_tokens == 120

    # the root started from the overview and the analytics, with the registry's tools
    first = llm.requests_matching(ROOT)[0]
    assert "Failure analytics" in first.first_user and "final answer given before any tool was used" in first.first_user
    assert {"query", "search", "view_trace", "view_spans", "call_subagent", "final_report"} <= set(first.tool_names)
    assert "submit_answer" not in first.tool_names
    # both subagents were asked before either answered: they ran in parallel
    a, b = llm.requests_matching("Task A")[0], llm.requests_matching("Task B")[0]
    assert abs(a.received_at - b.received_at) < 0.25
    assert "final_report" not in a.tool_names and "submit_answer" in a.tool_names
    # the subagent's real tool result reached it, and its checked answer reached the root
    assert '"args": ["right"]' in llm.requests_matching("Task A")[1].tool_results[0].replace('\\"', '"')
    root_after = llm.requests_matching(ROOT)[1].tool_results
    assert any("Trace A answers 'right'" in r and "verified" in r for r in root_after)

    started, finished = of_type(events, "subagent_started"), of_type(events, "subagent_finished")
    assert sorted(e.child for e in started) == ["root.1", "root.2"] and all(e.ok for e in finished)
    assert {e.agent for e in of_type(events, "agent_message")} == {"root", "root.1", "root.2"}

    store = RunStore(make_config().runs_dir)
    (saved,) = store.list()
    assert saved.state == "done" and saved.run_id == report.run_id
    assert store.report(report.run_id) == report
    assert "## Findings" in (store.report_markdown(report.run_id) or "")
    assert [e.type for e in store.events(report.run_id)] == [e.type for e in events]


async def test_an_unknown_id_and_a_quote_not_in_its_span_are_caught_shown_to_the_model_and_marked(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    bad = finding(
        "Invented evidence",
        [
            {"trace_id": "deadbeefdeadbeefdeadbeefdeadbeef", "span_id": LLM_SPAN_C},
            {"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": "the agent crashed with a KeyError"},
            {"trace_id": TRACE_A, "span_id": FINAL_ANSWER_SPAN_A, "quote": "final_answer"},
        ],
    )
    submit = reply.call("final_report", {"summary": "s", "findings": [bad]})
    llm.script_for(ROOT, submit, submit)  # the model is told, and submits unchanged
    events = await collect(make_config())

    told = llm.requests_matching(ROOT)[1].tool_results[-1]
    assert "2 citation(s) failed" in told and "deadbeef" in told and "does not occur in span" in told
    report = events[-1].report
    assert (report.citations_checked, report.citations_failed) == (3, 2)
    first, second, third = report.findings[0].evidence
    assert first.verified is False and "not in the dataset" in (first.problem or "")
    assert second.verified is False and "quote does not occur" in (second.problem or "")
    assert third.verified is True
    assert "3 checked against the dataset, 2 failed" in report.to_markdown()


async def test_malformed_tool_arguments_get_a_corrective_result_and_the_run_goes_on(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(
        ROOT,
        reply.call("query", '{"limit": 5, "has_errors": tru'),
        reply.call("view_spans", {"trace_id": TRACE_A}),  # valid JSON, missing span_ids
        *[reply.call("final_report", {"summary": "done"})] * 2,  # no findings: asked once for them
    )
    events = await collect(make_config())

    second, third = llm.requests_matching(ROOT)[1:3]
    assert "not valid JSON" in second.tool_results[0] and '"properties"' in second.tool_results[0]
    sent_back = second.messages[-2]["tool_calls"][0]["function"]["arguments"]
    assert sent_back == "{}"  # unreadable arguments are not replayed to the server
    assert "invalid arguments for view_spans" in third.tool_results[1] and "span_ids" in third.tool_results[1]
    assert [e.ok for e in of_type(events, "tool_result")] == [False, False, False, True]
    assert events[-1].report.summary == "done" and not events[-1].report.partial


async def test_unknown_tools_and_plain_text_answers_are_corrected_and_the_loop_goes_on(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(
        ROOT,
        reply.call("delete_traces", {}),
        reply.text("The traces look fine to me."),
        *[reply.call("final_report", {"summary": "done"})] * 2,  # no findings: asked once for them
    )
    events = await collect(make_config())

    second, third = llm.requests_matching(ROOT)[1:3]
    assert "no tool named 'delete_traces'" in second.tool_results[0] and "view_trace" in second.tool_results[0]
    assert third.messages[-1]["role"] == "user" and "plain text" in third.messages[-1]["content"]
    assert any("plain text" in e.message for e in of_type(events, "error"))
    assert events[-1].report.summary == "done"


async def test_a_429_is_retried_after_its_retry_after_and_the_run_completes(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.error(429, "rate limited", retry_after=0.1), reply.call("final_report", GOOD_REPORT))
    events = await collect(make_config())

    (retry,) = of_type(events, "retry")
    assert (retry.attempt, retry.wait_s, retry.reason) == (1, 0.1, "HTTP 429: rate limited")
    assert events[-1].report.summary == "ok"
    assert events[-1].report.facts.model_calls == 1


async def test_a_model_that_never_reports_ends_at_the_turn_budget_with_a_clear_partial_report(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, *[reply.call("query", {"count_only": True}, content=f"thinking {i}") for i in range(3)])
    events = await collect(make_config(max_turns=3))

    report = events[-1].report
    assert report.partial and report.produced_by == "model"
    assert report.partial_reason == "the turn budget of 3 turns was used up"
    assert "thinking 2" in report.summary  # the agent's last notes are kept
    assert report.findings and all(f.source == "analytics" for f in report.findings)
    assert "**Partial report**" in report.to_markdown()
    requests = llm.requests_matching(ROOT)
    assert len(requests) == 3
    assert requests[1].tool_results[-1].endswith("[turns left: 2]")
    assert "this is your last turn: call final_report now" in requests[2].tool_results[-1]
    assert requests[2].tool_names == ["final_report"]  # the last turn offers only the report
    assert RunStore(make_config().runs_dir).list()[0].partial


async def test_refusals_are_retried_up_to_the_limit_then_the_run_ends_partial(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.refusal(), reply.call("record_finding", GOOD_FINDING), *[reply.refusal()] * 3)
    events = await collect(make_config(max_refusals=2))

    report = events[-1].report
    assert report.partial and "refused 3 times" in (report.partial_reason or "")
    assert report.findings[0].title == GOOD_FINDING["title"]  # recorded before: kept, first
    assert len(llm.requests_matching(ROOT)) == 5
    # a refusal is retried with the same messages
    assert llm.requests_matching(ROOT)[0].messages == llm.requests_matching(ROOT)[1].messages


async def test_the_token_budget_ends_every_agent_and_the_run_with_a_partial_report(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.respond(lambda request: reply.call("query", {"count_only": True}, prompt_tokens=200, completion_tokens=50))
    events = await collect(make_config(token_budget=600))

    report = events[-1].report
    assert report.partial and report.partial_reason == "the token budget of 600 tokens is used up"
    assert report.facts.model_calls == 3 and report.facts.tokens == 750


async def test_the_wall_clock_budget_ends_the_run_with_a_partial_report(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.call("record_finding", GOOD_FINDING), reply.call("query", {}, delay_s=30))
    started = time.monotonic()
    events = await collect(make_config(wall_clock_s=1.0))

    assert time.monotonic() - started < 5
    report = events[-1].report
    assert report.partial and "wall-clock budget of 1s" in (report.partial_reason or "")
    assert report.findings[0].title == GOOD_FINDING["title"]


async def test_cancelling_mid_run_stops_every_agent_promptly_and_marks_the_run_cancelled(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], context: ToolContext
) -> None:
    llm.script_for(ROOT, reply.calls(("call_subagent", {"task": "Task A"}), ("call_subagent", {"task": "Task B"})))
    llm.respond(lambda request: reply.call("query", {}, delay_s=30))  # the subagents hang
    config = make_config()
    seen: list[Event] = []
    started = time.monotonic()
    with anyio.CancelScope() as scope:
        async for event in diagnose_stream("q", context, config):
            seen.append(event)
            if len(of_type(seen, "subagent_started")) == 2:
                await anyio.sleep(0.2)  # both subagents are waiting on the model now
                scope.cancel()
    requests_at_cancel = len(llm.requests)

    assert scope.cancelled_caught and time.monotonic() - started < 3
    assert requests_at_cancel == 3
    (status,) = RunStore(config.runs_dir).list()
    assert status.state == "cancelled"
    assert RunStore(config.runs_dir).events(status.run_id)[-1].message == "run cancelled"
    await anyio.sleep(0.3)
    assert len(llm.requests) == requests_at_cancel  # nothing kept running


async def test_concurrency_is_capped_per_level_and_depth_is_bounded(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for("Task A", reply.call("submit_answer", {"answer": "a"}, delay_s=0.3))
    llm.script_for("Task B", reply.call("submit_answer", {"answer": "b"}, delay_s=0.3))
    llm.script_for(
        ROOT,
        reply.calls(("call_subagent", {"task": "Task A"}), ("call_subagent", {"task": "Task B"})),
        reply.call("final_report", {"summary": "done"}),
    )
    await collect(make_config(max_parallel=1, max_depth=1))

    a, b = llm.requests_matching("Task A")[0], llm.requests_matching("Task B")[0]
    assert abs(a.received_at - b.received_at) >= 0.25  # one at a time
    assert "call_subagent" in llm.requests_matching(ROOT)[0].tool_names
    assert "call_subagent" not in a.tool_names  # depth 1 is the limit: no grandchildren


async def test_with_max_depth_zero_the_root_works_alone(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.call("call_subagent", {"task": "x"}), reply.call("final_report", GOOD_REPORT))
    await collect(make_config(max_depth=0))
    first, second = llm.requests_matching(ROOT)
    assert "call_subagent" not in first.tool_names
    assert "no tool named 'call_subagent'" in second.tool_results[0]


async def test_breaking_out_of_the_stream_early_stops_the_run_without_disturbing_the_caller(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], context: ToolContext
) -> None:
    llm.respond(lambda request: reply.call("query", {}, delay_s=30))  # the model hangs
    config = make_config()
    async for event in diagnose_stream("q", context, config):  # no aclosing: left to the collector
        if event.type == "run_started":
            break
    del event
    await anyio.sleep(0.5)  # the caller's own awaits are not cancelled

    store = RunStore(config.runs_dir)
    with anyio.fail_after(3):
        while store.list()[0].state == "running":
            await anyio.sleep(0.05)
    assert store.list()[0].state == "cancelled"


async def test_an_endpoint_that_keeps_failing_ends_the_run_with_a_partial_report_naming_the_failure(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script(*[reply.error(503, "upstream overloaded")] * 3)
    events = await collect(make_config(llm_kw={"max_retries": 2}))

    assert len(of_type(events, "retry")) == 2
    report = events[-1].report
    assert report.partial and "HTTP 503: upstream overloaded" in (report.partial_reason or "")
    assert report.findings and report.findings[0].source == "analytics"  # the analytics still stand
    assert report.facts.model_calls == 0
