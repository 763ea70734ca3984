"""Token estimates, tool-list fitting, prompt shrinking and context-overflow detection."""

from __future__ import annotations

import pytest

from engine.agents.fitting import compact_tool, count_tokens, fit_tools, request_tokens, shrink_messages
from engine.llm import EndpointRefusal, context_overflow, tool_choice_refused


def tool(name: str, size: int) -> dict:
    return {"type": "function", "function": {"name": name, "description": "Does it. " + "x" * size,
            "parameters": {"type": "object", "properties": {"a": {"type": "string", "description": "y" * size}}}}}


@pytest.mark.parametrize(
    ("detail", "size"),
    [
        ("the request exceeds the available context size, try increasing it", None),
        ("request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it", 4096),
        ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens", 8192),
        ("input length exceeds the context length", None),
        ('{"code": "context_length_exceeded"}', None),
    ],
)
def test_the_context_overflow_messages_of_llama_cpp_ollama_vllm_and_openai_are_recognised(
    detail: str, size: int | None
) -> None:
    assert context_overflow(EndpointRefusal("refused", status=400, detail=detail)) == (True, size)
    assert context_overflow(EndpointRefusal("refused", status=400, detail="invalid model name")) == (False, None)


def test_the_token_estimate_is_conservative() -> None:
    assert count_tokens("x" * 300) == 100 and count_tokens("") == 0 and count_tokens("ab") == 1


def test_tools_that_do_not_fit_are_compacted_then_left_out_the_finishing_tool_always_kept() -> None:
    tools = [tool("run_code", 3000), tool("query", 3000), tool("final_report", 3000)]
    assert fit_tools(tools, 100_000, "final_report") == (tools, [])
    kept, left_out = fit_tools(tools, 120, "final_report")  # two compact tools fit, not three
    assert [t["function"]["name"] for t in kept] == ["query", "final_report"] and left_out == ["run_code"]
    assert (
        kept[1] == compact_tool(tools[2]) and "description" not in kept[1]["function"]["parameters"]["properties"]["a"]
    )
    assert fit_tools(tools, 1, "final_report")[0] == [compact_tool(tools[2])]


def test_shrinking_cuts_the_longest_messages_but_never_the_system_prompt() -> None:
    messages = [{"role": "system", "content": "s" * 3000}, {"role": "user", "content": "u" * 30_000},
                {"role": "tool", "tool_call_id": "1", "content": "t" * 900}]
    assert shrink_messages(messages, 3000, [])
    assert request_tokens(messages) <= 3000
    assert messages[0]["content"] == "s" * 3000 and messages[1]["content"].endswith("call the tools for the rest)")


def test_refusals_of_a_tool_choice_are_recognised() -> None:
    vllm = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
    assert tool_choice_refused(EndpointRefusal("refused", status=400, detail=vllm))
    assert tool_choice_refused(EndpointRefusal("refused", status=400, detail="tool_choice 'required' is not supported"))
    assert not tool_choice_refused(EndpointRefusal("refused", status=401, detail="bad key"))


def test_a_text_is_cut_to_its_budget_as_sent_and_the_tool_list_leaves_room_for_results() -> None:
    from engine.agents.fitting import RESULTS_RESERVE_SHARE, TOOLS_SHARE, cut_text, text_tokens, tools_budget

    text = 'line "quoted"\n' * 400  # JSON escapes make it longer as sent than as read
    assert cut_text(text, 10_000) == text
    cut = cut_text(text, 300, "…(cut)")
    assert cut.endswith("…(cut)") and cut.startswith(text[:100]) and 250 <= text_tokens(cut) <= 300
    assert tools_budget(10_000, 1_000) == int(TOOLS_SHARE * 10_000)
    assert tools_budget(2_872, 1_078) == 2_872 - 1_078 - int(RESULTS_RESERVE_SHARE * 2_872)
