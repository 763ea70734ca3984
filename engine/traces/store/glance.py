"""The dataset at a glance: counts, time range, who ran, what it cost, how it failed.

Built from the per-chunk summaries the index stored at build time (see
`summary`), so an overview of a million spans merges a few small dicts instead
of walking the rows; only the trace-duration percentiles read a column.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field, SkipValidation

from engine.traces.model import SpanKind

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "TOP_NAMES",
    "TOP_SIGNATURES",
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
    # FileInfo per source file: the dataset's own sequence (a FileTable makes a row when one is read)
    files: SkipValidation[Sequence[Any]] = Field(default_factory=list, description="FileInfo per source file")
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


def _names(counts: dict[str, list[int]]) -> list[NameCount]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_NAMES]
    return [NameCount(name=name, spans=c[0], traces=c[1]) for name, c in ranked]


def _overview(ds: Dataset) -> Overview:
    summary = ds.summary
    kinds = summary["kinds"]
    tools = sorted(summary["tools"].items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_NAMES]
    signatures = summary["signatures"]
    return Overview(
        files=ds.files,
        traces=ds.n_traces,
        spans=ds.n_spans,
        start_ns=summary["start_ns"],
        end_ns=summary["end_ns"],
        kinds={k.name.lower(): int(kinds[k]) for k in SpanKind if kinds[k]},
        error_traces=summary["error_traces"],
        error_spans=summary["error_spans"],
        exception_spans=summary["exception_spans"],
        output_error_spans=summary["output_error_spans"],
        trace_duration_ms=_percentiles(np.asarray(ds.traces.duration_ns) / 1e6),
        input_tokens=summary["input_tokens"],
        output_tokens=summary["output_tokens"],
        cost=summary["cost"],
        services=_names(summary["services"]),
        services_total=len(summary["services"]),
        models=_names(summary["models"]),
        models_total=len(summary["models"]),
        agents=_names(summary["agents"]),
        agents_total=len(summary["agents"]),
        tools=[ToolCount(name=n, calls=c[0], errors=c[1], output_errors=c[2], traces=c[3]) for n, c in tools],
        tools_total=len(summary["tools"]),
        error_signatures=[_signature(g) for g in signatures[:TOP_SIGNATURES]],
        error_signatures_total=summary["signature_groups"],
        quality=ds.quality.model_dump(),
    )


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    # nearest-rank percentiles by partition (np.percentile imports numpy.ma on first use)
    ranks = [min(len(values) - 1, int(q * len(values))) for q in (0.5, 0.9, 0.99)]
    part = np.partition(values, ranks)
    p50, p90, p99 = (float(part[r]) for r in ranks)
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(values.max())}


def _signature(g: list[Any]) -> ErrorSignature:
    name, template, spans, traces, message, examples = g
    return ErrorSignature(
        name=name,
        template=template,
        spans=spans,
        traces=traces,
        example_message=message,
        examples=[SpanRef(trace_id=t, span_id=s) for t, s in examples],
    )


def error_signatures(ds: Dataset, limit: int = TOP_SIGNATURES) -> list[ErrorSignature]:
    """Error spans (status ERROR or an exception event) grouped by span name and message
    template, most traces first (see `summary` for the grouping rule)."""
    return [_signature(g) for g in ds.summary["signatures"][:limit]]
