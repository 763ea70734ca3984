"""pandas views of a dataset: the canonical span and trace tables for run_code and analysis.

Text columns with few distinct values become pandas categoricals built straight
from the index codes (no string per row); unknown token counts are <NA>.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn
from engine.traces.model import SpanKind, SpanStatus

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["span_frame", "trace_frame"]

_KINDS = [k.name for k in SpanKind]
_STATUSES = [s.name for s in SpanStatus]

# Each column's dtype as a built index gives it; an empty index's arrays are float64 and
# nothing is left to infer from, so a dataset without spans gets these instead ("text":
# what pandas infers for strings, `str` from pandas 3 on, else object).
_SPAN_DTYPES = {
    "trace_id": "text",
    "span_id": "text",
    "parent_id": "text",
    "start_ns": np.int64,
    "end_ns": np.int64,
    "duration_ms": np.float64,
    "cost": np.float64,
    "raw_size": np.int32,
    "line": np.int32,
    "depth": np.int16,
    "flags": np.uint8,
}
_TRACE_DTYPES = {
    "trace_id": "text",
    "root_name": "text",
    "services": object,
    "models": object,
    "agents": object,
    "tools": object,
    "span_count": np.int32,
    "start_ns": np.int64,
    "end_ns": np.int64,
    "duration_ms": np.float64,
    "error_count": np.int64,
    "input_tokens": np.int64,
    "output_tokens": np.int64,
    "cost": np.float64,
    "llm_calls": np.int64,
    "tool_calls": np.int64,
}


def _typed(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    if not frame.empty:
        return frame
    # Inferred here, not at import: a pyarrow-backed str column sets up Arrow's allocator.
    text = pd.Series(np.asarray(["x"], dtype=object)).dtype
    return frame.astype({name: text if dtype == "text" else dtype for name, dtype in dtypes.items()})


def _from_codes(codes: np.ndarray, categories: list[str]) -> pd.Categorical[str]:
    # An Index, as pandas makes of any list of categories anyway: pandas-stubs accept only an Index.
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))


def _categorical(col: CategoricalColumn) -> pd.Categorical[str]:
    return _from_codes(np.asarray(col.codes), col.categories)


def _tokens(values: np.ndarray) -> pd.arrays.IntegerArray:
    values = np.asarray(values).astype(np.int64, copy=False)
    return pd.arrays.IntegerArray(np.maximum(values, 0), values < 0)


def _strings(values: list[str | None]) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _lists(col: ListColumn) -> list[list[str]]:
    return col.take(range(len(col)))


def span_frame(ds: Dataset) -> pd.DataFrame:
    """One row per span: trace_id, span_id, parent_id, name, kind, status, status_message,
    start_ns, end_ns, duration_ms, service, model, input_tokens, output_tokens, cost,
    tool_name, agent_name, raw_size, file, line, depth, flags (row order = index order)."""
    s = ds.spans
    trace_ids = _strings(ds.traces.trace_id.to_list())
    trace = np.asarray(s.trace)
    start, end = np.asarray(s.start_ns), np.asarray(s.end_ns)
    files = _from_codes(np.asarray(s.file), _unique_paths(ds))
    return _typed(pd.DataFrame(
        {
            "trace_id": trace_ids[trace] if len(trace) else np.zeros(0, dtype=object),
            "span_id": _strings(s.span_id.to_list()),
            "parent_id": _strings(s.parent_id.to_list()),
            "name": _categorical(s.name),
            "kind": _from_codes(np.asarray(s.kind, dtype=np.int64), _KINDS),
            "status": _from_codes(np.asarray(s.status, dtype=np.int64), _STATUSES),
            "status_message": _categorical(s.status_message),
            "start_ns": start,
            "end_ns": end,
            "duration_ms": (end - start) / 1e6,
            "service": _categorical(s.service),
            "model": _categorical(s.model),
            "input_tokens": _tokens(s.input_tokens),
            "output_tokens": _tokens(s.output_tokens),
            "cost": np.asarray(s.cost),
            "tool_name": _categorical(s.tool_name),
            "agent_name": _categorical(s.agent_name),
            "raw_size": np.asarray(s.raw_size),
            "file": files,
            "line": np.asarray(s.line),
            "depth": np.asarray(s.depth),
            "flags": np.asarray(s.flags),
        }
    ), _SPAN_DTYPES)


def trace_frame(ds: Dataset) -> pd.DataFrame:
    """One row per (file, trace): trace_id, file, span_count, start_ns, end_ns, duration_ms,
    error_count, root_name, services, models, agents, tools, input_tokens, output_tokens,
    cost, llm_calls, tool_calls."""
    t = ds.traces
    root = np.asarray(t.root_row)
    names = ds.spans.name
    root_names = [names[int(r)] if r >= 0 else None for r in root.tolist()]
    return _typed(pd.DataFrame(
        {
            "trace_id": _strings(t.trace_id.to_list()),
            "file": _from_codes(np.asarray(t.file), _unique_paths(ds)),
            "span_count": np.asarray(t.span_count),
            "start_ns": np.asarray(t.start_ns),
            "end_ns": np.asarray(t.end_ns),
            "duration_ms": np.asarray(t.duration_ns) / 1e6,
            "error_count": np.asarray(t.error_count),
            "root_name": _strings(root_names),
            "services": _lists(t.services),
            "models": _lists(t.models),
            "agents": _lists(t.agents),
            "tools": _lists(t.tools),
            "input_tokens": np.asarray(t.input_tokens),
            "output_tokens": np.asarray(t.output_tokens),
            "cost": np.asarray(t.cost),
            "llm_calls": np.asarray(t.llm_calls),
            "tool_calls": np.asarray(t.tool_calls),
        }
    ), _TRACE_DTYPES)


def _unique_paths(ds: Dataset) -> list[str]:
    # Paths are unique per dataset (resolve_paths dedupes), so they are valid categories.
    return [f.path for f in ds.files]
