"""Fit what an agent is sent to its context: token estimates, the tool list, shrinking.

Small local models run with contexts of a few thousand tokens (Ollama's default,
a llama.cpp `-c 4096`), where the full tool list alone would not fit. So the
tool list is cut to a share of the prompt budget in a fixed order of usefulness
(the finishing tool first), with compact schemas before tools are left out, and
a prompt the endpoint refused as too long is shrunk, once, to the context the
endpoint stated. Tokens are estimated by `count_tokens`, the one place to swap
in a real tokenizer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = [
    "CHARS_PER_TOKEN_ESTIMATE",
    "count_tokens",
    "request_tokens",
    "prompt_budget",
    "compact_tool",
    "fit_tools",
    "shrink_messages",
    "TOOL_PRIORITY",
    "TOOLS_SHARE",
    "lowered_limit",
]

# Conservative: code, JSON and ids tokenize at 3-4 characters per token.
CHARS_PER_TOKEN_ESTIMATE = 3
# Tokens kept free of the context besides the output cap (chat templates, tool-call syntax).
CONTEXT_MARGIN_TOKENS = 200
# Tool definitions take at most this share of the prompt budget.
TOOLS_SHARE = 0.4
# The order tools are kept in when not all fit: finish first, then what measures.
TOOL_PRIORITY = (
    "final_report",
    "submit_answer",
    "record_finding",
    "patterns",
    "query",
    "view_spans",
    "search",
    "recall",
    "view_trace",
    "overview",
    "call_subagent",
    "run_code",
    "synthesize",
)
# A message cut by `shrink_messages` keeps at least this much of its head.
MIN_KEPT_CHARS = 400
SHRUNK_MARK = "\n…(cut to fit the model's context; call the tools for the rest)"


def count_tokens(text: str) -> int:
    """Estimated tokens of a text (characters / 3, rounded up)."""
    return -(-len(text) // CHARS_PER_TOKEN_ESTIMATE)


def request_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """Estimated prompt tokens of a request: its messages and tool definitions as sent."""
    return count_tokens(orjson.dumps(messages).decode()) + (count_tokens(orjson.dumps(tools).decode()) if tools else 0)


def prompt_budget(context_limit: int, output_cap: int) -> int:
    """Tokens a prompt may take: the context less the output cap and a margin."""
    return max(0, context_limit - output_cap - CONTEXT_MARGIN_TOKENS)


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return match.group(1) if match else text.strip()


def _strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_descriptions(v) for k, v in node.items() if k not in ("description", "title", "examples")}
    if isinstance(node, list):
        return [_strip_descriptions(item) for item in node]
    return node


def compact_tool(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with its description cut to one sentence and no parameter descriptions."""
    function = definition["function"]
    return {
        "type": "function",
        "function": {
            "name": function["name"],
            "description": _first_sentence(function.get("description", "")),
            "parameters": _strip_descriptions(function.get("parameters", {})),
        },
    }


def _size(definition: dict[str, Any]) -> int:
    return count_tokens(orjson.dumps(definition).decode())


def fit_tools(
    definitions: list[dict[str, Any]], budget_tokens: int, required: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the definitions that fit in `budget_tokens`, names left out).

    Everything fits: unchanged. Otherwise tools are taken in `TOOL_PRIORITY` order,
    compacted; `required` (the finishing tool) is always kept."""
    if sum(_size(d) for d in definitions) <= budget_tokens:
        return definitions, []
    rank = {name: i for i, name in enumerate(TOOL_PRIORITY)}
    ordered = sorted(definitions, key=lambda d: (d["function"]["name"] != required,
                                                 rank.get(d["function"]["name"], len(rank))))  # fmt: skip
    kept: list[dict[str, Any]] = []
    used = 0
    for definition in ordered:
        compact = compact_tool(definition)
        if used + _size(compact) <= budget_tokens or definition["function"]["name"] == required:
            kept.append(compact)
            used += _size(compact)
    kept_names = {d["function"]["name"] for d in kept}
    order = {d["function"]["name"]: i for i, d in enumerate(definitions)}
    kept.sort(key=lambda d: order[d["function"]["name"]])
    return kept, [d["function"]["name"] for d in definitions if d["function"]["name"] not in kept_names]


def shrink_messages(messages: list[dict[str, Any]], budget_tokens: int, tools: list[dict[str, Any]]) -> bool:
    """Cut the longest non-system messages (in place) until the request fits `budget_tokens`;
    True if anything was cut."""
    changed = False
    while (excess := request_tokens(messages, tools) - budget_tokens) > 0:
        candidates = [
            i for i, m in enumerate(messages)
            if m.get("role") != "system" and isinstance(m.get("content"), str)
            and len(m["content"]) > MIN_KEPT_CHARS + len(SHRUNK_MARK)
        ]  # fmt: skip
        if not candidates:
            break
        i = max(candidates, key=lambda j: len(messages[j]["content"]))
        text = messages[i]["content"].removesuffix(SHRUNK_MARK)
        keep = max(MIN_KEPT_CHARS, len(text) - excess * CHARS_PER_TOKEN_ESTIMATE - len(SHRUNK_MARK) * 2)
        if keep >= len(text):
            break
        messages[i] = {**messages[i], "content": text[:keep] + SHRUNK_MARK}
        changed = True
    return changed


# Without a stated context size, a refused prompt is retried at this share of its size.
UNSTATED_CONTEXT_SHARE = 0.6


def lowered_limit(current: int, stated: int | None, sent_tokens: int) -> int:
    """The context limit to use after the endpoint refused a prompt of `sent_tokens` as too long."""
    if stated is not None and stated < current:
        return stated
    return max(1000, min(current, int(sent_tokens * UNSTATED_CONTEXT_SHARE)))
