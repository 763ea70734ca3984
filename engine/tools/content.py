"""What a span said: its inputs and outputs, with duplicated projections folded.

OpenInference writes an LLM call's messages twice: once as the `input.value` /
`output.value` JSON blob and once flattened into `llm.input_messages.N.*` keys.
Showing both doubles the cost of every view, so a flat key is dropped when its
value is verifiably inside the blob (nothing is dropped on a guess).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "INPUT_KEYS",
    "OUTPUT_KEYS",
    "fold_flat_messages",
    "input_of",
    "output_of",
    "as_text",
    "readable",
]

# Where shapes keep what went into a span / came out of it, most specific first.
INPUT_KEYS = (
    "input.value",
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.tool.args",
    "gen_ai.tool.call.arguments",
    "tool.arguments",
    "tool_call.function.arguments",
)
OUTPUT_KEYS = (
    "output.value",
    "gen_ai.output",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
    "tool.output",
)

_FLAT = (("llm.input_messages.", "input.value"), ("llm.output_messages.", "output.value"))


def as_text(value: Any) -> str:
    """An attribute value as text: strings as is, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def fold_flat_messages(attributes: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """`attributes` without flat message keys whose values the JSON blob already holds.

    Returns the folded attributes and how many keys were folded.
    """
    drop: set[str] = set()
    for prefix, blob_key in _FLAT:
        blob = attributes.get(blob_key)
        if not isinstance(blob, str) or not blob:
            continue
        for key, value in attributes.items():
            if key.startswith(prefix) and _inside(value, blob):
                drop.add(key)
    if not drop:
        return attributes, 0
    return {k: v for k, v in attributes.items() if k not in drop}, len(drop)


def _inside(value: Any, blob: str) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return json.dumps(value) in blob
    if isinstance(value, (int, float)):
        return str(value) in blob
    if not isinstance(value, str):
        return False
    if value in blob:
        return True
    for ascii_only in (True, False):
        if json.dumps(value, ensure_ascii=ascii_only)[1:-1] in blob:
            return True
    return False


def input_of(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) of the span's input, if any shape-known key carries one."""
    return _first(attributes, INPUT_KEYS)


def output_of(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) of the span's output, if any shape-known key carries one."""
    return _first(attributes, OUTPUT_KEYS)


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, str] | None:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return key, as_text(value)
    return None


def readable(text: str) -> str:
    """A chat-shaped JSON value as plain lines a model skims; anything else as is.

    An LLM call's input repeats the whole conversation, so a preview shows what is
    new in it: the number of messages and the last one. An assistant message shows
    its content and the tool calls it asks for.
    """
    if not text or text[0] not in "[{" or len(text) > READABLE_MAX_CHARS:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    messages = None
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        messages = value["messages"]
    elif isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        messages = value
    elif isinstance(value, dict) and "role" in value and ("content" in value or "tool_calls" in value):
        return _message(value)
    if not messages or not isinstance(messages[-1], dict):
        return text
    head = f"({len(messages)} messages) " if len(messages) > 1 else ""
    return head + _message(messages[-1])


READABLE_MAX_CHARS = 2_000_000


def _message(message: dict[str, Any]) -> str:
    role = message.get("role", "?")
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in content if p is not None
        )
    out = f"{role}: {content}" if content not in (None, "") else f"{role}:"
    calls = message.get("tool_calls") or []
    for call in calls if isinstance(calls, list) else []:
        fn = call.get("function", call) if isinstance(call, dict) else {}
        if isinstance(fn, dict):
            out += f" → {fn.get('name', '?')}({as_text(fn.get('arguments', ''))})"
    return out
