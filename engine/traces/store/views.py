"""One trace as a tree, and chosen spans in full.

`view_trace` lists a trace's spans depth-first with children by start time, so
indentation by `depth` draws the call tree; spans whose parent was never
exported are roots. A trace id found in several files is shown file by file
(each file's spans form their own tree), never merged silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from engine.errors import InvalidArgumentError, UnknownIdError
from engine.traces.index.build import Flag
from engine.traces.model import SpanKind, SpanStatus
from engine.traces.readers._registry import declared_attributes

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["MAX_SPAN_IDS", "SpanView", "SpanDetail", "view_trace", "get_spans", "attributes_of", "span_views"]

# Span ids accepted by one get_spans call.
MAX_SPAN_IDS = 200

_KIND_NAMES = {int(k): k.name.lower() for k in SpanKind}
_STATUS_NAMES = {int(s): s.name.lower() for s in SpanStatus}
_FLAG_NAMES = (
    (Flag.ORPHAN, "orphan"), (Flag.DUPLICATE, "duplicate"), (Flag.EXCEPTION, "exception"),
    (Flag.OUTPUT_ERROR, "output_error"), (Flag.REFUSAL, "refusal"),
)  # fmt: skip


class SpanView(BaseModel):
    """A span's index fields: what it is, how it went, when, what it cost."""

    row: int = Field(description="row in the dataset's span table")
    trace_id: str
    span_id: str
    parent_id: str | None = None
    depth: int = 0
    name: str
    kind: str = Field(description="other, agent, llm, tool, chain, retriever, embedding, guardrail")
    status: str = Field(description="unset, ok, error")
    status_message: str | None = None
    exception: str | None = None
    output_error: str | None = None
    start_ns: int
    end_ns: int
    duration_ms: float
    service: str | None = None
    model: str | None = None
    tool_name: str | None = None
    agent_name: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    raw_size: int
    file: str
    line: int
    flags: list[str] = Field(default_factory=list, description="orphan, duplicate, exception, output_error, refusal")


class SpanDetail(SpanView):
    """A span's index fields plus its attributes and its whole original JSON."""

    tool_args: str | None = None
    offered_tools: list[str] = Field(default_factory=list)
    requested_tools: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)


def span_views(ds: Dataset, rows: list[int], depths: list[int] | None = None) -> list[SpanView]:
    """SpanView of each row (columns read in bulk, not per field per span)."""
    if not rows:
        return []
    s = ds.spans
    idx = np.asarray(rows, dtype=np.int64)

    def values(column: Any) -> list[Any]:
        taken: list[Any] = column.take(idx)
        return taken

    def numbers(column: Any) -> list[Any]:
        listed: list[Any] = np.asarray(column)[idx].tolist()
        return listed

    span_ids, parent_ids = values(s.span_id), values(s.parent_id)
    names, messages = values(s.name), values(s.status_message)
    exceptions, output_errors = values(s.exception), values(s.output_error)
    services, models, tools, agents = values(s.service), values(s.model), values(s.tool_name), values(s.agent_name)
    kinds, statuses, starts, ends = numbers(s.kind), numbers(s.status), numbers(s.start_ns), numbers(s.end_ns)
    inp, out, cost = numbers(s.input_tokens), numbers(s.output_tokens), numbers(s.cost)
    sizes, files, lines, flags = numbers(s.raw_size), numbers(s.file), numbers(s.line), numbers(s.flags)
    depth = depths if depths is not None else numbers(s.depth)
    trace_ids = ds.traces.trace_id.take(np.asarray(s.trace)[idx])
    return [
        SpanView(
            row=rows[i],
            trace_id=trace_ids[i] or "",
            span_id=span_ids[i] or "",
            parent_id=parent_ids[i],
            depth=depth[i],
            name=names[i] or "",
            kind=_KIND_NAMES.get(kinds[i], "other"),
            status=_STATUS_NAMES.get(statuses[i], "unset"),
            status_message=messages[i],
            exception=exceptions[i],
            output_error=output_errors[i],
            start_ns=starts[i],
            end_ns=ends[i],
            duration_ms=(ends[i] - starts[i]) / 1e6,
            service=services[i],
            model=models[i],
            tool_name=tools[i],
            agent_name=agents[i],
            input_tokens=None if inp[i] < 0 else inp[i],
            output_tokens=None if out[i] < 0 else out[i],
            cost=None if cost[i] != cost[i] else cost[i],
            raw_size=sizes[i],
            file=ds.files[files[i]].path,
            line=lines[i],
            flags=[name for bit, name in _FLAG_NAMES if flags[i] & bit],
        )
        for i in range(len(rows))
    ]


def _tree_order(parent_row: list[int], first: int, count: int) -> tuple[list[int], list[int]]:
    """Rows of one trace part depth-first (children by start = row order), with depths.

    Spans not reachable from a root (a cycle of parent ids) follow at the end, at depth 0.
    """
    children: dict[int, list[int]] = {}
    roots = []
    for i in range(count):
        p = parent_row[i]
        if p < 0:
            roots.append(first + i)
        else:
            children.setdefault(p, []).append(first + i)
    order: list[int] = []
    depths: list[int] = []
    stack = [(r, 0) for r in reversed(roots)]
    seen = set()
    while stack:
        row, depth = stack.pop()
        if row in seen:
            continue
        seen.add(row)
        order.append(row)
        depths.append(depth)
        stack.extend((c, depth + 1) for c in reversed(children.get(row, ())))
    for i in range(count):
        if first + i not in seen:
            order.append(first + i)
            depths.append(0)
    return order, depths


def view_trace(ds: Dataset, trace_id: str) -> list[SpanView]:
    """The trace's spans in tree order with depth; raises UnknownIdError for an unknown id."""
    parts = ds.trace_indices(trace_id)
    if not parts:
        ds.trace_rows(trace_id)  # raises the UnknownIdError that names the id
    order: list[int] = []
    depths: list[int] = []
    parent_rows = ds.spans.parent_row
    for t in parts:
        first, end = int(ds.traces.row_start[t]), int(ds.traces.row_end[t])
        o, d = _tree_order(np.asarray(parent_rows[first:end]).tolist(), first, end - first)
        order += o
        depths += d
    return span_views(ds, order, depths)


def get_spans(ds: Dataset, trace_id: str, span_ids: list[str]) -> list[SpanDetail]:
    """Chosen spans of one trace in full; unknown span ids are all named in one error."""
    if len(span_ids) > MAX_SPAN_IDS:
        raise InvalidArgumentError(f"at most {MAX_SPAN_IDS} span ids per call, got {len(span_ids)}")
    rows_of_trace = ds.trace_rows(trace_id)
    ids = ds.spans.span_id.take(rows_of_trace)
    first_row: dict[str, int] = {}
    for row, sid in zip(rows_of_trace.tolist(), ids, strict=True):
        first_row.setdefault(sid or "", row)
    missing = [sid for sid in span_ids if sid not in first_row]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10])
        raise UnknownIdError(
            f"span id(s) {shown} not in trace {trace_id!r} (it has {len(rows_of_trace)} spans); "
            f'view_trace(trace_id="{trace_id}") lists its span ids'
        )
    rows = [first_row[sid] for sid in span_ids]
    s = ds.spans
    details = []
    for view, row in zip(span_views(ds, rows), rows, strict=True):
        raw = ds.raw(row)
        details.append(
            SpanDetail(
                **view.model_dump(),
                tool_args=s.tool_args[row],
                offered_tools=s.offered_tools[row],
                requested_tools=s.requested_tools[row],
                attributes=attributes_of(raw),
                raw=raw,
            )
        )
    return details


def attributes_of(raw: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes as a flat dict, whatever the shape kept them as.

    HALO / OTel SDK: `attributes` object; TRAIL: `span_attributes`; OTLP: a list
    of `{"key", "value": {"stringValue" | ...}}`; OpenAI Agents: `span_data`.
    """
    for key in ("attributes", "span_attributes"):
        value = raw.get(key)
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {a["key"]: _otlp_value(a.get("value")) for a in value if isinstance(a, dict) and "key" in a}
    data = raw.get("span_data")
    if isinstance(data, dict):
        return data
    return declared_attributes(raw) or {}


def _otlp_value(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return value
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue" and isinstance(inner, dict):
        return [_otlp_value(v) for v in inner.get("values", [])]
    if kind == "kvlistValue" and isinstance(inner, dict):
        return {kv.get("key"): _otlp_value(kv.get("value")) for kv in inner.get("values", [])}
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return inner
    return inner
