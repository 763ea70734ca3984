"""Check a saved diagnose finding against the candidate: does its evidence still occur?

A finding (`run_id` + its number in the report, 1-based) cites spans. Its
evidence pattern is every analytics pattern of the baseline whose flagged spans
include a cited span (a cited trace, when the evidence names no span); each is
measured on the candidate like any other pattern. Each quoted evidence text is
also counted as is: the traces with a span whose raw JSON contains the quote, on
either side. A finding "still occurs" when a matched pattern or a quote is found
on the candidate side at all, whatever the test says about its rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.compare.changes import FindingCheck, PatternChange, QuoteCheck, pattern_changes, rate_change
from engine.compare.sides import Side
from engine.errors import InvalidArgumentError
from engine.traces.analytics import Analytics, Pattern

if TYPE_CHECKING:
    from engine.agents.report import Finding, Report

__all__ = ["MAX_QUOTES", "FindingRef", "finding_ref", "check_finding"]

# Quoted evidence texts counted per finding (each is a scan of the raw spans of both sides).
MAX_QUOTES = 5


@dataclass(frozen=True)
class FindingRef:
    """Which finding: the saved run, its number in that report, and the finding itself."""

    run_id: str
    number: int
    finding: Finding
    dataset: str


def finding_ref(report: Report, number: int) -> FindingRef:
    """Finding `number` (1-based) of `report`, or a sentence naming the valid numbers."""
    if not 1 <= number <= len(report.findings):
        count = len(report.findings)
        valid = f"1-{count}" if count else "none: the report has no findings"
        raise InvalidArgumentError(f"run {report.run_id} has no finding {number}; its findings are {valid}")
    return FindingRef(report.run_id, number, report.findings[number - 1], report.dataset)


def _cited(p: Pattern, spans: set[tuple[str, str]], traces: set[str]) -> bool:
    for f in p.flagged:
        if (f.trace_id, f.span_id) in spans or (f.context_span_id and (f.trace_id, f.context_span_id) in spans):
            return True
        if f.trace_id in traces:
            return True
    return False


def _traces_quoting(side: Side, quote: str) -> int:
    needle = quote.encode("utf-8")
    data = side.data
    trace = data.trace
    found: set[int] = set()
    for i, blob in data.iter_raw(list(range(data.n_spans))):
        t = int(trace[i])
        if t not in found and needle in blob:
            found.add(t)
    return len(found)


def check_finding(ref: FindingRef, first: Side, second: Side, a: Analytics, b: Analytics) -> FindingCheck:
    """How often `ref`'s evidence pattern occurs on each side, with the same tests as `compare`."""
    evidence = ref.finding.evidence
    spans = {(e.trace_id, e.span_id) for e in evidence if e.span_id}
    traces = {e.trace_id for e in evidence if not e.span_id}
    matched = [p for p in a.patterns if _cited(p, spans, traces)]
    if not matched:  # a finding from analytics names its pattern's title even when its spans moved
        matched = [p for p in a.patterns if p.title == ref.finding.title]
    changes = pattern_changes(matched, [p for p in b.patterns], first.n_traces, second.n_traces, only_first=True)
    quotes = []
    for quote in list(dict.fromkeys(e.quote for e in evidence if e.quote))[:MAX_QUOTES]:
        k1, k2 = _traces_quoting(first, quote), _traces_quoting(second, quote)
        quotes.append(QuoteCheck(quote=quote, traces=rate_change(k1, first.n_traces, k2, second.n_traces)))
    still = any(c.candidate for c in changes) or any(q.traces.candidate for q in quotes)
    summary = _summary(ref, changes, quotes, still, second.n_traces)
    return FindingCheck(
        run_id=ref.run_id, finding=ref.number, title=ref.finding.title, still_occurs=still, summary=summary,
        patterns=changes, quotes=quotes,
    )  # fmt: skip


def _summary(ref: FindingRef, changes: list[PatternChange], quotes: list[QuoteCheck], still: bool, n: int) -> str:
    head = f"finding {ref.number} of run {ref.run_id} ({ref.finding.title!r})"
    if not changes and not quotes:
        return f"{head}: no analytics pattern holds its evidence and it quotes nothing, so it cannot be measured here"
    if not still:
        return f"{head}: its evidence pattern does not occur in the {n} candidate traces"
    worst = max((c.candidate for c in changes), default=0)
    worst = max([worst] + [q.traces.candidate for q in quotes])
    return f"{head}: still occurs, in up to {worst} of {n} candidate traces"
