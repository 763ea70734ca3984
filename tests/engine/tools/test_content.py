"""Content helpers: folding duplicated message projections, readable chat previews."""

from __future__ import annotations

import json

from engine.tools.content import fold_flat_messages, input_of, output_of, readable


def test_flat_messages_are_folded_only_when_the_blob_holds_their_values() -> None:
    attrs = {
        "input.value": json.dumps({"messages": [{"role": "user", "content": "Où est ma commande «A-1»?\nMerci"}]}),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Où est ma commande «A-1»?\nMerci",
        "llm.input_messages.1.message.content": "not in the blob",
        "llm.output_messages.0.message.content": "no output blob, so kept",
    }
    folded, count = fold_flat_messages(attrs)
    assert count == 2
    assert "llm.input_messages.1.message.content" in folded
    assert "llm.output_messages.0.message.content" in folded
    assert "llm.input_messages.0.message.content" not in folded


def test_input_and_output_come_from_the_shape_specific_keys() -> None:
    assert input_of({"gen_ai.input.messages": [{"role": "user"}]}) == ("gen_ai.input.messages", '[{"role":"user"}]')
    assert output_of({"output.value": "done"}) == ("output.value", "done")
    assert input_of({"unrelated": 1}) is None


def test_readable_shows_the_last_message_of_a_conversation() -> None:
    blob = json.dumps({"messages": [{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": [{"type": "text", "text": "hi"}]}]})  # fmt: skip
    assert readable(blob) == "(2 messages) user: hi"


def test_readable_shows_an_assistant_tool_call() -> None:
    blob = json.dumps({"role": "assistant", "content": None,
                       "tool_calls": [{"function": {"name": "search", "arguments": "{\"q\": 1}"}}]})  # fmt: skip
    assert readable(blob) == 'assistant: → search({"q": 1})'


def test_readable_leaves_other_text_alone() -> None:
    for text in ("plain", '{"result": [1, 2]}', "[1, 2]", "{not json"):
        assert readable(text) is text
