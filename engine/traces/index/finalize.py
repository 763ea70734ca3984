"""From pieces to a stored segment chunk: sort, link parents, depth, per-trace rollups.

Rows are sorted by (trace in order of first appearance in the file, start time,
file order), so the spans of a trace are one contiguous row range and a file
that grows adds its new traces at the end. Parents are linked by 64-bit keys of
(trace id, span id) in numpy, never through a per-span Python dict.

A chunk may hold several files (a pack, see `pack`): every span records its
file (`file`, 0 in a one-file segment), traces are numbered per file, so a trace
id found in two files stays two traces, and parents link within a file only.
The files' rows are then contiguous and in file order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from engine.traces.columns.arrow_chunk import ChunkColumns, Column, chunk_file_names, to_arrow, write_file
from engine.traces.columns.hashing import hash_strings
from engine.traces.columns.lists import ListColumn
from engine.traces.columns.reserved_file import ReservedFile
from engine.traces.columns.strings import CategoricalColumn, StringColumn
from engine.traces.index.build import CATEGORICAL_FIELDS, LIST_FIELDS, STRING_FIELDS, Flag, Piece
from engine.traces.index.heap_trim import trim_heap
from engine.traces.index.links import FILE_MIX, HASH_LINK_MIN_SPANS, MAX_TREE_DEPTH, depths, first_rows, link
from engine.traces.index.reorder import RowOrder
from engine.traces.model import SpanKind, SpanStatus

__all__ = ["MAX_TREE_DEPTH", "ChunkArrays", "TraceNumbering", "finalize", "piece_from_chunk", "trace_keys"]

ChunkArrays = Mapping[str, np.ndarray]

_SPAN_NUMBERS = (
    "kind", "status", "start_ns", "end_ns", "input_tokens", "output_tokens",
    "cost", "line", "raw_size", "raw_offset", "flags",
)  # fmt: skip


def trace_keys(trace_ids: Sequence[str]) -> np.ndarray:
    """Stable 64-bit keys of trace ids, for lookup by binary search."""
    return hash_strings(StringColumn.from_values(list(trace_ids)))


def finalize(
    pieces: Sequence[Piece], directory: Path, chunk_id: str, numbering: TraceNumbering | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Merge pieces (already rebased) into one chunk written to `directory` (`arrow_chunk`): file sizes, counts.

    Columns are merged and sorted one at a time, and each piece's part of a
    column is dropped as soon as it is merged, so memory stays near the size of
    the pieces plus one copy of the chunk (an Arrow record batch is written
    whole, at the end; numbers and compact strings go into it without copies).
    """
    spans_name, traces_name = chunk_file_names(chunk_id)
    writer = _Columns(directory / spans_name)
    # Threads for the parts that need only what is merged so far (numpy, pandas and pyarrow release the GIL).
    pool = ThreadPoolExecutor(2, thread_name_prefix="finalize")
    lists: Future[dict[str, Column]] | None = None
    try:
        file = _cat([_files_of(p) for p in pieces], np.int32)
        trace, trace_ids = _merge_traces(pieces, numbering or TraceNumbering())
        start_ns = _drain_numbers(pieces, "start_ns")
        order = RowOrder(np.lexsort((np.arange(len(trace)), start_ns, trace)))  # see `reorder`
        trace, start_ns, file = order.numbers(trace), order.numbers(start_ns), order.numbers(file)
        key = order.numbers(_drain(pieces, lambda p: p.key, "key", np.uint64))
        parent_key = order.numbers(_drain(pieces, lambda p: p.parent_key, "parent_key", np.uint64))
        # the parent links, while this thread merges the other columns
        linked = pool.submit(_link_tree, key, parent_key, order.numbers(_drain_numbers(pieces, "flags")), file)
        # the spans' trace: a dictionary of the trace ids, its codes the trace numbers (`arrow_chunk`)
        writer.add("trace_id", CategoricalColumn(trace, StringColumn.from_values(trace_ids)))
        writer.add_all({"file": file, "key": key, "parent_key": parent_key, "start_ns": start_ns})
        del key, parent_key
        kept: dict[str, np.ndarray] = {"trace": trace, "file": file, "start_ns": start_ns}
        for k in _SPAN_NUMBERS:
            if k not in kept and k != "flags":  # flags: the links thread has them
                column = order.numbers(_drain_numbers(pieces, k))
                writer.add(k, column)
                if k in _ROLLUP_NUMBERS:
                    kept[k] = column
                del column
        trim_heap()  # the pieces' number columns are gone (see `heap_trim`)
        categorical: dict[str, CategoricalColumn] = {}
        for f in sorted(CATEGORICAL_FIELDS, key=lambda f: f not in _ROLLUP_CATEGORICAL):  # what rollups read first
            cat = order.categorical(CategoricalColumn.concat([p.categorical.pop(f) for p in pieces]))
            writer.add(f, cat)
            if f in _ROLLUP_CATEGORICAL:
                categorical[f] = cat
            if len(categorical) == len(_ROLLUP_CATEGORICAL) and lists is None:
                lists = pool.submit(_trace_lists, trace, categorical, trace_ids)
        trim_heap()
        for name in ("span_id", "parent_id"):
            col = StringColumn.concat([getattr(p, name) for p in pieces])
            for p in pieces:
                setattr(p, name, _NO_STRINGS)
            writer.add(name, order.strings(col))
            del col
            trim_heap()
        for f in STRING_FIELDS:
            col = StringColumn.concat([p.strings.pop(f) for p in pieces])
            writer.add(f, order.strings(col))
            del col
        trim_heap()
        for f in LIST_FIELDS:
            writer.add(f, order.lists(ListColumn.concat([p.lists.pop(f) for p in pieces])))
        del order
        tree = linked.result()
        writer.add_all(tree)
        # the span file is whole: written by a thread (pyarrow releases the GIL) while the rollups are computed
        spans_file = pool.submit(write_file, *writer.take(directory / traces_name))
        flags = tree["flags"]
        writer.add_all(_rollups({**kept, **tree}, len(trace_ids)))
        writer.add_all(lists.result() if lists is not None else _trace_lists(trace, categorical, trace_ids))
        counts = {
            "spans": len(trace),
            "traces": len(trace_ids),
            "orphans": int(np.count_nonzero(flags & Flag.ORPHAN)),
            "duplicates": int(np.count_nonzero(flags & Flag.DUPLICATE)),
        }
        traces_bytes = write_file(*writer.take(None))
        return {"spans_bytes": spans_file.result(), "traces_bytes": traces_bytes}, counts
    finally:
        writer.stop()
        pool.shutdown()


class _Columns:
    """A chunk file's columns as Arrow arrays, converted as they are merged (the pieces' copies are dropped).

    The file's pages are reserved as its columns are added (`reserved_file`).
    """

    def __init__(self, path: Path) -> None:
        self.columns: dict[str, Any] = {}
        self.file = ReservedFile(path)

    def add(self, name: str, column: Column) -> None:
        array = to_arrow(column)
        self.columns[name] = array
        self.file.grow(array.nbytes)

    def add_all(self, columns: Mapping[str, Column]) -> None:
        for name, column in columns.items():
            self.add(name, column)

    def take(self, next_path: Path | None) -> tuple[Path, dict[str, Any], ReservedFile]:
        """This file's path, columns and reservation; the columns added next are `next_path`'s."""
        taken = (self.file.path, self.columns, self.file)
        self.columns = {}
        if next_path is not None:
            self.file = ReservedFile(next_path)
        return taken

    def stop(self) -> None:
        """End the reservation under way (the file is written, or the chunk is dropped)."""
        self.file.stop()


def _link_tree(key: np.ndarray, parent_key: np.ndarray, flags: np.ndarray, file: np.ndarray) -> dict[str, np.ndarray]:
    """Parent rows, depths, and flags with DUPLICATE / ORPHAN set (see `links`)."""
    parent_row, flags = link(key, parent_key, flags, file)
    depth, cut = depths(parent_row)
    flags[cut] |= Flag.ORPHAN
    return {"parent_row": parent_row, "depth": depth, "flags": flags}


# Span number columns the per-trace rollups read (kept in memory until then).
_ROLLUP_NUMBERS = frozenset({"kind", "status", "end_ns", "input_tokens", "output_tokens", "cost"})
_ROLLUP_CATEGORICAL = frozenset({"service", "model", "agent_name", "tool_name"})
_NO_STRINGS = StringColumn.empty()


class TraceNumbering:
    """Numbers (file, trace id) in order of first appearance across pieces.

    Pieces arrive with their trace ids and 64-bit trace keys (hashed by the
    workers). `number` only notes them; `resolve` numbers all of them at once
    with numpy, checking every repeated key against its id, so two ids that
    share a hash are never merged (then a dict numbers them, exactly).
    Each file of a pack has its own numbers: the same id in two files is two traces.
    """

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._keys: list[np.ndarray] = []
        self._files: list[np.ndarray] = []

    def number(self, piece: Piece) -> None:
        """Note the piece's traces; its local trace numbers become positions in the noted ids."""
        if not piece.trace_ids:
            return
        n = len(piece.trace_ids)
        files = piece.trace_files if piece.trace_files is not None else np.full(n, piece.file, dtype=np.int32)
        keys = piece.trace_keys if piece.trace_keys is not None else trace_keys(piece.trace_ids)
        self._keys.append(keys ^ (files.astype(np.uint64) * FILE_MIX))  # wraps modulo 2**64, as meant
        self._files.append(files)
        piece.trace_local = np.asarray(piece.trace_local, dtype=np.int32) + np.int32(len(self._ids))
        self._ids.extend(piece.trace_ids)
        piece.trace_ids = []
        piece.trace_keys = None

    def resolve(self, by_hash: bool = False) -> tuple[np.ndarray, list[str]]:
        """The trace number of each noted position, and the trace ids in number order.

        `by_hash`: by pandas' hash table (a big chunk's merge imports it for its links), not a sort:
        346k keys, ~20 against ~60 ms."""
        ids = self._ids
        if not ids:
            return np.zeros(0, dtype=np.int32), []
        keys, files = np.concatenate(self._keys), np.concatenate(self._files)
        numbers: np.ndarray
        if by_hash:
            import pandas as pd  # here: see `links.parent_rows`

            codes = pd.factorize(keys)[0]  # numbered in order of first appearance
            first, numbers = first_rows(codes), codes.astype(np.int32)
        else:
            _, first, numbers = np.unique(keys, return_index=True, return_inverse=True)
            numbers = numbers.reshape(-1)
        earlier = first[numbers]
        again = np.flatnonzero(earlier != np.arange(len(ids)))
        if any(ids[j] != ids[e] for j, e in zip(again.tolist(), earlier[again].tolist(), strict=True)) or (
            files[again] != files[earlier[again]]
        ).any():
            return _numbers_by_dict(ids, files.tolist())  # two ids share a 64-bit key
        if by_hash:
            return numbers, [ids[i] for i in first.tolist()]
        order = np.argsort(first)
        rank = np.empty(len(first), dtype=np.int32)
        rank[order] = np.arange(len(first), dtype=np.int32)
        return rank[numbers], [ids[i] for i in first[order].tolist()]


def _numbers_by_dict(ids: list[str], files: list[int]) -> tuple[np.ndarray, list[str]]:
    index: dict[tuple[int, str], int] = {}
    numbers = [index.setdefault(pair, len(index)) for pair in zip(files, ids, strict=True)]
    return np.asarray(numbers, dtype=np.int32), [t for _, t in index]


def _merge_traces(pieces: Sequence[Piece], numbering: TraceNumbering) -> tuple[np.ndarray, list[str]]:
    """Per span, the trace's number (see TraceNumbering); and the trace ids."""
    for p in pieces:
        numbering.number(p)  # pieces merged from stored chunks were not noted on arrival
    positions = _cat([np.asarray(p.trace_local, dtype=np.int32) for p in pieces], np.int32)
    for p in pieces:
        p.trace_local = np.zeros(0, dtype=np.int32)
    number_of, trace_ids = numbering.resolve(by_hash=len(positions) >= HASH_LINK_MIN_SPANS)
    return number_of[positions], trace_ids


def _files_of(piece: Piece) -> np.ndarray:
    """The file number of each span of a piece (taken out of the piece)."""
    files = piece.numbers.pop("file", None)
    return np.full(piece.n, piece.file, dtype=np.int32) if files is None else files.astype(np.int32, copy=False)


def _drain(pieces: Sequence[Piece], get: Any, name: str, dtype: Any) -> np.ndarray:
    parts = [get(p) for p in pieces]
    for p in pieces:
        setattr(p, name, np.zeros(0, dtype=dtype))
    return _cat(parts, dtype)


def _drain_numbers(pieces: Sequence[Piece], name: str) -> np.ndarray:
    return _cat([p.numbers.pop(name) for p in pieces], np.int64)


def _cat(parts: list[np.ndarray], dtype: np.dtype | type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _rollups(arrays: ChunkArrays, n_traces: int) -> dict[str, np.ndarray]:
    """Per-trace rows: bounds, counts, tokens, root (`_trace_lists` has the rest)."""
    trace = arrays["trace"]
    n = len(trace)
    # rows are sorted by trace and every trace number 0..n_traces-1 has rows:
    # the places where the number changes are the trace starts, in order
    row_start = (
        np.flatnonzero(np.concatenate(([True], trace[1:] != trace[:-1]))).astype(np.int64)
        if n
        else np.zeros(0, np.int64)
    )
    row_end = np.append(row_start[1:], n).astype(np.int64)
    kind, status, flags = arrays["kind"], arrays["status"], arrays["flags"]
    start_ns, end_ns = arrays["start_ns"], arrays["end_ns"]

    # Every trace has at least one row and rows are grouped by trace, so
    # reduceat over `row_start` is a per-trace reduction.
    def per_trace(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, row_start) if n_traces else np.zeros(0, dtype=values.dtype)

    if n_traces:
        t_start = np.minimum.reduceat(start_ns, row_start)
        t_end = np.maximum.reduceat(np.maximum(end_ns, start_ns), row_start)
        flags_any = np.bitwise_or.reduceat(flags, row_start)
    else:
        t_start = t_end = np.zeros(0, dtype=np.int64)
        flags_any = np.zeros(0, dtype=np.uint8)

    # Tokens and cost: LLM spans only (agent spans repeat their children's totals);
    # a trace without LLM figures sums its leaf spans instead.
    parent_row = arrays["parent_row"]
    has_child = np.zeros(n, dtype=bool)
    has_child[parent_row[parent_row >= 0]] = True
    llm = kind == SpanKind.LLM
    inp, out, cost = arrays["input_tokens"], arrays["output_tokens"], arrays["cost"]
    known = (inp >= 0) | (out >= 0) | ~np.isnan(cost)
    llm_known = per_trace((llm & known).astype(np.int64)) > 0
    counted = np.where(llm_known[trace], llm, ~has_child) & known if n else np.zeros(0, bool)
    t_inp = per_trace(np.where(counted & (inp > 0), inp, 0))
    t_out = per_trace(np.where(counted & (out > 0), out, 0))
    cost_known = counted & ~np.isnan(cost)
    t_cost = per_trace(np.where(cost_known, cost, 0.0))
    t_cost[per_trace(cost_known.astype(np.int64)) == 0] = np.nan

    # Root: the earliest span without a parent (rows are sorted by start within a trace).
    is_root = parent_row < 0
    root_rows = np.flatnonzero(is_root)
    root_row = np.full(n_traces, -1, dtype=np.int64)
    root_traces = trace[root_rows]  # sorted, so the first root of each trace starts a run
    first = np.concatenate(([True], root_traces[1:] != root_traces[:-1])) if len(root_rows) else np.zeros(0, bool)
    root_row[root_traces[first]] = root_rows[first]

    return {
        "t.file": arrays["file"][row_start] if n else np.zeros(0, np.int32),
        "t.row_start": row_start,
        "t.row_end": row_end,
        "t.span_count": (row_end - row_start).astype(np.int32),
        "t.start_ns": t_start,
        "t.end_ns": t_end,
        "t.duration_ns": t_end - t_start,
        "t.error_count": per_trace((status == SpanStatus.ERROR).astype(np.int32)),
        "t.root_row": root_row,
        "t.input_tokens": t_inp,
        "t.output_tokens": t_out,
        "t.cost": t_cost,
        "t.llm_calls": per_trace(llm.astype(np.int32)),
        "t.tool_calls": per_trace((kind == SpanKind.TOOL).astype(np.int32)),
        "t.flags": flags_any,
    }


def _trace_lists(
    trace: np.ndarray, categorical: dict[str, CategoricalColumn], trace_ids: list[str]
) -> dict[str, Column]:
    """Per-trace rows that do not need the parent links: ids, keys, distinct services/models/agents/tools."""
    trace_id_column = StringColumn.from_values(trace_ids)
    out: dict[str, Column] = {"t.trace_key": hash_strings(trace_id_column), "t.trace_id": trace_id_column}
    for name, field in (("services", "service"), ("models", "model"), ("agents", "agent_name"), ("tools", "tool_name")):
        out[f"t.{name}"] = _distinct_per_trace(trace, categorical[field], len(trace_ids))
    return out


def _distinct_per_trace(trace: np.ndarray, col: CategoricalColumn, n_traces: int) -> ListColumn:
    """The distinct values of a categorical column within each trace, as a list column."""
    codes = col.codes
    present = codes >= 0
    width = np.int64(max(len(col.values), 1))
    # rows are sorted by trace, so the pairs are sorted but within each trace: a stable sort
    # (timsort, which finds the runs) is 4-6x faster here than the default quicksort
    pairs = np.sort(trace[present].astype(np.int64) * width + codes[present], kind="stable")
    if len(pairs):
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    pair_trace = pairs // width
    items = (pairs % width).astype(np.int32)
    lengths = np.bincount(pair_trace, minlength=n_traces)  # pairs are sorted by trace
    starts = np.zeros(n_traces, dtype=np.int64)
    if n_traces:
        np.cumsum(lengths[:-1], out=starts[1:])
    return ListColumn(starts, lengths.astype(np.int32), items, col.values)


def piece_from_chunk(arrays: ChunkColumns) -> Piece:
    """A stored chunk as a piece again, so a grown file's tail can be merged with it."""
    trace_ids = arrays.string("t.trace_id").to_list()
    return Piece(
        trace_ids=[t or "" for t in trace_ids],
        trace_local=np.asarray(arrays["trace"], dtype=np.int32),
        span_id=arrays.string("span_id"),
        parent_id=arrays.string("parent_id"),
        key=np.asarray(arrays["key"]),
        parent_key=np.asarray(arrays["parent_key"]),
        categorical={f: arrays.categorical(f) for f in CATEGORICAL_FIELDS},
        strings={f: arrays.string(f) for f in STRING_FIELDS},
        lists={f: arrays.list(f) for f in LIST_FIELDS},
        file=0,
        numbers={
            **{k: np.array(arrays[k]) for k in _SPAN_NUMBERS},
            # links are recomputed on merge: a parent may have arrived in the tail
            "flags": np.asarray(arrays["flags"]) & np.uint8(~(Flag.DUPLICATE | Flag.ORPHAN) & 0xFF),
        },
        raw=b"",
    )
