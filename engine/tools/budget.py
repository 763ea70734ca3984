"""Size budgets: cut long strings visibly and shrink results until they fit.

Every tool answer must fit the smallest client (see `registry.DEFAULT_BUDGET_TOKENS`).
Two mechanisms keep it there, and both say what they did:

- `cut` keeps the head and the tail of a long string and puts a marker in the
  middle naming how much went and which call shows it (lengths of strings are
  in characters: that is what a model asks for with `max_chars` / `offset`);
- `fit` rebuilds a result with fewer items and shorter strings until its text
  rendering plus its structured JSON fit the limit in tokens, counted by a
  real tokenizer (`tokens.py`); the builder it calls is responsible for setting
  `has_more` / cursors / notes for what it left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import orjson

from engine.tools.registry import ToolResult
from engine.tools.tokens import count_tokens

__all__ = [
    "MIN_FIELD_CHARS",
    "HEAD_SHARE",
    "answer_tokens",
    "fits",
    "cut",
    "cut_marker",
    "fit",
    "clamp",
]

# A string is never cut below this many characters: shorter than that, the
# marker would be most of what is left.
MIN_FIELD_CHARS = 160
# Share of the kept characters taken from the head (the rest from the tail):
# the start says what a value is, the end often holds the error.
HEAD_SHARE = 0.6

R = TypeVar("R", bound=ToolResult)


def _parts(result: ToolResult) -> tuple[str, str]:
    structured = orjson.dumps(result.model_dump(mode="json", exclude_none=True)).decode("utf-8")
    return result.render(), structured


def answer_tokens(result: ToolResult) -> int:
    """Tokens an answer costs: its text rendering plus its structured content."""
    text, structured = _parts(result)
    return count_tokens(text) + count_tokens(structured)


def fits(result: ToolResult, limit: int) -> bool:
    """Whether the answer costs at most `limit` tokens.

    Every token stands for at least one byte of UTF-8, so an answer of at most
    `limit` bytes fits without being counted; a longer one is counted.
    """
    text, structured = _parts(result)
    if len(text.encode("utf-8", "surrogatepass")) + len(structured.encode("utf-8")) <= limit:
        return True
    return count_tokens(text) + count_tokens(structured) <= limit


def cut_marker(n_cut: int, more: str) -> str:
    return f"[… {n_cut:,} chars cut; {more}]"


def cut(text: str, max_chars: int, more: str | Callable[[int], str]) -> str:
    """`text` itself, or its head and tail around a marker, in <= max(max_chars, marker) chars.

    `more` names the call that shows the cut part, e.g.
    `view_spans(trace_id="…", span_ids=["…"], attribute="input.value", offset=1200)`;
    a callable gets the offset where the cut starts and returns that call.
    """
    if len(text) <= max_chars:
        return text
    hint = more if callable(more) else (lambda _offset: more)
    # The marker's length depends on the numbers in it; size it for the worst case.
    worst = cut_marker(len(text), hint(len(text)))
    keep = max(0, max_chars - len(worst) - 2)
    head = int(keep * HEAD_SHARE)
    tail = keep - head
    marker = cut_marker(len(text) - keep, hint(head))
    return text[:head] + " " + marker + " " + (text[len(text) - tail :] if tail else "")


def clamp(value: int, low: int, high: int, name: str, notes: list[str]) -> int:
    """`value` within [low, high]; when it had to move, say so in `notes`."""
    if value < low:
        notes.append(f"{name}={value} is below the minimum; used {low}")
        return low
    if value > high:
        notes.append(f"{name}={value} is above the maximum; used {high}")
        return high
    return value


def fit(
    build: Callable[[int, int], R],
    *,
    items: int,
    chars: int,
    limit: int,
    min_items: int = 1,
    min_chars: int = MIN_FIELD_CHARS,
    prefer: str = "items",
) -> R:
    """The largest `build(n_items, field_chars)` whose answer fits `limit` tokens.

    `build(n, c)` must produce a result showing at most `n` items with strings
    cut to about `c` characters, and must say in the result what it left out.
    `prefer="items"` drops items before shortening strings (lists of summaries);
    `prefer="chars"` shortens strings before dropping items (spans the caller
    picked by id). A result that cannot fit even with no items is a bug in the
    builder and raises.
    """
    items = max(0, items)
    min_items = min(min_items, items)
    chars = max(chars, min_chars)

    def ok(result: ToolResult) -> bool:
        return fits(result, limit)

    def fits_with_chars(c: int) -> Callable[[int], bool]:
        return lambda k: ok(build(k, c))

    def fits_with_items(n: int) -> Callable[[int], bool]:
        return lambda k: ok(build(n, k))

    best = build(items, chars)
    if ok(best):
        return best
    stages: list[tuple[str, int, int]]
    if prefer == "chars":
        stages = [("chars", items, min_chars), ("items", min_items, min_chars)]
    else:
        stages = [("items", min_items, chars), ("chars", min_items, min_chars)]
    n, c = items, chars
    for what, low_n, low_c in stages:
        if what == "items":
            found = _largest(low_n, n, fits_with_chars(c))
            if found is not None:
                return build(found, c)
            n = low_n
        else:
            found = _largest(low_c, c, fits_with_items(n))
            if found is not None:
                return build(n, found)
            c = low_c
    last = build(0, min_chars)
    if ok(last):
        return last
    raise RuntimeError(f"result cannot fit {limit} tokens even with no items ({answer_tokens(last)})")


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """Largest k in [low, high] with ok(k), assuming ok is monotone (true below some k)."""
    if high < low or not ok(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low
