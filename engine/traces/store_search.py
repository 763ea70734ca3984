"""Regex search over span content: in one span, one trace, or the whole dataset.

The text searched is each span's raw JSON as a model reads it: UTF-8 decoded,
with JSON string escapes undone (`\\"` -> `"`, `\\n` -> newline, `\\u00e9` -> `é`),
so a pattern copied from a displayed attribute value matches. Match counts are
exact; the matches returned are bounded and carry context. A time limit is
checked between spans, so a search that runs long stops and says so; one
pathological regex on one huge span can still take its own time before the
check comes round (Python's `re` cannot be interrupted).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from engine.errors import InvalidArgumentError, InvalidPatternError

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "MAX_LIMIT",
    "MAX_CONTEXT_CHARS",
    "MAX_MATCH_CHARS",
    "MAX_SPAN_COUNTS",
    "SearchMatch",
    "SpanMatchCount",
    "SearchResult",
    "compile_pattern",
    "searchable_text",
    "search",
    "iter_texts",
]

MAX_LIMIT = 1000
MAX_CONTEXT_CHARS = 2000
# A match longer than this is shown cut (its length is given).
MAX_MATCH_CHARS = 500
# Spans listed with their own match count (the number of spans matched is exact).
MAX_SPAN_COUNTS = 100
# Spans searched between two looks at the clock.
_CLOCK_EVERY = 64
# Span texts searched together (see `spans_with_matches`).
_BATCH = 1024
# Source bytes read at once when many spans lie close together in a file.
_READ_BLOCK = 8 << 20

_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")


class SearchMatch(BaseModel):
    """One match: where, what, and the text around it."""

    trace_id: str
    span_id: str
    name: str | None = None
    row: int
    start: int = Field(description="character offset of the match in the span's searchable text")
    match: str
    match_chars: int = Field(description="length of the whole match (`match` may be cut)")
    before: str = ""
    after: str = ""


class SpanMatchCount(BaseModel):
    trace_id: str
    span_id: str
    count: int


class SearchResult(BaseModel):
    pattern: str
    total_matches: int = Field(description="exact number of matches in the scope (a lower bound if truncated_by_time)")
    spans_matched: int
    traces_matched: int
    spans_searched: int
    span_counts: list[SpanMatchCount] = Field(default_factory=list, description="spans with the most matches first")
    matches: list[SearchMatch] = Field(default_factory=list)
    has_more: bool = Field(default=False, description="more matches exist than are returned")
    truncated_by_time: bool = False


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a user regex; a bad one raises InvalidPatternError saying what is wrong and where."""
    if not pattern:
        raise InvalidPatternError("the search pattern is empty; give a regular expression such as 'timeout|rate limit'")
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        pointer = f": {pattern[: exc.pos]}⟨here⟩{pattern[exc.pos :]}" if exc.pos is not None else ""
        raise InvalidPatternError(f"invalid regular expression {pattern!r}: {exc.msg}{where}{pointer}") from None
    if regex.search("") is not None:
        raise InvalidPatternError(
            f"the pattern {pattern!r} matches the empty string, so it would match everywhere; "
            "make it require at least one character"
        )
    return regex


def searchable_text(raw: bytes) -> str:
    """A span's raw JSON as searched: decoded, JSON string escapes undone."""
    text = raw.decode("utf-8", "replace")
    if "\\" not in text:
        return text
    text = _ESCAPE.sub(_unescape, text)
    if _SURROGATE.search(text):  # \ud83d\ude00 pairs -> one character
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _unescape(m: re.Match[str]) -> str:
    code = m.group(1)
    return _SIMPLE[code] if len(code) == 1 else chr(int(code[1:], 16))


def iter_texts(ds: Dataset, rows: np.ndarray) -> Iterator[tuple[int, str]]:
    """(row, searchable text) for `rows`, in the given order."""
    for row, raw in ds.iter_raw(rows):
        yield row, searchable_text(raw)


def batch_safe(regex: re.Pattern[str]) -> bool:
    """Whether a match inside one span's text is also a match inside a concatenation of texts.

    True for patterns without anchors, word boundaries or lookarounds (whose
    result depends on what surrounds the match): then one search over a batch of
    joined texts tells which spans can be skipped.
    """
    return not any(m.group(1) for m in _PATTERN_TOKENS.finditer(regex.pattern))


# Tokens of a pattern: an anchor, word boundary or lookaround (group 1), or any other escape.
_PATTERN_TOKENS = re.compile(r"(\\[AZbBzG]|[$^]|\(\?<?[=!])|\\.")


def spans_with_matches(
    ds: Dataset, rows: np.ndarray, regex: re.Pattern[str], deadline: float
) -> Iterator[tuple[int, str] | None]:
    """(row, text) of the rows whose text may match, in order; yields None when time ran out.

    Batches of texts are joined with NUL and searched at once; only the spans a
    match lands in are yielded (the caller runs the regex on each).
    """
    safe = batch_safe(regex)
    for lo in range(0, len(rows), _BATCH):
        if time.perf_counter() > deadline:
            yield None
            return
        texts = list(iter_texts(ds, rows[lo : lo + _BATCH]))
        if not safe:
            for i, (row, text) in enumerate(texts):
                if i % _CLOCK_EVERY == _CLOCK_EVERY - 1 and time.perf_counter() > deadline:
                    yield None
                    return
                if regex.search(text) is not None:
                    yield row, text
            continue
        joined = "\0".join(text for _, text in texts)
        starts = np.cumsum([0] + [len(text) + 1 for _, text in texts])
        pos = 0
        while (m := regex.search(joined, pos)) is not None:
            i = int(np.searchsorted(starts, m.start(), "right")) - 1
            yield texts[i]
            pos = int(starts[i + 1])


def scope_rows(ds: Dataset, trace_id: str | None, span_id: str | None) -> np.ndarray:
    if span_id is not None:
        if trace_id is None:
            raise InvalidArgumentError("span_id needs trace_id: a span id is only unique within its trace")
        return np.asarray([ds.span_row(trace_id, span_id)], dtype=np.int64)
    if trace_id is not None:
        return ds.trace_rows(trace_id).astype(np.int64)
    return np.arange(ds.n_spans, dtype=np.int64)


def search(
    ds: Dataset,
    pattern: str,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    limit: int = 20,
    context_chars: int = 80,
    ignore_case: bool = False,
    timeout_s: float = 5.0,
) -> SearchResult:
    """Every match of `pattern` in the scope, counted exactly; the first `limit` returned."""
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
    if not 0 <= context_chars <= MAX_CONTEXT_CHARS:
        raise InvalidArgumentError(f"context_chars must be between 0 and {MAX_CONTEXT_CHARS}, got {context_chars}")
    regex = compile_pattern(pattern, ignore_case=ignore_case)
    rows = scope_rows(ds, trace_id, span_id)
    deadline = time.perf_counter() + timeout_s
    total = 0
    per_span: list[tuple[int, int]] = []  # (row, count)
    matches: list[SearchMatch] = []
    truncated = False
    names = ds.spans.name
    for item in spans_with_matches(ds, rows, regex, deadline):
        if item is None:
            truncated = True
            break
        row, text = item
        count = 0
        for m in regex.finditer(text):
            count += 1
            if len(matches) < limit:
                s, e = m.span()
                matches.append(
                    SearchMatch(
                        trace_id=ds.trace_id_of_row(row),
                        span_id=ds.spans.span_id[row] or "",
                        name=names[row],
                        row=row,
                        start=s,
                        match=text[s : min(e, s + MAX_MATCH_CHARS)],
                        match_chars=e - s,
                        before=text[max(0, s - context_chars) : s],
                        after=text[e : e + context_chars],
                    )
                )
        if count:
            total += count
            per_span.append((row, count))
    top = sorted(per_span, key=lambda rc: (-rc[1], rc[0]))[:MAX_SPAN_COUNTS]
    trace_rows = np.asarray(ds.spans.trace)[[r for r, _ in per_span]] if per_span else np.zeros(0, np.int64)
    return SearchResult(
        pattern=pattern,
        total_matches=total,
        spans_matched=len(per_span),
        traces_matched=int(len(np.unique(trace_rows))),
        spans_searched=_searched(rows, per_span, truncated),
        span_counts=[
            SpanMatchCount(trace_id=ds.trace_id_of_row(r), span_id=ds.spans.span_id[r] or "", count=c) for r, c in top
        ],
        matches=matches,
        has_more=total > len(matches),
        truncated_by_time=truncated,
    )


def _searched(rows: np.ndarray, per_span: list[tuple[int, int]], truncated: bool) -> int:
    """Spans searched: all of the scope, or (cut by time) up to the batch of the last match found."""
    if not truncated:
        return int(len(rows))
    if not per_span:
        return 0
    last = int(np.flatnonzero(rows == per_span[-1][0])[0])
    return min(len(rows), (last // _BATCH + 1) * _BATCH)


def traces_matching(ds: Dataset, regex: re.Pattern[str], candidates: np.ndarray, timeout_s: float) -> tuple[np.ndarray, bool]:
    """Which candidate traces (TraceTable rows) have a span matching `regex`; and whether time ran out."""
    deadline = time.perf_counter() + timeout_s
    hit = np.zeros(ds.n_traces, dtype=bool)
    if len(candidates) == 0:
        return hit, False
    starts, ends = np.asarray(ds.traces.row_start), np.asarray(ds.traces.row_end)
    rows = np.concatenate([np.arange(starts[t], ends[t]) for t in candidates.tolist()])
    trace_of = np.asarray(ds.spans.trace)
    for item in spans_with_matches(ds, rows, regex, deadline):
        if item is None:
            return hit, True
        row, text = item
        if regex.search(text) is not None:
            hit[trace_of[row]] = True
    return hit, False
