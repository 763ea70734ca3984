"""Diagnose runs against servers and models that behave like small local ones (issue 17).

Each server is the scripted one on 127.0.0.1 with a gate that plays the behaviour:
tools ignored without `tool_choice`, generation that never stops without
`max_tokens`, a 4k context that refuses longer prompts, a refused `tool_choice`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from support.scripted_llm import ScriptedLLM, estimated_prompt_tokens, gate, reply

from engine.agents import DiagnoseConfig, Event

pytestmark = pytest.mark.anyio

TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
LLM_SPAN_C = "b5dd8eb7f514a817"
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"
ROOT = "# Question"
GOOD = {
    "title": "Final answers are not checked against the question", "category": "wrong_final_answer",
    "impact": "high", "traces_affected": 1, "total_traces": 3,
    "evidence": [{"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": QUOTE_C}],
}  # fmt: skip
REPORT = {"summary": "s", "findings": [GOOD]}

Collect = Callable[..., Awaitable[list[Event]]]


def errors(events: list[Event]) -> list[str]:
    return [e.message for e in events if e.type == "error"]


async def test_a_server_that_ignores_tools_without_tool_choice_completes_a_diagnosis(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.ignores_tools_without_tool_choice)
    llm.script_for(ROOT, reply.call("query", {"count_only": True}), reply.call("record_finding", GOOD),
                   reply.call("final_report", {"summary": "Answers go unchecked."}))  # fmt: skip
    events = await collect(make_config(max_turns=3))

    report = events[-1].report
    assert not report.partial and report.summary == "Answers go unchecked."
    assert [f.title for f in report.findings] == [GOOD["title"]]
    choices = [r.body.get("tool_choice") for r in llm.requests_matching(ROOT)]
    assert choices == ["auto", "auto", "required"]  # the last turn forces the finishing tool


async def test_a_refused_tool_choice_is_weakened_said_in_the_events_and_not_sent_again(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.refuses_tool_choice("required"))
    llm.script_for(ROOT, reply.call("query", {"count_only": True}), reply.call("final_report", REPORT))
    events = await collect(make_config(max_turns=2))

    assert events[-1].report.summary == "s" and not events[-1].report.partial
    (said,) = [m for m in errors(events) if "tool_choice" in m]
    assert "refused tool_choice=required" in said and "sending auto from now on" in said
    assert [r.body.get("tool_choice") for r in llm.requests_matching(ROOT)] == ["auto", "required", "auto"]


async def test_no_agent_request_goes_without_an_output_cap_so_a_runaway_model_is_cut(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.runaway_without_max_tokens(delay_s=30))
    llm.script_for("Task A", reply.call("submit_answer", {"answer": "a"}))
    llm.script_for(ROOT, reply.call("call_subagent", {"task": "Task A"}), reply.call("final_report", REPORT))
    config = make_config(llm_kw={"timeout_s": 1, "max_retries": 1, "timeout_backoff_s": 0.01})
    events = await collect(config)

    assert events[-1].report.summary == "s" and not events[-1].report.partial
    assert len(llm.requests) == 3
    caps = [r.body.get("max_tokens") for r in llm.requests]
    assert all(isinstance(cap, int) and 0 < cap <= config.llm.agent_max_tokens for cap in caps)


async def test_a_timed_out_call_is_counted_and_retried_only_after_the_server_had_time(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.call("final_report", {**REPORT, "summary": "late"}, delay_s=5),
                   reply.call("final_report", {**REPORT, "summary": "ok"}))  # fmt: skip
    config = make_config(llm_kw={"timeout_s": 0.3, "max_retries": 4, "backoff_s": 0.01, "timeout_backoff_s": 0.6})
    events = await collect(config)

    report = events[-1].report
    assert report.summary == "ok"
    (retry,) = [e for e in events if e.type == "retry"]
    assert "timed out" in retry.reason and retry.wait_s >= 0.6
    first, second = llm.requests_matching(ROOT)
    assert second.received_at - first.received_at >= 0.9  # timeout, then the timeout backoff
    assert (report.facts.abandoned_calls, report.facts.model_calls) == (1, 1)
    assert "abandoned" in report.to_markdown()


async def test_timeouts_are_retried_at_most_max_timeout_retries_times(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.respond(lambda request: reply.call("final_report", {"summary": "never"}, delay_s=5))
    config = make_config(llm_kw={"timeout_s": 0.2, "max_retries": 4, "timeout_backoff_s": 0.05,
                                 "max_timeout_retries": 1})  # fmt: skip
    events = await collect(config)

    report = events[-1].report
    assert report.partial and "timed out" in (report.partial_reason or "")
    assert len(llm.requests) == 2 and report.facts.abandoned_calls == 2


async def test_with_a_small_context_limit_the_first_request_fits_a_4k_server(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.context_window(4096))
    llm.script_for(ROOT, reply.call("patterns", {}), reply.call("final_report", {**REPORT, "summary": "fits"}))
    events = await collect(make_config(context_limit_tokens=4096))

    report = events[-1].report
    assert report.summary == "fits" and not report.partial
    assert not errors(events)
    first = llm.requests_matching(ROOT)[0]
    assert estimated_prompt_tokens(first) + first.body["max_tokens"] <= 4096
    assert {"final_report", "record_finding", "patterns"} <= set(first.tool_names)
    assert "callable by name" in first.first_user  # the tools left out are named
    assert "Failure analytics" in first.first_user


TRACE_A = "0ebe673d64647ec44c370638b82d3c78"
LLM_SPANS_A = ["f71a82ea675d637d", "29f141a7c2556206", "9dfa48b84b860b85", "05168be1bb804a8d"]


async def test_with_a_small_context_limit_every_request_of_a_long_run_fits_a_4k_server(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.context_window(4096))
    views = [reply.call("view_spans", {"trace_id": TRACE_A, "span_ids": [s]}) for s in LLM_SPANS_A]
    llm.script_for(ROOT, reply.call("patterns", {}), *views, reply.call("view_trace", {"trace_id": TRACE_A}),
                   reply.call("final_report", {**REPORT, "summary": "fits"}))  # fmt: skip
    events = await collect(make_config(context_limit_tokens=4096, max_turns=12))

    report = events[-1].report
    assert report.summary == "fits" and not report.partial
    assert not errors(events)  # no request was refused, none had to be shrunk after a refusal
    roots = llm.requests_matching(ROOT)
    assert len(roots) == 7
    assert all(estimated_prompt_tokens(r) + r.body["max_tokens"] <= 4096 for r in llm.requests)



@pytest.mark.parametrize("style", ["llama.cpp", "vllm", "openai"])
async def test_an_endpoint_smaller_than_the_briefing_is_warned_about_and_the_prompt_shrunk_once(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, style: str
) -> None:
    llm.gate(gate.context_window(4096, style))
    llm.script_for(ROOT, reply.call("final_report", {**REPORT, "summary": "shrunk"}))
    events = await collect(make_config())  # context limit left at its default, 100k

    report = events[-1].report
    assert report.summary == "shrunk" and not report.partial
    (warning,) = [m for m in errors(events) if "smaller than the prompt" in m]
    assert "4,096 tokens" in warning and "--context-limit" in warning
    assert any("smaller than the prompt" in note for note in report.notes)
    refused, accepted = llm.requests_matching(ROOT)
    assert estimated_prompt_tokens(accepted) + accepted.body["max_tokens"] <= 4096 < estimated_prompt_tokens(refused)


async def test_a_server_that_keeps_refusing_the_prompt_ends_the_run_after_one_shrink(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.gate(gate.context_window(1200))
    events = await collect(make_config())

    report = events[-1].report
    assert report.partial and "context size" in (report.partial_reason or "")
    assert len(llm.requests_matching(ROOT)) == 2


async def test_an_endpoint_that_silently_reads_only_part_of_the_prompt_is_warned_about_once(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    # Ollama with its default context: the prompt is cut to 2,048 tokens, and it says so only in usage
    llm.script_for(ROOT, reply.call("query", {"count_only": True}, prompt_tokens=2048),
                   reply.call("final_report", REPORT, prompt_tokens=2048))  # fmt: skip
    events = await collect(make_config())

    (warning,) = [m for m in errors(events) if "read 2,048 prompt tokens" in m]
    assert "num_ctx" in warning and "--context-limit" in warning
    assert any("read 2,048 prompt tokens" in note for note in events[-1].report.notes)


async def test_a_call_cut_by_the_wall_clock_is_counted_as_abandoned(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    llm.script_for(ROOT, reply.call("query", {"count_only": True}), reply.call("query", {}, delay_s=30))
    events = await collect(make_config(wall_clock_s=1.0))

    report = events[-1].report
    assert report.partial and (report.facts.model_calls, report.facts.abandoned_calls) == (1, 1)
    assert "| 1 | 1 |" in report.to_markdown()  # model calls, abandoned calls
