"""The measured-frequency check of `weak_reasons`: a finding may not claim more traces
than the analytics flagged for the patterns its cited spans belong to."""

from __future__ import annotations

from engine.agents.finding_checks import weak_reasons
from engine.agents.report import Evidence, Finding, Frequency
from engine.traces.analytics import Analytics, Flag, Pattern


def pattern(kind: str, flags: list[Flag], affected: int, total: int = 10) -> Pattern:
    # Examples left empty on purpose: the check must read every flagged span, not the capped examples.
    return Pattern(kind=kind, title=f"{kind} pattern", traces_affected=affected, total_traces=total,
                   spans_affected=len(flags), flagged=flags)  # fmt: skip


def claim(category: str, affected: int, span: str, trace: str = "t1", total: int = 10) -> Finding:
    return Finding(title="Tool calls fail and the model goes on", category=category,
                   frequency=Frequency(traces_affected=affected, total_traces=total),
                   evidence=[Evidence(trace_id=trace, span_id=span, quote="q")])  # fmt: skip


def reasons(finding: Finding, *patterns: Pattern) -> list[str]:
    analytics = Analytics(total_traces=10, total_spans=100, patterns=list(patterns))
    return weak_reasons(finding, n_traces=10, question="why?", analytics=analytics)


def test_a_cited_context_span_belongs_to_the_pattern_that_flagged_it() -> None:
    failed = pattern("failed_action", [Flag(trace_id="t1", span_id="llm1", context_span_id="tool1")], 1)
    assert any("in 1/10 traces" in r and "claims 4/10" in r for r in reasons(claim("tool_error", 4, "tool1"), failed))
    assert reasons(claim("tool_error", 1, "tool1"), failed) == []
    assert reasons(claim("tool_error", 4, "elsewhere"), failed) == []


def test_the_patterns_of_the_findings_category_are_its_measure_and_traces_count_once() -> None:
    span = Flag(trace_id="t1", span_id="llm1")
    slow = pattern("latency_outlier", [span], 1)
    broad = pattern("unsupported_answer", [span, *(Flag(trace_id=f"t{i}", span_id="s") for i in range(2, 9))], 8)
    assert any("'latency_outlier pattern' in 1/10" in r for r in reasons(claim("latency", 5, "llm1"), slow, broad))
    assert reasons(claim("wrong_final_answer", 5, "llm1"), slow, broad) == []
    # Of another category than any pattern: measured by all of them, each trace once (8, not 9).
    assert reasons(claim("other", 8, "llm1"), slow, broad) == []
    assert any("(8 trace(s) together)" in r for r in reasons(claim("other", 9, "llm1"), slow, broad))
