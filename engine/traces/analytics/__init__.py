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
The rules live in `analytics_families` (error families), `analytics_detect` (tool
statistics, unoffered tools), `analytics_actions` (classes 1-3), `analytics_answers` (classes 4-6) and
`analytics_runs` (limits, final answers, refusals, outliers); span reading in
`analytics_spans`, text rules in `analytics_text`.
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

PatternKind = Literal[
    "failed_action",
    "unparseable_output",
    "bad_tool_arguments",
    "unsupported_answer",
    "repeated_action",
    "unusable_observation",
    "error_signature",
    "tool_errors",
    "hidden_tool_error",
    "unoffered_tool_call",
    "turn_limit",
    "no_final_answer",
    "refusal",
    "latency_outlier",
    "token_outlier",
]
PATTERN_KINDS: tuple[str, ...] = PatternKind.__args__  # type: ignore[attr-defined]

# The failure classes of issue 11, by number; each pattern kind belongs to one.
FAILURE_CLASSES: dict[int, str] = {
    1: "failed action, next step must recover",
    2: "output the harness could not parse",
    3: "arguments that do not fit the offered tool",
    4: "answer without evidence",
    5: "repeated action or step-limit exhaustion",
    6: "unusable observation the model relied on",
    7: "error family",
    8: "outlier above an absolute floor",
}
CLASS_OF_KIND: dict[str, int] = {
    "failed_action": 1, "tool_errors": 1, "hidden_tool_error": 1,
    "unparseable_output": 2,
    "bad_tool_arguments": 3, "unoffered_tool_call": 3,
    "unsupported_answer": 4, "refusal": 4,
    "repeated_action": 5, "turn_limit": 5, "no_final_answer": 5,
    "unusable_observation": 6,
    "error_signature": 7,
    "latency_outlier": 8, "token_outlier": 8,
}  # fmt: skip
# How much one affected trace weighs when findings are ranked (traces affected x severity).
# Run-ending and decision failures weigh most; tool statistics and outliers are context.
SEVERITY: dict[str, float] = {
    "unsupported_answer": 3.0, "unparseable_output": 3.0, "bad_tool_arguments": 3.0,
    "unoffered_tool_call": 3.0, "turn_limit": 3.0, "no_final_answer": 3.0,
    "repeated_action": 2.5, "failed_action": 2.0, "unusable_observation": 2.0,
    "error_signature": 2.0, "refusal": 2.0,
    "tool_errors": 1.0, "hidden_tool_error": 1.0,
    "latency_outlier": 0.2, "token_outlier": 0.2,
}  # fmt: skip
# Kinds that describe cost or speed, not a failure: never ranked above a failure.
NOISE_KINDS = frozenset({"latency_outlier", "token_outlier"})

Surface = Literal[
    "system prompt", "tool description or schema", "tool implementation", "output parser",
    "retry or step limits", "model provider",
]

# Analyses kept in memory, keyed by dataset fingerprint.
CACHE_SIZE = 8


class Flag(BaseModel):
    """One flagged place: the decision span (the model call to blame), and the tool or
    step span where the failure showed, when that is another span."""

    trace_id: str
    span_id: str
    context_span_id: str | None = None


class PatternExample(BaseModel):
    """One place a pattern shows: a span, and an exact substring of its raw JSON."""

    trace_id: str
    span_id: str
    quote: str | None = Field(
        default=None, description="exact substring of the span's raw JSON text (<= 300 chars)"
    )
    context_span_id: str | None = Field(default=None, description="the tool or step span where it showed")
    context_quote: str | None = Field(default=None, description="exact substring of the context span's raw JSON")


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
    examples: list[PatternExample] = Field(default_factory=list)
    flagged: list[Flag] = Field(default_factory=list, description="every flagged span, no cap")
    decision: str | None = Field(
        default=None, description="the decision point: span name and model of the blamed model calls, or the tool"
    )
    surface: Surface | None = Field(default=None, description="the harness surface a fix changes")

    @property
    def frequency(self) -> float:
        return self.traces_affected / self.total_traces if self.total_traces else 0.0

    @property
    def failure_class(self) -> int:
        return CLASS_OF_KIND[self.kind]

    @property
    def score(self) -> float:
        """Traces affected times severity: the ranking key of patterns and findings."""
        return self.traces_affected * SEVERITY[self.kind]


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
    from engine.traces import analytics_actions as actions
    from engine.traces import analytics_answers as answers
    from engine.traces import analytics_detect as detect
    from engine.traces import analytics_families as families
    from engine.traces import analytics_runs as runs

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
