"""What changed between two sides: patterns, tools, success proxies and run costs.

Patterns are matched across the sides by kind and subject (an error family by
its title, which names the family): the same failure measured twice. Each rate
(traces affected / traces) gets Newcombe's interval for its difference and a
count test (`stats.compare_proportions`), and a verdict: `resolved` (gone from
the candidate), `new` (absent from the baseline), `better` or `worse`, all only
when the test is significant; `unchanged` otherwise, which with a small sample
means "not distinguishable from noise", not "the same", so every comparison
carries the smallest difference its sample sizes could show.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from engine.compare.sides import Side
from engine.compare.stats import ALPHA, POWER, ProportionTest, compare_proportions, min_detectable_difference
from engine.traces.analytics import CLASS_OF_KIND, Analytics, Pattern

__all__ = [
    "SMALL_SAMPLE_DIFFERENCE",
    "Verdict",
    "RateChange",
    "PatternChange",
    "ToolChange",
    "Distribution",
    "MetricChange",
    "QuoteCheck",
    "FindingCheck",
    "Comparison",
    "compare_sides",
    "pattern_key",
    "pattern_changes",
    "rate_change",
]

# A sample is called small when the worst-case difference it can detect (rate 0.5,
# 80% power, alpha 0.05) is above this: changes smaller than it read as noise.
SMALL_SAMPLE_DIFFERENCE = 0.20

Verdict = Literal["resolved", "new", "better", "worse", "unchanged"]


class RateChange(BaseModel):
    """One rate on both sides: counts, the difference (candidate - baseline), its test."""

    baseline: int
    baseline_total: int
    candidate: int
    candidate_total: int
    difference: float = Field(description="candidate rate minus baseline rate")
    low: float = Field(description="95% Newcombe interval of the difference, lower end")
    high: float
    p_value: float
    test: Literal["fisher_exact", "z_test"]
    detectable: float = Field(description="smallest difference this sample detects (80% power)")
    verdict: Verdict

    @property
    def baseline_rate(self) -> float:
        return self.baseline / self.baseline_total if self.baseline_total else 0.0

    @property
    def candidate_rate(self) -> float:
        return self.candidate / self.candidate_total if self.candidate_total else 0.0


class PatternChange(RateChange):
    kind: str
    title: str
    subject: str | None = None
    failure_class: int


class ToolChange(BaseModel):
    """A tool's calls per trace on each side, and its error rate per call, compared."""

    tool: str
    baseline_calls: int
    candidate_calls: int
    baseline_calls_per_trace: float
    candidate_calls_per_trace: float
    errors: RateChange = Field(description="calls ending in an error (status or exception), per call")


class Distribution(BaseModel):
    n: int
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class MetricChange(BaseModel):
    """A per-run measurement's percentiles on both sides and their deltas (candidate - baseline)."""

    metric: Literal["latency_ms", "tokens", "cost"]
    baseline: Distribution
    candidate: Distribution
    delta: dict[str, float] = Field(default_factory=dict, description="p50, p90, p99 deltas")


class QuoteCheck(BaseModel):
    quote: str
    traces: RateChange = Field(description="traces with a span containing the quote, per side")


class FindingCheck(BaseModel):
    """A saved finding checked against the candidate (`finding.check_finding`)."""

    run_id: str
    finding: int
    title: str
    still_occurs: bool
    summary: str
    patterns: list[PatternChange] = Field(default_factory=list, description="the patterns its evidence is in")
    quotes: list[QuoteCheck] = Field(default_factory=list)


class Comparison(BaseModel):
    """Everything `compare` measured, patterns with a verdict first."""

    baseline: str
    candidate: str
    baseline_traces: int
    candidate_traces: int
    small_sample: bool
    sample: str = Field(description="what this sample can and cannot show")
    patterns: list[PatternChange] = Field(default_factory=list)
    success: dict[str, RateChange] = Field(
        default_factory=dict, description="final answer reached, turn limit hit: rates per trace"
    )
    tools: list[ToolChange] = Field(default_factory=list)
    runs: list[MetricChange] = Field(default_factory=list)
    finding: FindingCheck | None = None
    notes: list[str] = Field(default_factory=list)


def pattern_key(p: Pattern) -> tuple[str, str]:
    """What makes two patterns the same failure: the kind plus its subject (an error
    family by its title, since several families may share a span name)."""
    if p.kind == "error_signature" or not p.subject:
        return p.kind, p.title
    return p.kind, p.subject


def _verdict(t: ProportionTest, lower_is_better: bool = True) -> Verdict:
    if not t.significant:
        return "unchanged"
    if t.k2 == 0 and lower_is_better:
        return "resolved"
    if t.k1 == 0 and lower_is_better:
        return "new"
    down = t.difference < 0
    return "better" if down == lower_is_better else "worse"


def rate_change(k1: int, n1: int, k2: int, n2: int, *, lower_is_better: bool = True) -> RateChange:
    t = compare_proportions(k1, n1, k2, n2)
    return RateChange(
        baseline=k1, baseline_total=n1, candidate=k2, candidate_total=n2, difference=t.difference,
        low=t.low, high=t.high, p_value=t.p_value, test=t.test, detectable=t.detectable,
        verdict=_verdict(t, lower_is_better),
    )  # fmt: skip


_ORDER = {"worse": 0, "new": 1, "resolved": 2, "better": 3, "unchanged": 4}


def pattern_changes(
    first: list[Pattern], second: list[Pattern], n1: int, n2: int, *, only_first: bool = False
) -> list[PatternChange]:
    """Patterns of both sides matched by `pattern_key`, each rate compared; with `only_first`,
    only the keys of `first` (a finding's patterns, looked for in the candidate)."""
    by_first = {pattern_key(p): p for p in first}
    by_second = {pattern_key(p): p for p in second}
    keys = list(by_first) + ([] if only_first else [k for k in by_second if k not in by_first])
    out = []
    for key in keys:
        p1, p2 = by_first.get(key), by_second.get(key)
        shown = p2 or p1
        assert shown is not None
        k1 = p1.traces_affected if p1 else 0
        k2 = p2.traces_affected if p2 else 0
        change = rate_change(k1, n1, k2, n2)
        out.append(PatternChange(
            **change.model_dump(), kind=shown.kind, title=(p1 or shown).title, subject=shown.subject,
            failure_class=CLASS_OF_KIND[shown.kind],
        ))  # fmt: skip
    out.sort(key=lambda c: (_ORDER[c.verdict], -max(c.baseline_rate, c.candidate_rate), c.kind, c.title))
    return out


def _traces_of(a: Analytics, kind: str) -> int:
    return len({f.trace_id for p in a.of_kind(kind) for f in p.flagged})


def _success(a: Analytics, b: Analytics, n1: int, n2: int) -> dict[str, RateChange]:
    reached = rate_change(
        n1 - _traces_of(a, "no_final_answer"), n1, n2 - _traces_of(b, "no_final_answer"), n2, lower_is_better=False
    )
    limit = rate_change(_traces_of(a, "turn_limit"), n1, _traces_of(b, "turn_limit"), n2)
    return {"final_answer": reached, "turn_limit": limit}


def _tools(a: Analytics, b: Analytics, n1: int, n2: int) -> list[ToolChange]:
    first = {t.tool: t for t in a.tools}
    second = {t.tool: t for t in b.tools}
    out = []
    for name in list(first) + [t for t in second if t not in first]:
        t1, t2 = first.get(name), second.get(name)
        c1, c2 = (t1.calls if t1 else 0), (t2.calls if t2 else 0)
        e1, e2 = (t1.errors if t1 else 0), (t2.errors if t2 else 0)
        out.append(ToolChange(
            tool=name, baseline_calls=c1, candidate_calls=c2,
            baseline_calls_per_trace=c1 / n1 if n1 else 0.0, candidate_calls_per_trace=c2 / n2 if n2 else 0.0,
            errors=rate_change(e1, c1, e2, c2),
        ))  # fmt: skip
    out.sort(key=lambda t: (_ORDER[t.errors.verdict], -(t.baseline_calls + t.candidate_calls), t.tool))
    return out


def _distribution(values: np.ndarray) -> Distribution:
    values = values[~np.isnan(values)]
    if not len(values):
        return Distribution(n=0)
    ordered = np.sort(values)
    n = len(ordered)
    # nearest rank, as overview's trace durations
    p50, p90, p99 = (float(ordered[min(n - 1, int(np.ceil(q * n)) - 1)]) for q in (0.5, 0.9, 0.99))
    return Distribution(n=n, p50=p50, p90=p90, p99=p99)


def _metric(name: Literal["latency_ms", "tokens", "cost"], v1: np.ndarray, v2: np.ndarray) -> MetricChange:
    d1, d2 = _distribution(v1), _distribution(v2)
    delta = {}
    for q in ("p50", "p90", "p99"):
        x, y = getattr(d1, q), getattr(d2, q)
        if x is not None and y is not None:
            delta[q] = y - x
    return MetricChange(metric=name, baseline=d1, candidate=d2, delta=delta)


def sample_sentence(n1: int, n2: int) -> tuple[bool, str]:
    """Whether the sample is small, and what difference it could detect, in a sentence."""
    mdd = min_detectable_difference(n1, n2)
    small = mdd > SMALL_SAMPLE_DIFFERENCE
    head = f"{n1} vs {n2} traces"
    if n1 == 0 or n2 == 0:
        return True, f"{head}: one side is empty, nothing can be compared"
    points = round(mdd * 100)
    text = (
        f"{head}: a change of a rate near 50% smaller than {points} points is not distinguishable from noise "
        f"({round(POWER * 100)}% power, alpha {ALPHA}); rarer patterns have their own bound (detectable)"
    )
    if small:
        text = "small sample — " + text
    return small, text


def compare_sides(first: Side, second: Side, a: Analytics, b: Analytics) -> Comparison:
    """The comparison of two sides whose analytics are `a` and `b`."""
    n1, n2 = first.n_traces, second.n_traces
    small, sentence = sample_sentence(n1, n2)
    notes = [*first.notes, *second.notes] + [f"baseline: {n}" for n in a.notes] + [f"candidate: {n}" for n in b.notes]
    return Comparison(
        baseline=first.label, candidate=second.label, baseline_traces=n1, candidate_traces=n2,
        small_sample=small, sample=sentence, patterns=pattern_changes(a.patterns, b.patterns, n1, n2),
        success=_success(a, b, n1, n2),
        tools=_tools(a, b, n1, n2),
        runs=[_metric("latency_ms", first.runs.duration_ms, second.runs.duration_ms),
              _metric("tokens", first.runs.tokens, second.runs.tokens),
              _metric("cost", first.runs.cost, second.runs.cost)],
        notes=notes,
    )  # fmt: skip
