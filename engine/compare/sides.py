"""The two sides of a comparison: whole datasets, or one dataset split in two.

A side is the analytics' span columns (`SpanData`) for its traces plus one row of
run measurements per trace (start, duration, tokens, cost, from the index's trace
table). Two paths give two sides as they are; one dataset is split by trace
start time (`before` / `after`) or by an attribute's value (`split.attribute`),
by keeping each side's traces in a copy of the columns (`subset`), so the
analytics run on each side exactly as on a dataset of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import InvalidArgumentError
from engine.traces.analytics.data import SpanData

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["Runs", "Side", "whole", "split_by_time", "subset", "parse_time"]


@dataclass(frozen=True)
class Runs:
    """Per-trace measurements, aligned with `SpanData.trace_ids` (nan when unknown)."""

    start_ns: np.ndarray
    duration_ms: np.ndarray
    tokens: np.ndarray
    cost: np.ndarray

    def take(self, rows: np.ndarray) -> Runs:
        return Runs(self.start_ns[rows], self.duration_ms[rows], self.tokens[rows], self.cost[rows])


@dataclass(frozen=True)
class Side:
    """One side: what it is called (a path or a split), its spans and its runs."""

    label: str
    data: SpanData
    runs: Runs
    notes: tuple[str, ...] = ()  # what the split left out, said once

    @property
    def n_traces(self) -> int:
        return self.data.n_traces


def parse_time(text: str, name: str) -> int:
    """An ISO-8601 time as Unix nanoseconds (UTC unless it says otherwise)."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(
            f"{name}={text!r} is not an ISO-8601 time; write e.g. 2026-05-28T14:00:00Z"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1_000_000) * 1000


def _runs(ds: Dataset, trace_ids: list[str]) -> Runs:
    """Run measurements per trace id; a trace written to several files adds up its rows."""
    t = ds.traces
    n = len(trace_ids)
    where = {tid: i for i, tid in enumerate(trace_ids)}
    start = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    end = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    tokens = np.zeros(n, dtype=np.float64)
    cost = np.full(n, np.nan, dtype=np.float64)
    ids = t.trace_id.to_list()
    if not ids:
        return Runs(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    rows_start = np.asarray(t.start_ns).astype(np.int64, copy=False)
    rows_end = np.asarray(t.end_ns).astype(np.int64, copy=False)
    rows_tokens = np.maximum(np.asarray(t.input_tokens), 0) + np.maximum(np.asarray(t.output_tokens), 0)
    rows_cost = np.asarray(t.cost, dtype=np.float64)
    for row, tid in enumerate(ids):
        i = where.get(tid or "")
        if i is None:
            continue
        start[i] = min(start[i], rows_start[row])
        end[i] = max(end[i], rows_end[row])
        tokens[i] += float(rows_tokens[row])
        c = float(rows_cost[row])
        if not np.isnan(c):
            cost[i] = c if np.isnan(cost[i]) else cost[i] + c
    duration = np.where(end >= start, (end - start) / 1e6, np.nan)
    return Runs(start, duration, tokens, cost)


def whole(ds: Dataset, label: str) -> Side:
    """A dataset as one side."""
    data = SpanData.from_dataset(ds)
    return Side(label, data, _runs(ds, data.trace_ids))


def subset(data: SpanData, traces: np.ndarray) -> SpanData:
    """The columns of `data` for the traces at indices `traces` only (in their order)."""
    traces = np.asarray(traces, dtype=np.int64)
    relabel = np.full(data.n_traces, -1, dtype=np.int64)
    relabel[traces] = np.arange(len(traces))
    rows = np.flatnonzero(relabel[data.trace] >= 0) if data.n_spans else np.zeros(0, np.int64)
    rows = rows[np.argsort(relabel[data.trace[rows]], kind="stable")]
    position = np.full(data.n_spans, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    parent_of = data.parent[rows] if len(data.parent) else np.full(len(rows), -1, dtype=np.int64)
    parent = np.where(parent_of >= 0, position[np.clip(parent_of, 0, None)], -1)
    picked = rows.tolist()

    def pick(values: list[Any]) -> list[Any]:
        return [values[i] for i in picked] if values else []

    def raw(i: int) -> bytes:
        return data.raw(picked[i])

    def raw_many(spans: list[int]) -> Iterator[tuple[int, bytes]]:
        back = {picked[i]: i for i in spans}
        for row, blob in data.iter_raw(sorted(back)):
            yield back[row], blob

    return SpanData(
        trace_ids=[data.trace_ids[int(t)] for t in traces.tolist()],
        trace=relabel[data.trace[rows]],
        span_id=pick(data.span_id), name=pick(data.name), kind=data.kind[rows], status=data.status[rows],
        status_message=pick(data.status_message), exception=pick(data.exception),
        output_error=pick(data.output_error), start_ns=data.start_ns[rows], end_ns=data.end_ns[rows],
        input_tokens=data.input_tokens[rows], output_tokens=data.output_tokens[rows],
        tool_name=pick(data.tool_name), tool_args=pick(data.tool_args), agent_name=pick(data.agent_name),
        flags=data.flags[rows], depth=data.depth[rows], offered=pick(data.offered),
        requested=pick(data.requested), raw=raw, model=pick(data.model), parent=parent, raw_many=raw_many,
    )  # fmt: skip


def split_by_time(side: Side, before: int | None, after: int | None) -> tuple[Side, Side]:
    """Baseline: traces that start before `before`; candidate: traces that start at or after
    `after`. Either alone splits at one instant; both leave out a window (a rollout)."""
    if before is None:
        if after is None:
            raise InvalidArgumentError("a time split needs before, after or both")
        before = after
    elif after is None:
        after = before
    if after < before:
        raise InvalidArgumentError("after is earlier than before: the two sides would overlap")
    start = side.runs.start_ns
    first = np.flatnonzero(start < before)
    second = np.flatnonzero(start >= after)
    return (
        Side(f"{side.label} before {_iso(before)}", subset(side.data, first), side.runs.take(first)),
        Side(f"{side.label} from {_iso(after)}", subset(side.data, second), side.runs.take(second)),
    )


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
