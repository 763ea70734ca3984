"""The dataset at a glance: counts, time range, who ran, what it cost, how it failed.

Everything is computed from index columns with numpy (bincounts over
categorical codes); the only per-row Python is over error spans, grouped by
distinct message first, so an overview of a million spans stays fast.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from engine.traces.analytics_text import message_template
from engine.traces.build import Flag
from engine.traces.columns import hash_strings
from engine.traces.model import SpanKind, SpanStatus

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "TOP_NAMES",
    "SIGNATURE_EXAMPLES",
    "NameCount",
    "ToolCount",
    "ErrorSignature",
    "Overview",
    "overview",
    "error_signatures",
]

# Services, models, agents, tools listed (the rest is counted in `*_total`).
TOP_NAMES = 25
# Error signatures listed in the overview.
TOP_SIGNATURES = 15
SIGNATURE_EXAMPLES = 3
# Overviews kept in memory, keyed by dataset fingerprint.
_CACHE_SIZE = 8


class NameCount(BaseModel):
    name: str
    spans: int
    traces: int


class ToolCount(BaseModel):
    name: str
    calls: int
    errors: int = Field(description="calls with status ERROR or an exception")
    output_errors: int = Field(default=0, description="calls with status ok whose output reads as an error")
    traces: int


class SpanRef(BaseModel):
    trace_id: str
    span_id: str


class ErrorSignature(BaseModel):
    """Errors grouped by span name and message template (numbers, ids, paths, quotes masked)."""

    name: str
    template: str
    spans: int
    traces: int
    example_message: str
    examples: list[SpanRef] = Field(default_factory=list)


class Overview(BaseModel):
    files: list[Any] = Field(default_factory=list, description="FileInfo per source file")
    traces: int
    spans: int
    start_ns: int | None = None
    end_ns: int | None = None
    kinds: dict[str, int] = Field(default_factory=dict, description="spans per kind")
    error_traces: int = Field(description="traces with a span of status ERROR or an exception")
    error_spans: int = Field(description="spans of status ERROR")
    exception_spans: int = 0
    output_error_spans: int = 0
    trace_duration_ms: dict[str, float] = Field(default_factory=dict, description="p50, p90, p99, max")
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    services: list[NameCount] = Field(default_factory=list)
    services_total: int = 0
    models: list[NameCount] = Field(default_factory=list)
    models_total: int = 0
    agents: list[NameCount] = Field(default_factory=list)
    agents_total: int = 0
    tools: list[ToolCount] = Field(default_factory=list)
    tools_total: int = 0
    error_signatures: list[ErrorSignature] = Field(default_factory=list)
    error_signatures_total: int = 0
    quality: Any = None


_cache: OrderedDict[Any, Overview] = OrderedDict()
_lock = threading.Lock()


def overview(ds: Dataset) -> Overview:
    """The dataset at a glance (computed once per dataset version)."""
    key = getattr(ds, "fingerprint", None)
    if key is not None:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
    result = _overview(ds)
    if key is not None:
        with _lock:
            _cache[key] = result
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return result


def _named_counts(column: Any, trace_list: Any) -> tuple[list[NameCount], int]:
    """Spans and traces per value of a categorical span column (traces from the trace list column)."""
    codes = np.asarray(column.codes)
    present = codes >= 0
    n_values = len(column.values)
    spans = np.bincount(codes[present], minlength=n_values) if n_values else np.zeros(0, np.int64)
    # trace-level lists have their own codes: count traces per name through the names
    items = np.asarray(trace_list.items)
    per_trace_code = np.bincount(items, minlength=len(trace_list.values)) if len(items) else np.zeros(0, np.int64)
    trace_counts = dict(zip(trace_list.categories, per_trace_code.tolist()))
    cats = column.categories
    used = np.flatnonzero(spans)
    ranked = sorted(used.tolist(), key=lambda c: (-spans[c], cats[c]))
    out = [NameCount(name=cats[c], spans=int(spans[c]), traces=int(trace_counts.get(cats[c], 0))) for c in ranked[:TOP_NAMES]]
    return out, len(used)


def _overview(ds: Dataset) -> Overview:
    s, t = ds.spans, ds.traces
    kind = np.asarray(s.kind)
    status = np.asarray(s.status)
    flags = np.asarray(s.flags)
    trace = np.asarray(s.trace)
    kinds = np.bincount(kind.astype(np.int64), minlength=len(SpanKind)) if len(kind) else np.zeros(len(SpanKind), np.int64)
    t_err = (np.asarray(t.error_count) > 0) | ((np.asarray(t.flags) & Flag.EXCEPTION) != 0)
    durations = np.asarray(t.duration_ns) / 1e6
    cost = np.asarray(t.cost)
    services, n_services = _named_counts(s.service, t.services)
    models, n_models = _named_counts(s.model, t.models)
    agents, n_agents = _named_counts(s.agent_name, t.agents)
    tools, n_tools = _tool_counts(ds, status, flags, trace)
    signatures, n_signatures = error_signatures(ds, TOP_SIGNATURES, with_total=True)
    return Overview(
        files=[f.model_dump() for f in ds.files],
        traces=ds.n_traces,
        spans=ds.n_spans,
        start_ns=int(np.asarray(t.start_ns).min()) if ds.n_traces else None,
        end_ns=int(np.asarray(t.end_ns).max()) if ds.n_traces else None,
        kinds={k.name.lower(): int(kinds[k]) for k in SpanKind if kinds[k]},
        error_traces=int(np.count_nonzero(t_err)),
        error_spans=int(np.count_nonzero(status == SpanStatus.ERROR)),
        exception_spans=int(np.count_nonzero(flags & Flag.EXCEPTION)),
        output_error_spans=int(np.count_nonzero(flags & Flag.OUTPUT_ERROR)),
        trace_duration_ms=(
            {name: float(np.percentile(durations, q)) for name, q in (("p50", 50), ("p90", 90), ("p99", 99))}
            | {"max": float(durations.max())}
            if len(durations)
            else {}
        ),
        input_tokens=int(np.asarray(t.input_tokens).sum()),
        output_tokens=int(np.asarray(t.output_tokens).sum()),
        cost=float(np.nansum(cost)) if len(cost) and not np.isnan(cost).all() else None,
        services=services,
        services_total=n_services,
        models=models,
        models_total=n_models,
        agents=agents,
        agents_total=n_agents,
        tools=tools,
        tools_total=n_tools,
        error_signatures=signatures,
        error_signatures_total=n_signatures,
        quality=ds.quality.model_dump(),
    )


def _tool_counts(ds: Dataset, status: np.ndarray, flags: np.ndarray, trace: np.ndarray) -> tuple[list[ToolCount], int]:
    col = ds.spans.tool_name
    codes = np.asarray(col.codes)
    present = codes >= 0
    n = len(col.values)
    if n == 0 or not present.any():
        return [], 0
    failed = (status == SpanStatus.ERROR) | ((flags & Flag.EXCEPTION) != 0)
    calls = np.bincount(codes[present], minlength=n)
    errors = np.bincount(codes[present & failed], minlength=n)
    hidden = np.bincount(codes[present & ~failed & ((flags & Flag.OUTPUT_ERROR) != 0)], minlength=n)
    pairs = np.unique(trace[present].astype(np.int64) * n + codes[present])
    traces = np.bincount(pairs % n, minlength=n)
    cats = col.categories
    used = np.flatnonzero(calls)
    ranked = sorted(used.tolist(), key=lambda c: (-calls[c], cats[c]))
    out = [
        ToolCount(name=cats[c], calls=int(calls[c]), errors=int(errors[c]), output_errors=int(hidden[c]), traces=int(traces[c]))
        for c in ranked[:TOP_NAMES]
    ]
    return out, len(used)


def error_signatures(ds: Dataset, limit: int = TOP_SIGNATURES, *, with_total: bool = False) -> Any:
    """Error spans (status ERROR or an exception event) grouped by (span name, message template).

    The message is the exception text, else the status message. Messages are
    grouped exactly first (by hash), so each distinct message is templated once.
    Returns the `limit` largest groups (most traces first); with `with_total`,
    also the number of groups.
    """
    s = ds.spans
    status, flags = np.asarray(s.status), np.asarray(s.flags)
    rows = np.flatnonzero((status == SpanStatus.ERROR) | ((flags & Flag.EXCEPTION) != 0))
    if len(rows) == 0:
        return ([], 0) if with_total else []
    exc = s.exception.select(rows)
    exc_hash = hash_strings(exc)
    has_exc = np.asarray(exc.lengths) > 0
    msg_codes = np.asarray(s.status_message.codes)[rows]
    # one message id per row: exception text when present, else the status message code
    message_key = np.where(has_exc, exc_hash, msg_codes.astype(np.int64).astype(np.uint64))
    kind_bit = has_exc.astype(np.uint64)
    _, first, inverse = np.unique(np.stack([message_key, kind_bit]), axis=1, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    messages = []
    for i in first.tolist():
        if has_exc[i]:
            messages.append(exc[i] or "")
        else:
            code = int(msg_codes[i])
            messages.append(s.status_message.categories[code] if code >= 0 else "")
    templates = [message_template(m) if m else "(no message)" for m in messages]
    template_ids = {tpl: j for j, tpl in enumerate(dict.fromkeys(templates))}
    row_template = np.asarray([template_ids[templates[k]] for k in range(len(templates))], dtype=np.int64)[inverse]
    name_codes = np.asarray(s.name.codes)[rows].astype(np.int64)
    group_key = name_codes * len(template_ids) + row_template
    groups, group_of_row = np.unique(group_key, return_inverse=True)
    trace = np.asarray(s.trace)[rows].astype(np.int64)
    span_counts = np.bincount(group_of_row, minlength=len(groups))
    trace_pairs = np.unique(group_of_row.astype(np.int64) * max(ds.n_traces, 1) + trace)
    trace_counts = np.bincount(trace_pairs // max(ds.n_traces, 1), minlength=len(groups))
    order = sorted(range(len(groups)), key=lambda g: (-trace_counts[g], -span_counts[g], int(groups[g])))
    template_list = list(template_ids)
    names = s.name.categories
    out = []
    for g in order[:limit]:
        members = np.flatnonzero(group_of_row == g)
        name_code = int(groups[g] // len(template_ids))
        first_row = int(members[0])
        examples = []
        seen_traces: set[int] = set()
        for m in members.tolist():
            if int(trace[m]) in seen_traces:
                continue
            seen_traces.add(int(trace[m]))
            r = int(rows[m])
            examples.append(SpanRef(trace_id=ds.trace_id_of_row(r), span_id=s.span_id[r] or ""))
            if len(examples) >= SIGNATURE_EXAMPLES:
                break
        out.append(
            ErrorSignature(
                name=names[name_code] if name_code >= 0 else "",
                template=template_list[int(groups[g] % len(template_ids))],
                spans=int(span_counts[g]),
                traces=int(trace_counts[g]),
                example_message=messages[int(inverse[first_row])][:500],
                examples=examples,
            )
        )
    return (out, len(groups)) if with_total else out
