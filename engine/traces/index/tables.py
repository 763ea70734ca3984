"""Span and trace tables: columns of one or more index chunks, concatenated on first use.

A `Part` is one chunk placed in a dataset's global numbering (its first span
row and first trace row). Tables expose columns as attributes; a column over a
single part is a view of the memory-mapped Arrow buffers (`arrow_chunk`), over
several it is concatenated once (row and trace indexes shifted) and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.traces.columns.arrow_chunk import ChunkColumns
from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn, StringColumn
from engine.traces.index.build import CATEGORICAL_FIELDS, LIST_FIELDS, STRING_FIELDS

__all__ = ["Part", "SpanTable", "TraceTable"]

_SPAN_NUMBERS = (
    "kind", "status", "start_ns", "end_ns", "input_tokens", "output_tokens", "cost",
    "line", "raw_size", "raw_offset", "flags", "depth", "key", "parent_key",
)  # fmt: skip
_TRACE_NUMBERS = (
    "trace_key", "span_count", "start_ns", "end_ns", "duration_ns", "error_count",
    "input_tokens", "output_tokens", "cost", "llm_calls", "tool_calls", "flags",
)  # fmt: skip


class Part:
    """Rows of one chunk, placed in the dataset's global row and trace numbering.

    `files[f]` is the dataset's index of the chunk's file number f (its `file`
    column; a one-file segment has only file 0). A part is the whole chunk, or,
    when a dataset uses only some files of a pack, the contiguous `rows` and
    `traces` ranges of those files: the columns are then Arrow slices of that
    range (what rows point into, string bytes and values, stays whole).
    """

    __slots__ = (
        "files",
        "arrays",
        "raw_path",
        "row0",
        "trace0",
        "n_rows",
        "n_traces",
        "raw",
        "row_shift",
        "trace_shift",
    )

    def __init__(
        self,
        files: Sequence[int] | np.ndarray,
        arrays: ChunkColumns,
        raw_path: Path | None,
        row0: int,
        trace0: int,
        raw: np.ndarray | None = None,
        rows: tuple[int, int] | None = None,
        traces: tuple[int, int] | None = None,
    ):
        self.files = np.asarray(files, dtype=np.int32)
        row_lo = trace_lo = 0
        if rows is not None and traces is not None:
            arrays = arrays.slice(rows, traces)
            row_lo, trace_lo = rows[0], traces[0]
        self.arrays = arrays
        self.raw_path = raw_path
        self.raw = raw
        self.row0 = row0
        self.trace0 = trace0
        # added to stored row / trace numbers to make them global
        self.row_shift = row0 - row_lo
        self.trace_shift = trace0 - trace_lo
        self.n_rows = arrays.n_rows
        self.n_traces = arrays.n_traces


class _Table:
    """Columns concatenated over parts on first use (a single part is used as mapped)."""

    _prefix = ""
    _numbers: tuple[str, ...] = ()
    _strings: tuple[str, ...] = ()
    _categorical: tuple[str, ...] = ()
    _lists: tuple[str, ...] = ()

    def __init__(self, parts: list[Part], n: int) -> None:
        self._parts = parts
        self._n = n
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return self._n

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = self._column(name)
        return cached

    def _column(self, name: str) -> Any:
        key = self._prefix + name
        parts = self._parts
        if name in self._numbers:
            return _concat([p.arrays[key] for p in parts], np.float64)
        if name in self._strings:
            return StringColumn.concat([p.arrays.string(key) for p in parts])
        if name in self._categorical:
            return CategoricalColumn.concat([p.arrays.categorical(key) for p in parts])
        if name in self._lists:
            return ListColumn.concat([p.arrays.list(key) for p in parts])
        if name == "file":
            return _concat([p.files[p.arrays[key]] for p in parts], np.int32)
        return self._special(name)

    def _special(self, name: str) -> Any:
        raise AttributeError(f"{type(self).__name__} has no column {name!r}")

    def _shifted(self, key: str, shift: Callable[[Part], int]) -> np.ndarray:
        """A row/trace index column moved to global numbering (-1 stays -1)."""
        out = []
        for p in self._parts:
            a = p.arrays[key]
            s = shift(p)
            out.append(np.where(a >= 0, a + s, a) if s else a)
        return _concat(out, np.int64)


def _concat(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]
    if not arrays:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(arrays)


class SpanTable(_Table):
    """One row per span; the rows of a trace are contiguous, sorted by start time.

    Columns (numpy): trace (-> TraceTable row), span_id / parent_id / tool_args /
    exception / output_error (StringColumn), name / service / model / tool_name /
    agent_name / status_message (CategoricalColumn), kind, status, start_ns,
    end_ns, input_tokens / output_tokens (-1 unknown), cost (nan unknown), file,
    line, raw_size, flags (`build.Flag`), depth, parent_row (-1 for roots),
    offered_tools / requested_tools (ListColumn).
    """

    _numbers = _SPAN_NUMBERS
    _strings = ("span_id", "parent_id", *STRING_FIELDS)
    _categorical = CATEGORICAL_FIELDS
    _lists = LIST_FIELDS

    def _special(self, name: str) -> Any:
        if name == "trace":
            return self._shifted("trace", lambda p: p.trace_shift).astype(np.int32, copy=False)
        if name == "parent_row":
            return self._shifted("parent_row", lambda p: p.row_shift)
        return super()._special(name)


class TraceTable(_Table):
    """One row per (file, trace id): row range in the SpanTable and rollups.

    Columns: trace_id (StringColumn), file, row_start, row_end, span_count,
    start_ns, end_ns, duration_ns, error_count, root_row (-1 when every span has
    a parent in a cycle), input_tokens, output_tokens (LLM spans only, else leaf
    spans), cost (nan unknown), llm_calls, tool_calls, flags (OR of span flags),
    services / models / agents / tools (ListColumn).
    """

    _prefix = "t."
    _numbers = _TRACE_NUMBERS
    _strings = ("trace_id",)
    _lists = ("services", "models", "agents", "tools")

    def _special(self, name: str) -> Any:
        if name in ("row_start", "row_end", "root_row"):
            return self._shifted("t." + name, lambda p: p.row_shift)
        return super()._special(name)
