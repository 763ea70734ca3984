"""Regex search over span content: in one span, one trace, or the whole dataset.

The text searched is each span's raw JSON as a model reads it: UTF-8 decoded,
with JSON string escapes undone (`\\"` -> `"`, `\\n` -> newline, `\\u00e9` -> `é`;
`\\u0000` reads as U+FFFD), so a pattern copied from a displayed attribute value
matches. Match counts are exact; the matches returned are bounded and carry
context. Patterns run on RE2 (`user_regex`): linear in the text, so a time
limit checked between spans bounds the whole search, and one that runs long
stops and says so.
"""

from __future__ import annotations

import re
import time
import warnings
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from engine.errors import InvalidArgumentError
from engine.traces.user_regex import UserRegex, compile_pattern

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "MAX_LIMIT",
    "MAX_CONTEXT_CHARS",
    "MAX_MATCH_CHARS",
    "MAX_SPAN_COUNTS",
    "SearchMatch",
    "SpanMatchCount",
    "SearchHits",
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
# Matches counted in one span between two looks at the clock.
_CLOCK_EVERY_MATCHES = 4096
# Span texts searched together (see `spans_with_matches`).
_BATCH = 1024
# Source bytes read at once when many spans lie close together in a file.
_READ_BLOCK = 8 << 20

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


class SearchHits(BaseModel):
    pattern: str
    total_matches: int = Field(description="exact number of matches in the scope (a lower bound if truncated_by_time)")
    spans_matched: int
    traces_matched: int
    spans_searched: int
    span_counts: list[SpanMatchCount] = Field(default_factory=list, description="spans with the most matches first")
    matches: list[SearchMatch] = Field(default_factory=list)
    has_more: bool = Field(default=False, description="more matches exist than are returned")
    truncated_by_time: bool = False


def searchable_text(raw: bytes) -> str:
    """A span's raw JSON as searched: decoded, JSON string escapes undone.

    Done with `str.split` / `str.replace` (C speed): escaped backslashes split
    the text first, so what remains in each part are genuine escapes.
    """
    text = raw.decode("utf-8", "replace")
    if "\\" not in text:
        return text
    parts = text.split("\\\\")
    for i, part in enumerate(parts):
        if "\\" in part:
            for escape, char in _SIMPLE_ESCAPES:
                if escape in part:
                    part = part.replace(escape, char)
            if "\\u" in part:
                part = _UNICODE_ESCAPE.sub(_unicode_char, part)
            parts[i] = part
    text = "\\".join(parts)
    if not text.isascii() and _SURROGATE.search(text):  # \ud83d\ude00 pairs -> one character
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


_SIMPLE_ESCAPES = (
    ('\\"', '"'),
    ("\\/", "/"),
    ("\\n", "\n"),
    ("\\t", "\t"),
    ("\\r", "\r"),
    ("\\b", "\b"),
    ("\\f", "\f"),
)
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unicode_char(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return chr(code) if code else "\ufffd"  # NUL separates joined texts (see `texts_of`)


def texts_of(ds: Dataset, rows: np.ndarray) -> list[str]:
    """Searchable texts of a batch of rows: joined, decoded and unescaped at once, then split.

    Raw JSON holds no NUL byte (JSON escapes control characters, and `\u0000`
    is read as U+FFFD), so NUL can join the texts and split them again.
    """
    raws = ds.raw_batch(rows)
    texts = searchable_text(b"\0".join(raws)).split("\0")
    if len(texts) != len(raws):  # a raw NUL byte after all: one by one
        texts = [searchable_text(raw) for raw in raws]
    return texts


def iter_texts(ds: Dataset, rows: np.ndarray) -> Iterator[tuple[int, str]]:
    """(row, searchable text) for `rows`, in the given order."""
    for lo in range(0, len(rows), _BATCH):
        batch = rows[lo : lo + _BATCH]
        yield from zip(batch.tolist(), texts_of(ds, batch), strict=True)


def batch_safe(regex: UserRegex) -> bool:
    """Whether a match inside one span's text is also a match inside a concatenation of texts.

    True for patterns without anchors, word boundaries or lookarounds (whose
    result depends on what surrounds the match): then one search over a batch of
    joined texts tells which spans can be skipped.
    """
    return not any(m.group(1) for m in _PATTERN_TOKENS.finditer(regex.pattern))


# Tokens of a pattern: an anchor, word boundary or lookaround (group 1), or any other escape.
_PATTERN_TOKENS = re.compile(r"(\\[AZbBzG]|[$^]|\(\?<?[=!])|\\.")


def required_literal(regex: UserRegex) -> bytes | None:
    """A run of plain characters every match of `regex` contains, as UTF-8 bytes (None if none).

    Only characters JSON never needs to escape count (printable ASCII except
    `"`, backslash and `/`), so the run can be looked for in a span's raw bytes.
    """
    if regex.ignore_case:
        return None
    try:
        # the stdlib's own regex parser (3.11+); typeshed has no stubs for these private modules
        from re import _constants, _parser  # type: ignore[attr-defined]

        with warnings.catch_warnings():
            # A warning means Python reads the pattern differently from RE2 (`[[:alpha:]]`).
            warnings.simplefilter("error")
            parsed = _parser.parse(regex.pattern)
    except (Exception, Warning):  # RE2-only syntax: no literal taken
        return None
    if parsed.state.flags & re.IGNORECASE:  # an inline (?i)
        return None
    items = list(parsed)
    runs: list[str] = []
    current: list[str] = []
    for op, arg in items:
        if op is _constants.LITERAL and 0x20 <= arg < 0x7F and chr(arg) not in '"\\/':
            current.append(chr(arg))
        else:
            runs.append("".join(current))
            current = []
    runs.append("".join(current))
    best = max(runs, key=len)
    return best.encode() if len(best) >= _MIN_LITERAL else None


_MIN_LITERAL = 3
# Past this share of a batch's spans holding the literal, screening stops.
_SCREEN_USELESS = 0.5


def spans_with_matches(
    ds: Dataset, rows: np.ndarray, regex: UserRegex, deadline: float
) -> Iterator[tuple[int, str] | None]:
    """(row, text) of the rows whose text matches `regex`, in order; yields None when time ran out.

    Batches of spans are screened at once: by a literal every match must
    contain, looked for in the raw bytes (`bytes.find`), when the pattern has
    one; else, for a context-free pattern, by one regex search over the joined
    texts. Only spans that pass are searched on their own.
    """
    need = required_literal(regex)
    safe = batch_safe(regex)
    for lo in range(0, len(rows), _BATCH):
        if time.perf_counter() > deadline:
            yield None
            return
        batch_rows = rows[lo : lo + _BATCH]
        batch = batch_rows.tolist()
        block = ds.raw_block(batch_rows) if need is not None else None
        if need is not None and block is not None:
            data, starts, sizes = block
            if need not in data and b"\\u00" not in data:
                continue  # no span of the batch can match
            raws = [data[a : a + n] for a, n in zip(starts.tolist(), sizes.tolist(), strict=True)]
        else:
            raws = ds.raw_batch(batch_rows)
        if need is not None:
            joined_raw = b"\0".join(raws)
            if b"\\u00" not in joined_raw:  # else a \u00XX escape might spell part of the literal
                hits = list(_hits(joined_raw, need, raws))
                for index in hits:
                    text = searchable_text(raws[index])
                    if regex.search(text):
                        yield batch[index], text
                if len(hits) > len(raws) * _SCREEN_USELESS:
                    need = None  # the literal is in most spans: screening only costs time
                continue
        if safe:
            joined = searchable_text(b"\0".join(raws))
            if joined.count("\0") == len(raws) - 1:
                for index, text in _text_hits(joined, regex):
                    yield batch[index], text
                continue
        for i, (row, raw) in enumerate(zip(batch, raws, strict=True)):
            if i % _CLOCK_EVERY == _CLOCK_EVERY - 1 and time.perf_counter() > deadline:
                yield None
                return
            text = searchable_text(raw)
            if regex.search(text):
                yield row, text


def _hits(joined: bytes, needle: bytes, parts: list[bytes]) -> Iterator[int]:
    """Indexes of the `parts` (joined by one byte each into `joined`) that contain `needle`."""
    starts = list(accumulate((len(p) + 1 for p in parts), initial=0))
    pos = 0
    while (at := joined.find(needle, pos)) >= 0:
        index = bisect_right(starts, at) - 1
        if at + len(needle) < starts[index + 1]:  # inside the part, not across the separator
            yield index
        pos = starts[index + 1]


def _text_hits(joined: str, regex: UserRegex) -> Iterator[tuple[int, str]]:
    """(index, text) of the NUL-separated texts in which `regex` may match (a match starts there)."""
    subject = regex.subject(joined)  # one encoding for the whole batch
    sep: str | bytes = b"\0" if isinstance(subject, bytes) else "\0"
    pos = index = 0
    while (at := regex.search_from(subject, pos)) is not None:
        index += subject.count(sep, pos, at)  # type: ignore[arg-type]
        begin = subject.rfind(sep, 0, at) + 1  # type: ignore[arg-type]
        end = subject.find(sep, at)  # type: ignore[arg-type]
        piece = subject[begin : len(subject) if end < 0 else end]
        yield index, piece.decode("utf-8") if isinstance(piece, bytes) else piece
        if end < 0:
            return
        pos, index = end + 1, index + 1


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
) -> SearchHits:
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
        for s, e in regex.spans(text):
            count += 1
            if count % _CLOCK_EVERY_MATCHES == 0 and time.perf_counter() > deadline:
                truncated = True  # one span with millions of matches: stop counting
                break
            if len(matches) < limit:
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
        if truncated:
            break
    top = sorted(per_span, key=lambda rc: (-rc[1], rc[0]))[:MAX_SPAN_COUNTS]
    trace_rows = np.asarray(ds.spans.trace)[[r for r, _ in per_span]] if per_span else np.zeros(0, np.int64)
    return SearchHits(
        pattern=pattern,
        total_matches=total,
        spans_matched=len(per_span),
        traces_matched=len(np.unique(trace_rows)),
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
        return len(rows)
    if not per_span:
        return 0
    last = int(np.flatnonzero(rows == per_span[-1][0])[0])
    return min(len(rows), (last // _BATCH + 1) * _BATCH)


def traces_matching(ds: Dataset, regex: UserRegex, candidates: np.ndarray, timeout_s: float) -> tuple[np.ndarray, bool]:
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
        if regex.search(text):
            hit[trace_of[row]] = True
    return hit, False
