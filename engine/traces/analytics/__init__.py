"""Failure analytics: measured hypotheses about why runs fail, with no model involved.

`analyze(ds)` reads the index columns, plus the raw JSON of the model, tool and
step spans it judges, and reports patterns in eight failure classes (FAILURE_CLASSES):
failed actions the next step must recover from, output the harness could not
parse, arguments that do not fit the offered tool, answers without evidence,
repeated actions and step-limit exhaustion, unusable observations, error families
merged across step names and nesting levels, and outliers above absolute floors.

Each pattern names its class, the decision span (the model call that produced the
failing action: where people put the blame and where a harness change acts), the
harness surface to change, its frequency, and *every* flagged span (`flagged`,
decision span plus the tool or step span as context), with a few quoted examples.
The rules live in `families` (error families), `detect` (tool
statistics, unoffered tools), `actions` (classes 1-3), `answers` (classes 4-6) and
`runs` (limits, final answers, refusals, outliers); span reading in
`spans`, text rules in `failure_text`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from engine.traces.analytics import actions, answers, detect, families, runs
from engine.traces.analytics.data import SpanData
from engine.traces.analytics.patterns import (
    CLASS_OF_KIND,
    FAILURE_CLASSES,
    NOISE_KINDS,
    PATTERN_KINDS,
    SEVERITY,
    Analytics,
    Flag,
    Pattern,
    PatternExample,
    PatternKind,
    Surface,
    ToolStat,
)

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "PatternKind",
    "PATTERN_KINDS",
    "FAILURE_CLASSES",
    "CLASS_OF_KIND",
    "SEVERITY",
    "NOISE_KINDS",
    "Surface",
    "Flag",
    "PatternExample",
    "Pattern",
    "ToolStat",
    "Analytics",
    "analyze",
    "analyze_spans",
]

# Analyses kept in memory, keyed by dataset fingerprint.
CACHE_SIZE = 8

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
    patterns: list[Pattern] = []
    notes: list[str] = []
    patterns += actions.failed_actions(data)
    patterns += actions.unparseable_outputs(data)
    patterns += actions.bad_tool_arguments(data)
    patterns += answers.unsupported_answers(data)
    patterns += answers.repeated_actions(data)
    patterns += answers.step_limit_exhaustion(data)
    patterns += answers.unusable_observations(data)
    patterns += families.error_signatures(data)
    tools = detect.tool_stats(data)
    patterns += detect.tool_errors(data, tools)
    patterns += detect.hidden_tool_errors(data, tools)
    patterns += detect.unoffered_tool_calls(data, notes)
    patterns += runs.turn_limits(data)
    patterns += runs.no_final_answer(data)
    patterns += runs.refusals(data)
    patterns += runs.outliers(data, "latency_outlier")
    patterns += runs.outliers(data, "token_outlier")
    order = {kind: i for i, kind in enumerate(PATTERN_KINDS)}
    patterns.sort(
        key=lambda p: (p.kind in NOISE_KINDS, -p.score, -p.traces_affected, -p.spans_affected, order[p.kind], p.title)
    )
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
