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
    "RESULTS_RESERVE_SHARE",
    "tools_budget",
    "lowered_limit",
    "text_tokens",
    "cut_text",
    "result_room",
    "RESULT_OVERHEAD_TOKENS",
]

# Conservative: code, JSON and ids tokenize at 3-4 characters per token.
CHARS_PER_TOKEN_ESTIMATE = 3
# Tokens kept free of the context besides the output cap (chat templates, tool-call syntax).
CONTEXT_MARGIN_TOKENS = 200
# Tool definitions take at most this share of the prompt budget.
TOOLS_SHARE = 0.4
# The first request leaves at least this share of the prompt budget (one result's share,
# toolbox.RESULT_SHARE) free for the tool results that follow: the tool list and the
# briefing fit in the rest.
RESULTS_RESERVE_SHARE = 0.25
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


def tools_budget(prompt_tokens: int, fixed_tokens: int) -> int:
    """Tokens the tool list may take in a prompt budget of `prompt_tokens` next to a system
    prompt of `fixed_tokens`: its share, and never the room kept for results."""
    return max(0, min(int(TOOLS_SHARE * prompt_tokens),
                      prompt_tokens - fixed_tokens - int(RESULTS_RESERVE_SHARE * prompt_tokens)))  # fmt: skip


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


# Tokens a tool message takes besides its text: the role, the call id, the turn countdown.
RESULT_OVERHEAD_TOKENS = 48
# A result is given at least this room, even when the request is full: an answer cut to
# nothing helps no one, and the request is cut to fit before it is sent.
MIN_RESULT_ROOM_TOKENS = 150


def text_tokens(text: str) -> int:
    """Estimated tokens of a text as it travels inside a request (JSON-escaped)."""
    return count_tokens(orjson.dumps(text).decode())


def cut_text(text: str, budget_tokens: int, mark: str = SHRUNK_MARK) -> str:
    """`text` itself when it fits `budget_tokens` (as sent), else its head and `mark`."""
    if text_tokens(text) <= budget_tokens:
        return text
    keep = max(0, budget_tokens * CHARS_PER_TOKEN_ESTIMATE - len(mark) - 2)
    while keep > 0 and text_tokens(text[:keep] + mark) > budget_tokens:
        keep -= max(1, (text_tokens(text[:keep] + mark) - budget_tokens) * CHARS_PER_TOKEN_ESTIMATE)
    return text[: max(0, keep)] + mark


def result_room(messages: list[dict[str, Any]], tools: list[dict[str, Any]], budget_tokens: int, calls: int) -> int:
    """Estimated tokens each of `calls` tool results may take so that the next request
    (`messages` and `tools` so far, plus the results) fits `budget_tokens`."""
    left = budget_tokens - request_tokens(messages, tools) - calls * RESULT_OVERHEAD_TOKENS
    return max(MIN_RESULT_ROOM_TOKENS, left // max(1, calls))


# Without a stated context size, a refused prompt is retried at this share of its size.
UNSTATED_CONTEXT_SHARE = 0.6


def lowered_limit(current: int, stated: int | None, sent_tokens: int) -> int:
    """The context limit to use after the endpoint refused a prompt of `sent_tokens` as too long."""
    if stated is not None and stated < current:
        return stated
    return max(1000, min(current, int(sent_tokens * UNSTATED_CONTEXT_SHARE)))
