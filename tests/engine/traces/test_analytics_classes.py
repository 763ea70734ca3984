"""Each failure class has a detector that flags the decision span of a run that contains it
and stays silent on a run that does not. Runs are small OpenInference traces written as
HALO JSONL and read through the real index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.traces.analytics import Analytics, Pattern, analyze
from engine.traces.dataset import Dataset
from tests.support.halo_lines import jsonl, span

SCHEMAS = {
    "search": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
               "required": ["query"]},
    "final_answer": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
}  # fmt: skip


def llm(trace: str, sid: str, start: float, *, parent: str = "root", content: str = "", calls=(), **extra) -> dict:
    attrs: dict[str, Any] = {"llm.model_name": "m-1", "llm.output_messages.0.message.role": "assistant"}
    for n, (name, params) in enumerate(SCHEMAS.items()):
        attrs[f"llm.tools.{n}.tool.json_schema"] = orjson.dumps(
            {"type": "function", "function": {"name": name, "parameters": params}}
        ).decode()
    if content:
        attrs["llm.output_messages.0.message.content"] = content
    for n, (name, args) in enumerate(calls):
        attrs[f"llm.output_messages.0.message.tool_calls.{n}.tool_call.function.name"] = name
        attrs[f"llm.output_messages.0.message.tool_calls.{n}.tool_call.function.arguments"] = args
    return span(trace, sid, parent, name="llm.chat", kind="LLM", start=start, end=start + 1, attributes=attrs, **extra)


def tool(
    trace: str, sid: str, start: float, name: str, args: str, output: str, *, parent: str = "root", **extra
) -> dict:
    attrs = {"tool.name": name, "input.value": args, "output.value": output}
    return span(trace, sid, parent, name=name, kind="TOOL", start=start, end=start + 1, attributes=attrs, **extra)


def root(trace: str, end: float = 100, **attrs: Any) -> dict:
    return span(trace, "root", name="agent.run", kind="AGENT", start=0, end=end, attributes=attrs)


def good_run(trace: str) -> list[dict]:
    """Search, read a useful result, answer from it: no failure of any class."""
    return [
        root(trace),
        llm(trace, "l1", 1, calls=[("search", '{"query": "capital of France"}')]),
        tool(trace, "t1", 3, "search", '{"query": "capital of France"}', "Paris is the capital of France."),
        llm(trace, "l2", 5, calls=[("final_answer", '{"answer": "Paris"}')]),
        tool(trace, "t2", 7, "final_answer", '{"answer": "Paris"}', "Paris"),
    ]


def analyse(tmp_path: Path, *runs: list[dict]) -> Analytics:
    path = tmp_path / "runs.jsonl"
    path.write_bytes(jsonl(*(s for run in runs for s in run)))
    return analyze(Dataset.open([path]))


def flagged(result: Analytics, kind: str) -> set[tuple[str, str, str | None]]:
    return {(f.trace_id, f.span_id, f.context_span_id) for p in result.of_kind(kind) for f in p.flagged}


def only(result: Analytics, kind: str) -> Pattern:
    (p,) = result.of_kind(kind)
    return p


def test_a_clean_run_has_no_pattern_of_any_class(tmp_path: Path) -> None:
    assert analyse(tmp_path, good_run("a" * 32)).patterns == []


# -- class 1 -----------------------------------------------------------------------


def test_a_tool_error_in_an_ok_output_is_a_failed_action_blamed_on_the_model_call(tmp_path: Path) -> None:
    t = "1" * 32
    run = good_run(t)
    run[2] = tool(t, "t1", 3, "search", '{"query": "capital of France"}', "503 Service Unavailable")
    p = only(analyse(tmp_path, run), "failed_action")
    assert flagged(analyse(tmp_path, run), "failed_action") == {(t, "l1", "t1")}
    assert p.surface == "tool implementation" and p.decision == "span `llm.chat` (model m-1)"
    assert p.examples[0].context_quote == "503 Service Unavailable"


def test_a_tool_that_answers_with_results_is_no_failed_action(tmp_path: Path) -> None:
    assert analyse(tmp_path, good_run("1" * 32)).of_kind("failed_action") == []


# -- class 2 -----------------------------------------------------------------------


def step_run(trace: str, error: str | None, content: str) -> list[dict]:
    """A smolagents-like step: the model writes, the step parses and runs it."""
    status = {"status": "STATUS_CODE_ERROR", "message": error} if error else {}
    return [
        root(trace, **{"smolagents.tools_names": '["search", "final_answer"]'}),
        span(trace, "s1", "root", name="Step 1", start=1, end=9, **status),
        llm(trace, "l1", 2, parent="s1", content=content),
    ]


PARSE = (
    "AgentParsingError: Your code snippet is invalid, because the regex pattern"
    " ```(?:py|python)?\\n(.*?)\\n``` was not found in it."
)


def test_a_step_rejected_by_the_parser_is_unparseable_output_on_the_model_call(tmp_path: Path) -> None:
    t = "2" * 32
    result = analyse(tmp_path, step_run(t, PARSE, "The answer is 4."))
    assert flagged(result, "unparseable_output") == {(t, "l1", "s1")}
    assert only(result, "unparseable_output").surface == "output parser"
    assert result.of_kind("failed_action") == []  # a parser's rejection is not a failed action


def test_tool_call_arguments_that_are_not_json_are_unparseable(tmp_path: Path) -> None:
    t = "2" * 32
    run = good_run(t)
    run[1] = llm(t, "l1", 1, calls=[("search", '{"query": "capital of')])
    assert flagged(analyse(tmp_path, run), "unparseable_output") == {(t, "l1", None)}


def test_output_that_parsed_is_not_unparseable(tmp_path: Path) -> None:
    result = analyse(
        tmp_path, step_run("2" * 32, None, "Code:\n```py\nprint(search(query='x'))\n```"), good_run("3" * 32)
    )
    assert result.of_kind("unparseable_output") == []


# -- class 3 -----------------------------------------------------------------------


def test_arguments_outside_the_schema_are_flagged_with_what_is_wrong(tmp_path: Path) -> None:
    t = "3" * 32
    run = good_run(t)
    run[1] = llm(t, "l1", 1, calls=[("search", '{"q": "capital of France", "limit": "ten"}')])
    p = only(analyse(tmp_path, run), "bad_tool_arguments")
    assert [(f.trace_id, f.span_id) for f in p.flagged] == [(t, "l1")]
    assert p.subject == "search" and p.surface == "tool description or schema"
    assert "unknown argument 'q'" in p.detail


def test_a_runtime_argument_error_is_a_bad_argument_not_a_failed_action(tmp_path: Path) -> None:
    t = "3" * 32
    run = good_run(t)
    run[2] = tool(t, "t1", 3, "search", '{"query": "x"}', "", status="STATUS_CODE_ERROR",
                  message="TypeError: search() got an unexpected keyword argument 'page'")  # fmt: skip
    result = analyse(tmp_path, run)
    assert flagged(result, "bad_tool_arguments") == {(t, "l1", "t1")}
    assert result.of_kind("failed_action") == []


def test_arguments_that_fit_the_schema_are_not_flagged(tmp_path: Path) -> None:
    assert analyse(tmp_path, good_run("3" * 32)).of_kind("bad_tool_arguments") == []


# -- class 4 -----------------------------------------------------------------------


def test_an_answer_before_any_tool_use_is_flagged_on_the_answering_call(tmp_path: Path) -> None:
    t = "4" * 32
    run = [root(t), llm(t, "l1", 1, calls=[("final_answer", '{"answer": "Lyon"}')]),
           tool(t, "t1", 3, "final_answer", '{"answer": "Lyon"}', "Lyon")]  # fmt: skip
    result = analyse(tmp_path, run)
    assert flagged(result, "unsupported_answer") == {(t, "l1", "t1")}


def test_a_claimed_search_that_no_span_shows_is_flagged(tmp_path: Path) -> None:
    t = "4" * 32
    run = [root(t), llm(t, "l1", 1, content="Based on my search, the capital is Lyon.")]
    result = analyse(tmp_path, run)
    subjects = {p.subject for p in result.of_kind("unsupported_answer")}
    assert subjects == {"answer_before_tools", "claimed_unseen_evidence"}
    (claim,) = [p for p in result.of_kind("unsupported_answer") if p.subject == "claimed_unseen_evidence"]
    assert "Based on my search" in claim.examples[0].quote


def test_an_answer_after_a_search_is_supported(tmp_path: Path) -> None:
    t = "4" * 32
    run = good_run(t)
    run[3] = llm(
        t, "l2", 5, content="Based on the search results, Paris.", calls=[("final_answer", '{"answer": "Paris"}')]
    )
    assert analyse(tmp_path, run).of_kind("unsupported_answer") == []


# -- class 5 -----------------------------------------------------------------------


def test_the_same_call_after_it_failed_is_a_repeat_even_once(tmp_path: Path) -> None:
    t = "5" * 32
    q = '{"query": "capital of France"}'
    run = [root(t), llm(t, "l1", 1, calls=[("search", q)]), tool(t, "t1", 3, "search", q, "Error: timeout"),
           llm(t, "l2", 5, calls=[("search", q)]), tool(t, "t2", 7, "search", q, "Paris.")]  # fmt: skip
    p = only(analyse(tmp_path, run), "repeated_action")
    assert [(f.span_id, f.context_span_id) for f in p.flagged] == [("l2", "t2")]
    assert "1 after it had failed" in p.title


def test_non_consecutive_repeats_count(tmp_path: Path) -> None:
    t = "5" * 32
    a, b = '{"query": "a"}', '{"query": "b"}'
    run = [root(t)]
    for n, q in enumerate([a, b, a, a]):
        run += [
            llm(t, f"l{n}", 10 * n + 1, calls=[("search", q)]),
            tool(t, f"t{n}", 10 * n + 3, "search", q, "ok text"),
        ]
    assert {f[1] for f in flagged(analyse(tmp_path, run), "repeated_action")} == {"l2", "l3"}


def test_one_resubmission_of_a_call_that_had_answered_is_a_repeat(tmp_path: Path) -> None:
    t = "5" * 32
    a, b = '{"query": "a"}', '{"query": "b"}'
    run = [root(t)]
    for n, q in enumerate([a, b, a]):
        run += [
            llm(t, f"l{n}", 10 * n + 1, calls=[("search", q)]),
            tool(t, f"t{n}", 10 * n + 3, "search", q, "ok text"),
        ]
    p = only(analyse(tmp_path, run), "repeated_action")
    assert [(f.span_id, f.context_span_id) for f in p.flagged] == [("l2", "t2")]
    assert "0 after it had failed" in p.title


def test_step_limit_exhaustion_is_flagged_on_the_last_step(tmp_path: Path) -> None:
    t = "5" * 32
    run = [root(t, **{"smolagents.max_steps": "2"})]
    for n in (1, 2):
        run += [span(t, f"s{n}", "root", name=f"Step {n}", start=10 * n, end=10 * n + 9),
                llm(t, f"l{n}", 10 * n + 1, parent=f"s{n}", content="Thinking.")]  # fmt: skip
    result = analyse(tmp_path, run)
    assert flagged(result, "turn_limit") == {(t, "l2", "root")}


def test_different_calls_and_steps_under_the_limit_are_not_repeats(tmp_path: Path) -> None:
    t = "5" * 32
    run = [root(t, **{"smolagents.max_steps": "5"}), span(t, "s1", "root", name="Step 1", start=1, end=9),
           llm(t, "l1", 2, parent="s1", content="Thinking.")]  # fmt: skip
    result = analyse(tmp_path, run, good_run("6" * 32))
    assert result.of_kind("repeated_action") == [] and result.of_kind("turn_limit") == []


# -- class 6 -----------------------------------------------------------------------


def test_a_garbled_result_is_blamed_on_the_call_that_read_it(tmp_path: Path) -> None:
    t = "6" * 32
    run = good_run(t)
    run[2] = tool(
        t, "t1", 3, "search", '{"query": "capital of France"}', " ".join("Paris is the capital of France" * 3)
    )
    p = only(analyse(tmp_path, run), "unusable_observation")
    assert [(f.span_id, f.context_span_id) for f in p.flagged] == [("l2", "t1")]
    assert "garbled" in p.title


def test_a_result_far_larger_than_a_step_can_use_is_flagged(tmp_path: Path) -> None:
    from engine.traces.analytics.answers import OBSERVATION_MAX_CHARS

    t = "6" * 32
    run = good_run(t)
    run[2] = tool(t, "t1", 3, "search", '{"query": "capital of France"}', "Paris. " * (OBSERVATION_MAX_CHARS // 6))
    assert "far larger" in only(analyse(tmp_path, run), "unusable_observation").title


def test_a_readable_result_is_usable(tmp_path: Path) -> None:
    assert analyse(tmp_path, good_run("6" * 32)).of_kind("unusable_observation") == []


# -- class 7 -----------------------------------------------------------------------

RATE = "RateLimitError: Rate limit reached for gpt-4o in organization org-12 on tokens per min"


def nested_rate_limit(trace: str) -> list[dict]:
    """One provider error recorded on the agent, its wrapper and the model call."""
    err = {"status": "STATUS_CODE_ERROR", "message": RATE}
    return [
        span(trace, "root", name="agent.run", kind="AGENT", start=0, end=50, **err),
        span(trace, "w", "root", name="retry_wrapper", start=1, end=40, **err),
        llm(trace, "l1", 2, parent="w", **err),
    ]


def test_one_provider_error_on_three_levels_is_one_family_flagged_once(tmp_path: Path) -> None:
    t, u = "7" * 32, "8" * 32
    result = analyse(tmp_path, nested_rate_limit(t), nested_rate_limit(u))
    (family,) = result.of_kind("error_signature")
    assert {(f.trace_id, f.span_id) for f in family.flagged} == {(t, "l1"), (u, "l1")}
    assert family.traces_affected == 2 and family.surface == "model provider"
    assert "agent.run (2), retry_wrapper (2), llm.chat (2)" in family.detail


def test_an_error_on_two_step_names_is_one_family(tmp_path: Path) -> None:
    t = "7" * 32
    err = "InterpreterError: Code execution failed at line 'x = y + 1' due to: NameError: name 'y' is not defined"
    run = [root(t)]
    for n in (1, 2):
        run += [span(t, f"s{n}", "root", name=f"Step {n}", start=10 * n, end=10 * n + 9, status="STATUS_CODE_ERROR",
                     message=err.replace("x = y + 1", f"x = y + {n}")),
                llm(t, f"l{n}", 10 * n + 1, parent=f"s{n}", content="Code:\n```py\nx = y + 1\n```")]  # fmt: skip
    (family,) = analyse(tmp_path, run).of_kind("error_signature")
    assert {(f.span_id, f.context_span_id) for f in family.flagged} == {("l1", "s1"), ("l2", "s2")}


def test_runs_without_errors_have_no_error_family(tmp_path: Path) -> None:
    assert analyse(tmp_path, good_run("7" * 32)).of_kind("error_signature") == []


# -- class 8 -----------------------------------------------------------------------


def timed_runs(slow_s: float, base_s: float) -> list[list[dict]]:
    runs = []
    for n in range(12):
        t = f"{n:032x}"
        length = slow_s if n == 0 else base_s
        runs.append([span(t, "root", name="work", start=0, end=length)])
    return runs


def test_a_millisecond_span_is_never_slow(tmp_path: Path) -> None:
    result = analyse(tmp_path, *timed_runs(slow_s=0.004, base_s=0.0001))
    assert result.of_kind("latency_outlier") == []


def test_a_span_far_above_its_group_and_the_floor_is_an_outlier(tmp_path: Path) -> None:
    result = analyse(tmp_path, *timed_runs(slow_s=90, base_s=1))
    (slow,) = result.of_kind("latency_outlier")
    assert slow.flagged[0].trace_id == f"{0:032x}"
