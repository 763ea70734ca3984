"""What an LLM span carried as a conversation, and what a tool span was given and gave back.

Shapes keep messages differently: an OpenAI-style list (or `{"messages": [...]}`)
in `input.value`, OpenInference's flattened `llm.input_messages.N.message.*`
keys, a chat completion (`choices[0].message`) in `output.value`. Each becomes
the same small list of `Message`s; text that is none of these stays a plain
input / output and is shown as such. Nothing here trusts the text it reads:
the page renders it as text, never as markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from engine.tools.content import as_text

__all__ = ["Message", "ToolCall", "messages_in", "messages_out", "MAX_PARSE_CHARS"]

# JSON values longer than this are not parsed for messages (shown as cut text instead).
MAX_PARSE_CHARS = 2_000_000

_FLAT = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")


@dataclass
class ToolCall:
    name: str
    arguments: str


@dataclass
class Message:
    role: str
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)


def messages_in(attributes: dict[str, Any]) -> list[Message]:
    """The messages sent to the model: from `input.value`-like JSON, else the flat keys."""
    for key in ("input.value", "gen_ai.input.messages", "gen_ai.prompt"):
        found = _parse_messages(attributes.get(key))
        if found:
            return found
    return _flat(attributes, "input")


def messages_out(attributes: dict[str, Any]) -> list[Message]:
    """The model's answer as messages (usually one)."""
    for key in ("output.value", "gen_ai.output.messages", "gen_ai.completion", "gen_ai.output"):
        found = _parse_messages(attributes.get(key))
        if found:
            return found
    return _flat(attributes, "output")


def _load(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text or text[0] not in "[{" or len(text) > MAX_PARSE_CHARS:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None
    return value


def _parse_messages(value: Any) -> list[Message]:
    data = _load(value)
    if isinstance(data, dict):
        if isinstance(data.get("messages"), list):
            data = data["messages"]
        elif isinstance(data.get("choices"), list):
            data = [c.get("message") for c in data["choices"] if isinstance(c, dict)]
        elif isinstance(data.get("output"), list):  # OpenAI Responses API
            data = data["output"]
        elif "role" in data:
            data = [data]
        else:
            return []
    if not isinstance(data, list):
        return []
    out = [m for m in (_message(item) for item in data) if m is not None]
    return out if len(out) == len([d for d in data if isinstance(d, dict)]) and out else []


def _message(item: Any) -> Message | None:
    if not isinstance(item, dict):
        return None
    role = item.get("role")
    if not isinstance(role, str):
        if item.get("type") == "function_call":  # Responses API tool call item
            return Message("assistant", "", [ToolCall(str(item.get("name", "?")), as_text(item.get("arguments", "")))])
        return None
    calls = []
    raw_calls = item.get("tool_calls") or []
    for call in raw_calls if isinstance(raw_calls, list) else []:
        fn = call.get("function", call) if isinstance(call, dict) else {}
        if isinstance(fn, dict):
            calls.append(ToolCall(str(fn.get("name", "?")), as_text(fn.get("arguments", ""))))
    return Message(role, _content(item.get("content")), calls)


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text", "")) if "text" in part else as_text(part))
            elif part is not None:
                parts.append(str(part))
        return "\n".join(parts)
    return content if isinstance(content, str) else as_text(content)


def _flat(attributes: dict[str, Any], side: str) -> list[Message]:
    """OpenInference's `llm.<side>_messages.N.message.role|content|tool_calls.M...` keys."""
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _FLAT.match(key)
        if match and match.group(1) == side:
            by_index.setdefault(int(match.group(2)), {})[match.group(3)] = value
    out = []
    for index in sorted(by_index):
        fields = by_index[index]
        calls: dict[int, dict[str, Any]] = {}
        for key, value in fields.items():
            call = re.match(r"^tool_calls\.(\d+)\.tool_call\.function\.(name|arguments)$", key)
            if call:
                calls.setdefault(int(call.group(1)), {})[call.group(2)] = value
        out.append(
            Message(
                role=str(fields.get("role", "?")),
                content=_content(fields.get("content")),
                tool_calls=[
                    ToolCall(str(c.get("name", "?")), as_text(c.get("arguments", ""))) for _, c in sorted(calls.items())
                ],
            )
        )
    return out
