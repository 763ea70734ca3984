"""The span columns the failure analytics read, gathered from a dataset or a span list.

One plain structure decouples the detectors from the index's storage layout:
numeric columns stay numpy arrays, text columns become Python lists (only the
few text columns the detectors need, with values shared, not copied).
Duplicate spans (same trace and span id seen twice) are left out, so nothing is
counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.traces.model import Span, SpanKind

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["SpanData", "DUPLICATE", "ORPHAN", "EXCEPTION", "OUTPUT_ERROR", "REFUSAL"]

# Span flags, as the index stores them (DATA_API.md).
DUPLICATE = 1
ORPHAN = 2
EXCEPTION = 4
OUTPUT_ERROR = 8
REFUSAL = 16


@dataclass
class SpanData:
    """Span columns, one entry per (non-duplicate) span; rows of a trace contiguous."""

    trace_ids: list[str]  # per trace
    trace: np.ndarray  # per span: index into trace_ids
    span_id: list[str]
    name: list[str]
    kind: np.ndarray  # int8 SpanKind
    status: np.ndarray  # int8 SpanStatus
    status_message: list[str | None]
    exception: list[str | None]
    output_error: list[str | None]
    start_ns: np.ndarray
    end_ns: np.ndarray
    input_tokens: np.ndarray  # -1 unknown
    output_tokens: np.ndarray  # -1 unknown
    tool_name: list[str | None]
    tool_args: list[str | None]
    agent_name: list[str | None]
    flags: np.ndarray
    depth: np.ndarray
    offered: list[tuple[str, ...]]
    requested: list[tuple[str, ...]]
    raw: Callable[[int], bytes]  # raw JSON of span i
    model: list[str | None] = field(default_factory=list)  # model name of LLM spans
    parent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # index of the parent span, -1 none
    # Raw JSON of many spans, (i, bytes) in any order: batched reads on big datasets.
    raw_many: Callable[[list[int]], Iterable[tuple[int, bytes]]] | None = None

    @property
    def n_spans(self) -> int:
        return len(self.span_id)

    @property
    def n_traces(self) -> int:
        return len(self.trace_ids)

    def iter_raw(self, spans: list[int]) -> Iterable[tuple[int, bytes]]:
        if self.raw_many is not None:
            return self.raw_many(spans)
        return ((i, self.raw(i)) for i in spans)

    def raw_text(self, i: int) -> str:
        return self.raw(i).decode("utf-8", errors="replace")

    @cached_property
    def tool(self) -> list[str | None]:
        """The tool each span calls: its tool name, or a TOOL span's own name; None for LLM spans."""
        llm, tool = int(SpanKind.LLM), int(SpanKind.TOOL)
        return [
            None if k == llm else (t or (n if k == tool else None))
            for k, t, n in zip(self.kind.tolist(), self.tool_name, self.name, strict=True)
        ]

    @cached_property
    def tool_rows(self) -> np.ndarray:
        """Spans that call a tool, grouped by trace, in start order within a trace."""
        rows = np.asarray([i for i, t in enumerate(self.tool) if t is not None], dtype=np.int64)
        return _by_trace_and_start(self, rows)

    @cached_property
    def last_llm(self) -> dict[int, int]:
        """trace index -> its last LLM span (by end time, then start)."""
        rows = np.flatnonzero(self.kind == int(SpanKind.LLM))
        order = np.lexsort((rows, self.start_ns[rows], self.end_ns[rows], self.trace[rows]))
        rows = rows[order]
        traces = self.trace[rows]
        last = np.flatnonzero(np.append(traces[1:] != traces[:-1], True)) if len(rows) else rows
        return {int(traces[i]): int(rows[i]) for i in last.tolist()}

    def trace_slices(self) -> Iterable[tuple[int, int, int]]:
        """(trace index, first span, end span) for each trace with spans."""
        if self.n_spans == 0:
            return
        bounds = np.flatnonzero(np.diff(self.trace)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [self.n_spans]))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            yield int(self.trace[s]), s, e

    # -- builders -----------------------------------------------------------

    @classmethod
    def from_spans(cls, spans: Sequence[Span]) -> SpanData:
        """Columns from read spans (file order); traces grouped in order of first appearance."""
        order: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        kept: list[Span] = []
        for span in spans:
            key = (span.trace_id, span.span_id)
            if key in seen:
                continue
            seen.add(key)
            order.setdefault(span.trace_id, len(order))
            kept.append(span)
        kept.sort(key=lambda s: order[s.trace_id])  # stable: file order within a trace
        by_trace: dict[str, dict[str, Span]] = {}
        for span in kept:
            by_trace.setdefault(span.trace_id, {})[span.span_id] = span
        depth, flags = [], []
        for span in kept:
            d, orphan = _depth(span, by_trace[span.trace_id])
            depth.append(d)
            flags.append(
                (ORPHAN if orphan else 0)
                | (EXCEPTION if span.exception else 0)
                | (OUTPUT_ERROR if span.output_error else 0)
                | (REFUSAL if span.refusal else 0)
            )
        raws = [s.raw for s in kept]
        position = {(s.trace_id, s.span_id): n for n, s in enumerate(kept)}
        parent = [position.get((s.trace_id, s.parent_id), -1) if s.parent_id else -1 for s in kept]
        return cls(
            trace_ids=list(order),
            trace=np.array([order[s.trace_id] for s in kept], dtype=np.int64),
            span_id=[s.span_id for s in kept],
            name=[s.name for s in kept],
            kind=np.array([int(s.kind) for s in kept], dtype=np.int8),
            status=np.array([int(s.status) for s in kept], dtype=np.int8),
            status_message=[s.status_message or None for s in kept],
            exception=[s.exception for s in kept],
            output_error=[s.output_error for s in kept],
            start_ns=np.array([s.start_ns for s in kept], dtype=np.int64),
            end_ns=np.array([s.end_ns for s in kept], dtype=np.int64),
            input_tokens=np.array([_tok(s.input_tokens) for s in kept], dtype=np.int64),
            output_tokens=np.array([_tok(s.output_tokens) for s in kept], dtype=np.int64),
            tool_name=[s.tool_name for s in kept],
            tool_args=[s.tool_args for s in kept],
            agent_name=[s.agent_name for s in kept],
            flags=np.array(flags, dtype=np.uint8),
            depth=np.array(depth, dtype=np.int16),
            offered=[tuple(s.offered_tools) for s in kept],
            requested=[tuple(s.requested_tools) for s in kept],
            raw=raws.__getitem__,
            model=[s.model for s in kept],
            parent=np.array(parent, dtype=np.int64),
        )

    @classmethod
    def from_dataset(cls, ds: Dataset) -> SpanData:
        """Columns from an indexed dataset, without reparsing any file."""
        return _from_dataset(ds)


def _by_trace_and_start(data: SpanData, rows: np.ndarray) -> np.ndarray:
    if not len(rows):
        return rows
    return rows[np.lexsort((rows, data.start_ns[rows], data.trace[rows]))]


def _tok(value: int | None) -> int:
    return -1 if value is None else int(value)


def _depth(span: Span, spans: dict[str, Span]) -> tuple[int, bool]:
    depth, current, hops = 0, span, 0
    while current.parent_id is not None and hops < 10_000:
        parent = spans.get(current.parent_id)
        if parent is None:
            break
        depth, current, hops = depth + 1, parent, hops + 1
    return depth, span.parent_id is not None and span.parent_id not in spans


def _from_dataset(ds: Any) -> SpanData:
    spans = ds.spans

    def num(column: Any, dtype: Any) -> np.ndarray:  # empty tables come back as float64
        return np.asarray(column).astype(dtype, copy=False)

    flags_all = num(spans.flags, np.uint8)
    rows = np.flatnonzero((flags_all & DUPLICATE) == 0)
    # A trace written to several files has one trace row per file: key by trace id.
    trace_row_ids = _take(ds.traces.trace_id, np.arange(len(ds.traces.trace_id)))
    ids: dict[str, int] = {}
    per_row = np.fromiter(
        (ids.setdefault(t or "", len(ids)) for t in trace_row_ids), dtype=np.int64, count=len(trace_row_ids)
    )
    trace = per_row[num(spans.trace, np.int64)[rows]] if len(rows) else np.zeros(0, np.int64)
    start = num(spans.start_ns, np.int64)[rows]
    order = np.lexsort((rows, start, trace))
    rows, trace = rows[order], trace[order]
    # Keep only ids that still have spans, in order of first appearance.
    used, first = np.unique(trace, return_index=True)
    relabel = np.full(len(ids), -1, dtype=np.int64)
    by_first = used[np.argsort(first)]
    relabel[by_first] = np.arange(len(by_first))
    trace = relabel[trace]
    id_list = list(ids)
    row_list = rows.tolist()

    def raw(i: int) -> bytes:
        data: bytes = ds.raw_bytes(row_list[i])
        return data

    def raw_many(spans: list[int]) -> Iterable[tuple[int, bytes]]:
        back = {row_list[i]: i for i in spans}
        for row, data in ds.iter_raw(np.asarray(sorted(back), dtype=np.int64)):
            yield back[int(row)], data

    position = np.full(len(flags_all), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    parent_rows = num(spans.parent_row, np.int64)[rows] if len(rows) else np.zeros(0, np.int64)
    parent = np.where(parent_rows >= 0, position[np.clip(parent_rows, 0, None)], -1) if len(rows) else parent_rows
    return SpanData(
        trace_ids=[id_list[int(t)] for t in by_first],
        trace=trace,
        span_id=_take(spans.span_id, rows),
        name=[n or "" for n in _take(spans.name, rows)],
        kind=num(spans.kind, np.int8)[rows],
        status=num(spans.status, np.int8)[rows],
        status_message=[m or None for m in _take(spans.status_message, rows)],
        exception=_take(spans.exception, rows),
        output_error=_take(spans.output_error, rows),
        start_ns=num(spans.start_ns, np.int64)[rows],
        end_ns=num(spans.end_ns, np.int64)[rows],
        input_tokens=num(spans.input_tokens, np.int64)[rows],
        output_tokens=num(spans.output_tokens, np.int64)[rows],
        tool_name=_take(spans.tool_name, rows),
        tool_args=_take(spans.tool_args, rows),
        agent_name=_take(spans.agent_name, rows),
        flags=flags_all[rows],
        depth=num(spans.depth, np.int16)[rows],
        offered=[tuple(v) for v in _take(spans.offered_tools, rows)],
        requested=[tuple(v) for v in _take(spans.requested_tools, rows)],
        raw=raw,
        raw_many=raw_many,
        model=_take(spans.model, rows),
        parent=parent,
    )


def _take(column: Any, rows: np.ndarray) -> list[Any]:
    """Values of an index column (string, categorical or list column) at `rows`."""
    if hasattr(column, "take"):
        return list(column.take(rows))
    values: list[Any] = np.asarray(column)[rows].tolist()
    return values
