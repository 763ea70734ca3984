"""Failure analytics: measured hypotheses about why runs fail, with no model involved.

`analyze(ds)` reads the index columns (never the files again, except the raw JSON
of the few spans it quotes or scans for limit phrases) and reports patterns:
error signatures, tool error rates, tool errors hidden in ok outputs, loops,
calls to tools never offered, turn limits, runs without a final answer,
refusals, and latency / token outliers. Every pattern carries its frequency
(traces affected / total) and example trace and span ids with a quote, so an
analyst starts from evidence instead of rediscovering it. The detection rules
live in `analytics_detect` (errors, tools) and `analytics_runs` (whole runs);
the text rules in `analytics_text`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from engine.traces.analytics_data import SpanData

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "PatternKind",
    "PATTERN_KINDS",
    "Evidence",
    "Pattern",
    "ToolStat",
    "Analytics",
    "analyze",
    "analyze_spans",
]

PatternKind = Literal[
    "error_signature",
    "tool_errors",
    "hidden_tool_error",
    "loop",
    "unoffered_tool_call",
    "turn_limit",
    "no_final_answer",
    "refusal",
    "latency_outlier",
    "token_outlier",
]
PATTERN_KINDS: tuple[str, ...] = PatternKind.__args__  # type: ignore[attr-defined]

# Analyses kept in memory, keyed by dataset fingerprint.
CACHE_SIZE = 8


class Evidence(BaseModel):
    """One place a pattern shows: a span, and an exact substring of its raw JSON."""

    trace_id: str
    span_id: str
    quote: str | None = Field(
        default=None, description="exact substring of the span's raw JSON text (<= 200 chars)"
    )


class Pattern(BaseModel):
    """A failure pattern with its measured frequency and examples."""

    kind: PatternKind
    title: str
    detail: str = ""
    subject: str | None = Field(
        default=None, description="the tool, span name or signature the pattern is about"
    )
    traces_affected: int
    total_traces: int
    spans_affected: int
    examples: list[Evidence] = Field(default_factory=list)

    @property
    def frequency(self) -> float:
        return self.traces_affected / self.total_traces if self.total_traces else 0.0


class ToolStat(BaseModel):
    """How one tool was used across the dataset."""

    tool: str
    calls: int
    errors: int = Field(description="calls with OTel status ERROR or an exception event")
    hidden_errors: int = Field(description="calls whose output reads as an error while status is not ERROR")
    traces: int = Field(description="traces that call the tool")


class Analytics(BaseModel):
    """Everything `analyze` found, patterns ranked by traces affected."""

    total_traces: int
    total_spans: int
    patterns: list[Pattern] = Field(default_factory=list)
    tools: list[ToolStat] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def of_kind(self, kind: str) -> list[Pattern]:
        return [p for p in self.patterns if p.kind == kind]


_cache: OrderedDict[Any, Analytics] = OrderedDict()
_lock = threading.Lock()


def analyze(ds: Dataset) -> Analytics:
    """The failure analytics of `ds`; computed once per dataset fingerprint."""
    key = _fingerprint(ds)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = analyze_spans(SpanData.from_dataset(ds))
    with _lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def analyze_spans(data: SpanData) -> Analytics:
    """The analytics of spans already gathered into columns (what `analyze` runs)."""
    from engine.traces import analytics_detect as detect
    from engine.traces import analytics_runs as runs

    patterns: list[Pattern] = []
    notes: list[str] = []
    patterns += detect.error_signatures(data)
    tools = detect.tool_stats(data)
    patterns += detect.tool_errors(data, tools)
    patterns += detect.hidden_tool_errors(data, tools)
    patterns += detect.loops(data)
    patterns += detect.unoffered_tool_calls(data, notes)
    patterns += runs.turn_limits(data)
    patterns += runs.no_final_answer(data)
    patterns += runs.refusals(data)
    patterns += runs.outliers(data, "latency_outlier")
    patterns += runs.outliers(data, "token_outlier")
    order = {kind: i for i, kind in enumerate(PATTERN_KINDS)}
    patterns.sort(key=lambda p: (-p.traces_affected, -p.spans_affected, order[p.kind], p.title))
    return Analytics(
        total_traces=data.n_traces,
        total_spans=data.n_spans,
        patterns=patterns,
        tools=tools,
        notes=notes,
    )


def _fingerprint(ds: Dataset) -> Any:
    own = getattr(ds, "fingerprint", None)
    if own is not None:
        return own
    files = tuple((str(f.path), f.size, f.spans) for f in ds.files)
    return (files, ds.n_spans, ds.n_traces)
