"""Spans in, compact columns out: what one reader pass over a byte range produces.

A `Piece` is the columnar form of the spans of one byte range of one file, in
file order. Worker processes return pieces, not `Span` objects, so only a few
numpy arrays and blobs cross the process boundary. `segment.finalize` then
sorts, links and rolls pieces up into a stored segment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from engine.traces.columns.hashing import combine_keys, hash_strings
from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import NONE, CategoricalColumn, Interner, StringColumn
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
# Spans added one by one are converted to columns this many at a time (while they are in cache).
_ROWS_PER_BLOCK = 1024

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
    # 64-bit keys of `trace_ids` (`segment.trace_keys`), hashed in the worker
    trace_keys: np.ndarray | None = None

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


_FIELDS: tuple[str, ...] = Span.__slots__
_ROW = attrgetter(*_FIELDS)
_AT = {name: i for i, name in enumerate(_FIELDS)}


class PieceBuilder:
    """Collects spans a block at a time and converts each block into compact columns at once.

    Spans come as field tuples (`add`, `add_all`: read right after the reader
    made each span) or as blocks of columns (`add_columns`, from a reader that
    reads many spans at once). Each block is converted (categorical codes, string
    blobs, number arrays) as soon as it is complete, while its objects are still
    in the CPU cache; `finish()` only joins the blocks' arrays into a `Piece`.
    `source` (bytes of the range starting at file offset `source_start`, with
    the start offset of each line) is given when a span's `raw` is its verbatim
    line: rows then point into the source file instead of copying the bytes.
    """

    def __init__(self, source: bytes | None = None, source_start: int = 0, line_starts: np.ndarray | None = None):
        self._source = source
        self._source_start = source_start
        self._line_starts = line_starts
        self.rows: list[tuple[Any, ...]] = []  # spans not converted yet, as field tuples
        self.malformed = 0
        self.samples: list[tuple[int, str]] = []
        self._spans = 0  # converted spans
        self._trace_index: dict[str, int] = {}
        self._codes: dict[str, dict[Any, int]] = {f: {None: NONE, "": NONE} for f in CATEGORICAL_FIELDS}
        self._values: dict[str, list[str]] = {f: [] for f in CATEGORICAL_FIELDS}
        self._tool_lists = {f: Interner() for f in LIST_FIELDS}
        self._raws: list[bytes] = []
        self._parts: dict[str, list[Any]] = {f: [] for f in _PARTS}

    def __len__(self) -> int:
        return self._spans + len(self.rows)

    def add(self, span: Span) -> None:
        self.rows.append(_ROW(span))
        if len(self.rows) >= _ROWS_PER_BLOCK:
            self._flush_rows()

    def add_malformed(self, item: Malformed) -> None:
        self.malformed += 1
        if len(self.samples) < MALFORMED_SAMPLES:
            self.samples.append((item.line, item.reason))

    def add_all(self, items: Iterable[Span | Malformed]) -> None:
        rows = self.rows
        append = rows.append
        for item in items:
            if type(item) is Span:
                append(_ROW(item))
                if len(rows) >= _ROWS_PER_BLOCK:
                    self._flush_rows()
            else:
                self.add_malformed(item)  # type: ignore[arg-type]

    def add_columns(self, columns: Sequence[Any]) -> None:
        """A block of spans as columns in `Span` field order, after the spans added so far.

        `start_ns`, `end_ns` and `line` may come as int64 arrays (values beyond
        int64 already replaced by 0); the other columns are sequences of values.
        """
        self._flush_rows()
        self._convert(columns)

    def _flush_rows(self) -> None:
        """Convert the spans added as tuples (the list object stays: readers may hold its `append`)."""
        if self.rows:
            fields = list(zip(*self.rows, strict=True))
            self.rows.clear()
            self._convert(fields)

    def _convert(self, fields: Sequence[Any]) -> None:
        """One block of spans into the builder's per-block arrays (and its running code tables)."""
        n = len(fields[0])
        if not n:
            return
        self._spans += n
        parts = self._parts

        def column(name: str) -> Any:
            return fields[_AT[name]]

        parts["trace_local"].append(_new_codes(self._trace_index, None, column("trace_id")))
        parts["span_id"].append(StringColumn.from_values(column("span_id")))
        parents = column("parent_id")
        parts["parent_id"].append(
            StringColumn.from_values(list(map(_NONE_FOR_EMPTY.get, parents, parents)) if "" in parents else parents)
        )
        for f in CATEGORICAL_FIELDS:
            parts[f].append(_new_codes(self._codes[f], self._values[f], column(f)))
        for f in STRING_FIELDS:
            parts[f].append(StringColumn.from_values(column(f)))
        for f in LIST_FIELDS:
            lists = column(f)
            if any(lists):
                parts[f].append(np.fromiter(map(len, lists), dtype=np.int64, count=n))
                code = self._tool_lists[f].code
                parts[f + ".items"].append(np.fromiter([code(v) for row in lists for v in row], dtype=np.int32))
            else:
                parts[f].append(np.zeros(n, dtype=np.int64))
        for f, convert in _NUMBERS.items():
            values = column(f)
            parts[f].append(values if isinstance(values, np.ndarray) else convert(values))
        raws = column("raw")
        self._raws.extend(raws)
        parts["raw_size"].append(np.fromiter(map(len, raws), dtype=np.int32, count=n))
        flags = _present(column("exception"), n) * np.uint8(Flag.EXCEPTION)
        flags |= _present(column("output_error"), n) * np.uint8(Flag.OUTPUT_ERROR)
        flags |= parts["refusal"].pop() * np.uint8(Flag.REFUSAL)
        parts["flags"].append(flags)

    def finish(self, lines: int = 0, end: int = 0) -> Piece:
        """The piece of all spans added (a builder is finished once)."""
        self._flush_rows()
        parts = self._parts

        def joined(name: str, empty: Any) -> np.ndarray:
            arrays = parts[name]
            return arrays[0] if len(arrays) == 1 else np.concatenate(arrays) if arrays else empty

        trace_ids = list(self._trace_index)
        trace_local = joined("trace_local", np.zeros(0, np.int32))
        trace_hash = hash_strings(StringColumn.from_values(trace_ids))
        span_id = StringColumn.concat(parts["span_id"])
        parent_id = StringColumn.concat(parts["parent_id"])
        scope = trace_hash[trace_local]
        raw_size = joined("raw_size", np.zeros(0, np.int32))
        line = joined("line", np.zeros(0, np.int64))
        raw_offset, raw = self._place_raw(self._raws, raw_size, line)
        codes = {f: joined(f, np.zeros(0, np.int32)) for f in CATEGORICAL_FIELDS}
        piece = Piece(
            trace_ids=trace_ids,
            trace_local=trace_local,
            trace_keys=trace_hash,
            span_id=span_id,
            parent_id=parent_id,
            key=combine_keys(scope, hash_strings(span_id)),
            parent_key=combine_keys(scope, hash_strings(parent_id)),
            categorical={f: CategoricalColumn(codes[f], StringColumn.from_values(self._values[f]))
                         for f in CATEGORICAL_FIELDS},
            strings={f: StringColumn.concat(parts[f]) for f in STRING_FIELDS},
            lists={f: self._tool_list(f, joined(f, np.zeros(0, np.int64))) for f in LIST_FIELDS},
            numbers={
                **{f: joined(f, np.zeros(0, _NUMBER_DTYPES[f])) for f in _NUMBERS if f != "line" and f != "refusal"},
                "line": line.astype(np.int32),
                "raw_size": raw_size,
                "raw_offset": raw_offset,
                "flags": joined("flags", np.zeros(0, np.uint8)),
            },
            raw=raw,
            malformed=self.malformed,
            samples=self.samples,
            lines=lines,
            end=end,
        )  # fmt: skip
        return piece

    def _tool_list(self, field: str, lengths: np.ndarray) -> ListColumn:
        items = self._parts[field + ".items"]
        if not items:
            return ListColumn.from_lists([()] * len(lengths))
        starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths):
            np.cumsum(lengths[:-1], out=starts[1:])
        flat = np.concatenate(items)
        return ListColumn(starts, lengths.astype(np.int32), flat, self._tool_lists[field].column())

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


_NUMBERS: dict[str, Callable[[Sequence[Any]], np.ndarray]] = {}  # filled below: field -> conversion of a block
_NUMBER_DTYPES = {"kind": np.int8, "status": np.int8, "start_ns": np.int64, "end_ns": np.int64,
                  "input_tokens": np.int64, "output_tokens": np.int64, "cost": np.float64, "line": np.int64,
                  "refusal": bool}  # fmt: skip
_PARTS = ("trace_local", "span_id", "parent_id", *CATEGORICAL_FIELDS, *STRING_FIELDS, *LIST_FIELDS,
          *(f + ".items" for f in LIST_FIELDS), *_NUMBER_DTYPES, "raw_size", "flags")  # fmt: skip
_NONE_FOR_EMPTY: dict[Any, None] = {"": None}
_NAN_FOR_NONE: dict[Any, float] = {None: math.nan}


def _new_codes(index: dict[Any, int], distinct: list[Any] | None, values: Sequence[Any]) -> np.ndarray:
    """int32 codes of `values` in `index`, adding values not seen yet in order of first appearance.

    New values get the next codes (counting `distinct`, or `index` when there is
    no `distinct` list) and are appended to `distinct`.
    """
    n = len(values)
    try:
        return np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=n)
    except KeyError:
        pass
    fresh = dict.fromkeys(values)
    for known in fresh.keys() & index.keys():
        del fresh[known]
    first = len(index) if distinct is None else len(distinct)
    index.update(zip(fresh, range(first, first + len(fresh)), strict=True))
    if distinct is not None:
        distinct.extend(fresh)
    return np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=n)


def _present(values: Sequence[Any], n: int) -> np.ndarray:
    """Rows with a non-empty value."""
    if values.count(None) == n:
        return np.zeros(n, dtype=bool)
    return np.fromiter((v is not None and v != "" for v in values), dtype=bool, count=n)


def _int8(values: Sequence[Any]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int8, count=len(values))


def _booleans(values: Sequence[Any]) -> np.ndarray:
    if not any(values):
        return np.zeros(len(values), dtype=bool)
    return np.fromiter(values, dtype=bool, count=len(values))


def _line_numbers(values: Sequence[Any]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=len(values))


def _times(values: Sequence[Any]) -> np.ndarray:
    return _int64(values, 0)


def _counts(values: Sequence[Any]) -> np.ndarray:
    return _int64(values, -1)


def _floats(values: Sequence[Any]) -> np.ndarray:
    """Floats with None as NaN."""
    return np.fromiter(map(_NAN_FOR_NONE.get, values, values), dtype=np.float64, count=len(values))


_NUMBERS.update(kind=_int8, status=_int8, start_ns=_times, end_ns=_times, input_tokens=_counts,
                output_tokens=_counts, cost=_floats, line=_line_numbers, refusal=_booleans)


def _int64(values: Sequence[Any], missing: int) -> np.ndarray:
    """Integers as int64; None and absurd values (beyond int64) become `missing`."""
    n = len(values)
    try:
        if None not in values:
            return np.fromiter(values, dtype=np.int64, count=n)
        return np.fromiter(map({None: missing}.get, values, values), dtype=np.int64, count=n)
    except OverflowError:
        pass
    return np.fromiter(
        (v if v is not None and -(2**63) <= v < 2**63 else missing for v in values), dtype=np.int64, count=n
    )
