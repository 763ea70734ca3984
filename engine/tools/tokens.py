"""Token counts of what a client receives, by a real tokenizer that works offline.

Clients limit tool answers in tokens (Claude Code refuses one over ~25k), and
characters are a poor proxy for them: prose runs near 4 characters per token,
JSON-dense text (short keys, numbers, escapes) near 2. So budgets are counted
with OpenAI's `o200k_base` encoding, a stand-in for the client model's own
tokenizer (none of those is published).

The counter is `quicktok` (PyPI `quicktok-v1`): its wheels carry the
vocabulary, so counting never downloads anything (`tiktoken` fetches its BPE
files on first use, which fails offline and in CI); it gives the same counts
as tiktoken's o200k_base and counts 80k characters in well under a
millisecond, cheap enough for `budget.fit` to count every candidate answer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

__all__ = ["ENCODING", "count_tokens", "answer_tokens", "structured_json"]

# The encoding budgets are counted in (OpenAI's current one).
ENCODING = "o200k_base"


@cache
def _encoder() -> Any:
    import quicktok  # loads its vocabulary (~0.4 s) once, on the first count

    return quicktok.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of `text` in `ENCODING` (special-token names count as plain text)."""
    if not text:
        return 0
    try:
        return int(_encoder().count(text))
    except (TypeError, UnicodeEncodeError):
        # A lone surrogate is no UTF-8; it travels escaped, count it as a replacement.
        return int(_encoder().count(text.encode("utf-8", "replace").decode("utf-8")))


def structured_json(structured: dict[str, Any] | None) -> str:
    """The structured content as the client receives it: compact JSON, UTF-8 unescaped."""
    return "" if structured is None else orjson.dumps(structured).decode("utf-8")


def answer_tokens(text: str, structured: dict[str, Any] | None) -> int:
    """Tokens an answer costs: the text content plus the structured content (both reach the model)."""
    return count_tokens(text) + count_tokens(structured_json(structured))
