"""Spans in, compact columns out: what one reader pass over a byte range produces.

A `Piece` is the columnar form of the spans of one byte range of one file, in
file order. Worker processes return pieces, not `Span` objects, so only a few
numpy arrays and blobs cross the process boundary. `segment.finalize` then
sorts, links and rolls pieces up into a stored segment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from engine.traces.columns import CategoricalColumn, ListColumn, StringColumn
from engine.traces.hashing import combine_keys, hash_strings
from engine.traces.model import Malformed, Span

__all__ = [
    "Flag",
    "MALFORMED_SAMPLES",
    "CATEGORICAL_FIELDS",
    "STRING_FIELDS",
    "LIST_FIELDS",
    "Piece",
    "PieceBuilder",
]

# file:line samples of malformed records kept per file (the count is exact).
MALFORMED_SAMPLES = 20

CATEGORICAL_FIELDS = ("name", "service", "model", "tool_name", "agent_name", "status_message")
STRING_FIELDS = ("tool_args", "exception", "output_error")
LIST_FIELDS = ("offered_tools", "requested_tools")


class Flag:
    """Bits of the span `flags` column."""

    DUPLICATE = 1  # another span of the same trace has this span id
    ORPHAN = 2  # the parent id names a span that was never exported (kept as a root)
    EXCEPTION = 4  # the span carries an exception event
    OUTPUT_ERROR = 8  # a tool output reads as an error while the status says ok
    REFUSAL = 16  # an LLM output reads as a refusal


@dataclass
class Piece:
    """The spans of one byte range, in file order, as columns.

    `raw_offset` >= 0 points into the source file; < 0 means `-(offset + 1)`
    into `raw` (bytes kept by the index because the source holds no verbatim copy).
    `line` is relative to the range (1 = its first line) until `rebase` is called.
    """

    trace_ids: list[str]
    trace_local: np.ndarray
    span_id: StringColumn
    parent_id: StringColumn
    key: np.ndarray
    parent_key: np.ndarray
    categorical: dict[str, CategoricalColumn]
    strings: dict[str, StringColumn]
    lists: dict[str, ListColumn]
    numbers: dict[str, np.ndarray]
    raw: bytes
    malformed: int = 0
    samples: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0
    end: int = 0
    file: int = 0  # which file of a pack the range is from (0 in a one-file segment)
    # A piece of several files of a pack: the file of each local trace (and
    # numbers["file"] that of each span); `file` is then unused.
    trace_files: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.trace_local)

    def rebase(self, first_line: int, raw_base: int) -> None:
        """Make line numbers absolute and cache-raw offsets relative to a shared raw file."""
        if first_line != 1:
            self.numbers["line"] += np.int32(first_line - 1)
            self.samples = [(line + first_line - 1, reason) for line, reason in self.samples]
        if raw_base:
            off = self.numbers["raw_offset"]
            off[off < 0] -= raw_base


_FIELDS: tuple[str, ...] = Span.__slots__  # type: ignore[assignment]
_ROW = attrgetter(*_FIELDS)
_AT = {name: i for i, name in enumerate(_FIELDS)}


class PieceBuilder:
    """Collects spans as field tuples, then turns them into a `Piece` column by column.

    Each span's fields are read once, right after the reader made it (while it
    is still in the CPU cache), into one tuple; `finish()` transposes the tuples
    with `zip` and converts each column in one pass. `source` (bytes of the
    range starting at file offset `source_start`, with the start offset of each
    line) is given when a span's `raw` is its verbatim line: rows then point into
    the source file instead of copying the bytes.
    """

    def __init__(self, source: bytes | None = None, source_start: int = 0, line_starts: np.ndarray | None = None):
        self._source = source
        self._source_start = source_start
        self._line_starts = line_starts
        self.rows: list[tuple[Any, ...]] = []
        self.malformed = 0
        self.samples: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, span: Span) -> None:
        self.rows.append(_ROW(span))

    def add_malformed(self, item: Malformed) -> None:
        self.malformed += 1
        if len(self.samples) < MALFORMED_SAMPLES:
            self.samples.append((item.line, item.reason))

    def add_all(self, items: Iterable[Span | Malformed]) -> None:
        append = self.rows.append
        for item in items:
            if type(item) is Span:
                append(_ROW(item))
            else:
                self.add_malformed(item)  # type: ignore[arg-type]

    def finish(self, lines: int = 0, end: int = 0) -> Piece:
        n = len(self.rows)
        fields = list(zip(*self.rows)) if n else [()] * len(_FIELDS)
        self.rows = []

        def column(name: str) -> list[Any]:
            return list(fields[_AT[name]])

        trace_text = fields[_AT["trace_id"]]
        distinct = dict.fromkeys(trace_text)
        trace_index = {t: i for i, t in enumerate(distinct)}
        trace_local = np.fromiter(map(trace_index.__getitem__, trace_text), dtype=np.int32, count=n)
        trace_hash = hash_strings(StringColumn.from_values(list(distinct)))
        span_id = StringColumn.from_values(column("span_id"))
        parent_id = StringColumn.from_values([p or None for p in fields[_AT["parent_id"]]])
        scope = trace_hash[trace_local]
        raws = fields[_AT["raw"]]
        raw_size = np.fromiter(map(len, raws), dtype=np.int32, count=n)
        line = np.fromiter(fields[_AT["line"]], dtype=np.int64, count=n)
        raw_offset, raw = self._place_raw(raws, raw_size, line)
        exception, output_error = column("exception"), column("output_error")
        flags = (
            _present(exception) * np.uint8(Flag.EXCEPTION)
            | _present(output_error) * np.uint8(Flag.OUTPUT_ERROR)
            | np.fromiter(fields[_AT["refusal"]], dtype=bool, count=n) * np.uint8(Flag.REFUSAL)
        ).astype(np.uint8)
        return Piece(
            trace_ids=list(distinct),
            trace_local=trace_local,
            span_id=span_id,
            parent_id=parent_id,
            key=combine_keys(scope, hash_strings(span_id)),
            parent_key=combine_keys(scope, hash_strings(parent_id)),
            categorical={f: CategoricalColumn.from_values(fields[_AT[f]]) for f in CATEGORICAL_FIELDS},
            strings={"tool_args": StringColumn.from_values(column("tool_args")),
                     "exception": StringColumn.from_values(exception),
                     "output_error": StringColumn.from_values(output_error)},
            lists={f: ListColumn.from_lists(fields[_AT[f]]) for f in LIST_FIELDS},
            numbers={
                "kind": np.fromiter(fields[_AT["kind"]], dtype=np.int8, count=n),
                "status": np.fromiter(fields[_AT["status"]], dtype=np.int8, count=n),
                "start_ns": _int64(column("start_ns"), n, 0),
                "end_ns": _int64(column("end_ns"), n, 0),
                "input_tokens": _int64(column("input_tokens"), n, -1),
                "output_tokens": _int64(column("output_tokens"), n, -1),
                "cost": np.fromiter((math.nan if c is None else c for c in fields[_AT["cost"]]), dtype=np.float64, count=n),
                "line": line.astype(np.int32),
                "raw_size": raw_size,
                "raw_offset": raw_offset,
                "flags": flags,
            },
            raw=raw,
            malformed=self.malformed,
            samples=self.samples,
            lines=lines,
            end=end,
        )  # fmt: skip

    def _place_raw(self, raws: Sequence[bytes], sizes: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, bytes]:
        """Per span: offset in the source file (>= 0), or -(offset + 1) into the returned copy.

        A span points into the source when its raw bytes are exactly its line
        there (same start, same length up to the newline); others are copied.
        """
        n = len(raws)
        offsets = np.full(n, -1, dtype=np.int64)
        in_source = np.zeros(n, dtype=bool)
        if self._source is not None and self._line_starts is not None and n:
            starts = np.append(self._line_starts, len(self._source) + 1)
            i = line - 1
            ok = (i >= 0) & (i < len(starts) - 1)
            i = np.where(ok, i, 0)
            line_len = starts[i + 1] - 1 - starts[i]
            in_source = ok & (line_len == sizes)
            offsets[in_source] = self._source_start + starts[i[in_source]]
        copied = np.flatnonzero(~in_source)
        if len(copied) == 0:
            return offsets, b""
        sizes64 = sizes[copied].astype(np.int64)
        at = np.zeros(len(copied), dtype=np.int64)
        np.cumsum(sizes64[:-1], out=at[1:])
        offsets[copied] = -(at + 1)
        return offsets, b"".join([raws[j] for j in copied.tolist()])


def _present(values: list[Any]) -> np.ndarray:
    return np.fromiter((v is not None and v != "" for v in values), dtype=bool, count=len(values))


def _int64(values: list[int | None], n: int, missing: int) -> np.ndarray:
    """Integers as int64; None and absurd values (beyond int64) become `missing`."""
    try:
        if None not in values:
            return np.fromiter(values, dtype=np.int64, count=n)  # type: ignore[arg-type]
    except OverflowError:
        pass
    return np.fromiter(
        (v if v is not None and -(2**63) <= v < 2**63 else missing for v in values), dtype=np.int64, count=n
    )
