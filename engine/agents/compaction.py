"""Keep an agent's context under its limit by summarising old tool results.

When the estimate of an agent's context passes `COMPACT_AT` of its prompt budget, the
oldest tool results (all but the newest few) are summarised by the compaction
model in one call, keeping ids and figures. Each compacted message says its
reference, and `recall(ref)` gives the original back. If the compaction model
fails or answers badly, results are cut instead: the run goes on either way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson

from engine.agents.config import COMPACT_AT, KEEP_RECENT_TOOL_RESULTS
from engine.agents.events import Compaction
from engine.agents.fitting import prompt_budget, request_tokens
from engine.agents.prompts import prompt
from engine.agents.state import Run
from engine.errors import LLMError

__all__ = ["estimate_tokens", "compact_if_needed", "after_compaction", "COMPACTED_MARK"]

log = logging.getLogger(__name__)

COMPACTED_MARK = "[compacted "
SUMMARY_WORDS = 120
# What the compaction model reads of each result, and the cut used when it fails.
ITEM_INPUT_CHARS = 12_000
FALLBACK_CHARS = 600
# What a compacted result is expected to take (its header and summary), in characters.
COMPACTED_CHARS = 1_000
_IDS = re.compile(r"\b[0-9a-f]{16,32}\b")


def estimate_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """Estimated tokens of everything sent (`fitting.request_tokens`)."""
    return request_tokens(messages, tools)


@dataclass
class _Item:
    index: int  # position in the agent's messages
    ref: str
    text: str


def _candidates(messages: list[dict[str, Any]], refs: dict[int, str]) -> list[_Item]:
    tool_positions = [i for i, m in enumerate(messages) if m.get("role") == "tool"]
    old = tool_positions[:-KEEP_RECENT_TOOL_RESULTS] if KEEP_RECENT_TOOL_RESULTS else tool_positions
    items = []
    for i in old:
        content = messages[i].get("content") or ""
        ref = refs.get(i)
        if ref and not content.startswith(COMPACTED_MARK) and len(content) > FALLBACK_CHARS:
            items.append(_Item(i, ref, content))
    return items


def after_compaction(messages: list[dict[str, Any]], refs: dict[int, str], coming: int) -> list[dict[str, Any]]:
    """`messages` as they will be once `coming` more tool results are added and the old
    ones compacted: the room a new result has is measured against this."""
    tool_positions = [i for i, m in enumerate(messages) if m.get("role") == "tool"]
    keep = max(0, KEEP_RECENT_TOOL_RESULTS - coming)
    old = tool_positions[:-keep] if keep else tool_positions
    projected = list(messages)
    for i in old:
        content = messages[i].get("content") or ""
        if i in refs and len(content) > COMPACTED_CHARS:
            projected[i] = {**messages[i], "content": content[:COMPACTED_CHARS]}
    return projected


async def compact_if_needed(
    run: Run,
    agent_id: str,
    depth: int,
    messages: list[dict[str, Any]],
    refs: dict[int, str],
    tools: list[dict[str, Any]] | None,
) -> bool:
    """Compact `messages` in place when they near the context limit; True if anything changed.

    `refs` maps the position of each tool message to the reference of its full text."""
    # Measured against what a prompt may take: the context (the configured limit, or the
    # endpoint's when it proved smaller) less the output cap.
    budget = prompt_budget(run.context_limit, run.output_cap())
    if estimate_tokens(messages, tools) < COMPACT_AT * budget:
        return False
    items = _candidates(messages, refs)
    if not items:
        return False
    before = sum(len(item.text) for item in items)
    summaries, by_model = await _summarise(run, agent_id, depth, items)
    for item in items:
        summary = summaries.get(item.ref) or _cut(item.text)
        messages[item.index]["content"] = (
            f"{COMPACTED_MARK}{item.ref}: {len(item.text):,} chars summarised; "
            f'recall(ref="{item.ref}") returns the full result]\n{summary}'
        )
    after = sum(len(messages[item.index]["content"]) for item in items)
    run.facts.compactions += 1
    run.emit(
        Compaction, agent_id, depth,
        refs=[i.ref for i in items], chars_before=before, chars_after=after, by_model=by_model,
    )  # fmt: skip
    return True


async def _summarise(run: Run, agent_id: str, depth: int, items: list[_Item]) -> tuple[dict[str, str], bool]:
    if run.exhausted():
        return {}, False
    body = "\n\n".join(f"## {item.ref}\n{item.text[:ITEM_INPUT_CHARS]}" for item in items)
    messages = [
        {"role": "system", "content": prompt("compaction", max_words=SUMMARY_WORDS)},
        {"role": "user", "content": body},
    ]
    try:
        completion = await run.complete(messages, role="compaction", agent=agent_id, depth=depth)
    except LLMError as exc:
        log.warning("compaction model failed, cutting results instead: %s", exc)
        return {}, False
    text = completion.choices[0].message.content or ""
    parsed = _json_object(text)
    summaries = {k: str(v) for k, v in parsed.items() if isinstance(v, str | int | float)}
    wanted = {item.ref for item in items}
    return summaries, bool(wanted & summaries.keys())


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer, tolerating code fences and chatter around it."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        value = orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _cut(text: str) -> str:
    """The fallback summary: the head of the result plus every id it mentioned."""
    ids = list(dict.fromkeys(_IDS.findall(text)))[:40]
    head = text[:FALLBACK_CHARS]
    return head + ("\n… ids mentioned: " + ", ".join(ids) if ids else "") + "\n…(cut)"
