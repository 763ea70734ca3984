"""Memos of hot lookups, bounded by emptying them when full: the idiom the readers and conventions share.

Traces are hostile input, so a memo keyed by what they hold (timestamps'
minutes, attribute key sets, span names, tool schemas) must not grow without
bound. Emptying a full memo costs nothing on a hit, where `functools.lru_cache`
keeps recency on every call. A memo stays a plain dict, so a hit is the dict's
own `get` / `in` / `[]` (a dict subclass made each 4-14 ns slower), and only a
miss calls `remember`.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["remember"]

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """Put `value` in `memo` for `key`, emptying the memo first when it holds `limit` entries; returns `value`."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
