"""Semantic conventions: kind, model, tokens, cost, tools and the derived failure signals."""

from __future__ import annotations

from engine.traces.model import SpanKind, SpanStatus
from engine.traces.semconv import exception_text, is_refusal, output_error, read_semantics, span_kind


def test_kind_comes_from_openinference_then_observation_kind_then_gen_ai_then_name() -> None:
    assert span_kind({"openinference.span.kind": "TOOL", "gen_ai.operation.name": "chat"}, "x") is SpanKind.TOOL
    assert span_kind({"inference.observation_kind": "SPAN", "gen_ai.operation.name": "chat"}, "x") is SpanKind.LLM
    assert span_kind({"openinference.span.kind": "reranker"}, "x") is SpanKind.RETRIEVER
    for op, kind in [("text_completion", SpanKind.LLM), ("generate_content", SpanKind.LLM),
                     ("call_llm", SpanKind.LLM), ("execute_tool", SpanKind.TOOL), ("invoke_agent", SpanKind.AGENT),
                     ("create_agent", SpanKind.AGENT), ("embeddings", SpanKind.EMBEDDING)]:  # fmt: skip
        assert span_kind({"gen_ai.operation.name": op}, "x") is kind
    assert span_kind({}, "openai.chat.completions.create") is SpanKind.LLM
    assert span_kind({}, "FinalAnswerTool") is SpanKind.TOOL
    assert span_kind({}, "answer_single_question") is SpanKind.OTHER


def test_token_counts_given_as_strings_become_integers() -> None:
    sem = read_semantics({"openinference.span.kind": "LLM", "llm.token_count.prompt": "393",
                          "llm.token_count.completion": "1463", "llm.model_name": "o3-mini"},
                         "x", SpanStatus.OK)  # fmt: skip
    assert (sem.input_tokens, sem.output_tokens, sem.model) == (393, 1463, "o3-mini")


def test_cost_is_the_total_or_the_sum_of_its_parts() -> None:
    assert read_semantics({"inference.llm.cost.total": "0.5"}, "x", SpanStatus.OK).cost == 0.5
    parts = {"gen_ai.usage.input_cost": 2.5e-05, "gen_ai.usage.output_cost": 5e-06}
    assert abs(read_semantics(parts, "x", SpanStatus.OK).cost - 3e-05) < 1e-12  # type: ignore[operator]
    assert read_semantics({}, "x", SpanStatus.OK).cost is None


def test_offered_and_requested_tools_from_openinference_flat_attributes() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.tools.0.tool.json_schema": '{"type": "function", "function": {"name": "web_search"}}',
        "llm.tools.1.tool.json_schema": '{"name": "visit_page"}',
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "web_search",
        "llm.output_messages.0.message.tool_calls.1.tool_call.function.name": "visit_page",
    }
    sem = read_semantics(attrs, "x", SpanStatus.OK)
    assert sem.offered_tools == ("web_search", "visit_page")
    assert sem.requested_tools == ("web_search", "visit_page")


def test_offered_tool_names_that_are_not_text_are_left_out() -> None:
    attrs = {"openinference.span.kind": "LLM", "llm.tools.0.tool.name": 7, "llm.tools.1.tool.name": ["a"],
             "llm.tools.2.tool.name": "grep"}  # fmt: skip
    assert read_semantics(attrs, "x", SpanStatus.OK).offered_tools == ("grep",)


def test_requested_tools_from_gen_ai_output() -> None:
    attrs = {"gen_ai.operation.name": "call_llm",
             "gen_ai.output": '[{"tool.name": "get_current_time", "tool.args": "{}"}]'}  # fmt: skip
    assert read_semantics(attrs, "x", SpanStatus.OK).requested_tools == ("get_current_time",)
    parts = {"gen_ai.operation.name": "chat", "gen_ai.output.messages":
             '[{"role": "assistant", "parts": '
             '[{"type": "tool_call", "name": "lookup", "arguments": {}}]}]'}  # fmt: skip
    assert read_semantics(parts, "x", SpanStatus.OK).requested_tools == ("lookup",)


def test_tool_output_with_an_error_payload_is_flagged_while_status_is_ok() -> None:
    attrs = {"openinference.span.kind": "TOOL", "tool.name": "fetch", "output.value": "404 Not Found"}
    sem = read_semantics(attrs, "x", SpanStatus.OK)
    assert sem.tool_name == "fetch" and sem.output_error == "404 Not Found"
    # a failed status already says it: no second signal
    assert read_semantics(attrs, "x", SpanStatus.ERROR).output_error is None


def test_output_error_rules_catch_error_payloads() -> None:
    assert output_error("Error: file missing") == "Error: file missing"
    assert output_error("ValueError: bad literal") == "ValueError: bad literal"
    assert output_error("partial\nTraceback (most recent call last):\n  File 'x'\nKeyError: 'a'") == "KeyError: 'a'"
    assert output_error('{"error": {"message": "rate limited"}}') == "rate limited"
    assert output_error('{"status": 503, "detail": "upstream down"}') == "upstream down"
    assert output_error('{"success": false, "message": "no quota"}') == "no quota"
    assert output_error("HTTP Error 403: Forbidden") == "HTTP Error 403: Forbidden"
    assert output_error("Page not found") == "Page not found"
    assert output_error("[Errno 2] No such file or directory: 'x'") is not None


def test_output_error_rules_leave_normal_text_alone() -> None:
    for text in ["Error handling in Python uses try/except.", "400 Main Street, Springfield",
                 '{"error": null, "data": [1, 2]}', '{"errors_total": 0}', "The capital of France is Paris.",
                 "x" * 300 + " the symbol was not found in the older index, so we used the newer one",
                 "Found 3 files", None, ""]:  # fmt: skip
        assert output_error(text) is None, text


def test_refusal_is_an_output_that_opens_by_declining() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("Sorry, I cannot assist with that request.")
    assert is_refusal('{"role": "assistant", "content": "I\u2019m unable to help with this."}')
    assert not is_refusal("I can't believe how well this worked: here is the answer.")
    assert not is_refusal("Here is the summary. I cannot stress enough that I can't help noticing...")
    sem = read_semantics({"openinference.span.kind": "LLM",
                          "llm.output_messages.0.message.content": "I won't help with that."},
                         "x", SpanStatus.OK)  # fmt: skip
    assert sem.refusal


def test_exception_text_from_otel_and_trail_style_events() -> None:
    otel = [{"name": "exception", "attributes": {"exception.type": "ValueError", "exception.message": "bad"}}]
    trail = [
        {
            "Name": "exception",
            "Timestamp": "x",
            "Attributes": {"exception.type": "AgentError", "exception.message": "boom"},
        }
    ]
    assert exception_text(otel) == "ValueError: bad"
    assert exception_text(trail) == "AgentError: boom"
    assert exception_text([{"name": "log"}]) is None
    assert exception_text(None, {"exception.message": "flat"}) == "flat"


def test_smolagents_agent_spans_offer_their_tools_and_managed_agents() -> None:
    attrs = {
        "openinference.span.kind": "AGENT",
        "smolagents.tools_names": '["visualizer","inspect_file_as_text","final_answer"]',
        "smolagents.managed_agents.0.name": "search_agent",
    }
    sem = read_semantics(attrs, "CodeAgent.run", SpanStatus.OK)
    assert sem.offered_tools == ("visualizer", "inspect_file_as_text", "final_answer", "search_agent")
