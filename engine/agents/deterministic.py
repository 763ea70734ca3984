"""The report without a model: the failure analytics, said as findings.

This is what a fresh install shows first, and what a run that ran out of budget
falls back on. It claims only what was measured: each finding has its frequency
and evidence, and no root-cause hypothesis, since nothing here could back one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from engine.agents.citations import verify_report
from engine.agents.report import Evidence, Finding, Frequency, Report, RunFacts, rank_findings

if TYPE_CHECKING:
    from engine.traces.analytics import Analytics, Pattern
    from engine.traces.dataset import Dataset

__all__ = ["deterministic_findings", "deterministic_report", "ENABLE_MODEL_NOTE", "MAX_FINDINGS"]

MAX_FINDINGS = 12
EVIDENCE_PER_FINDING = 3
ENABLE_MODEL_NOTE = (
    "Produced without a model. To run the full diagnosis engine (root-cause hypotheses, suggested "
    "harness changes, subagents), set OPENAI_API_KEY for OpenAI or OpenRouter, or OPENAI_BASE_URL "
    "for vLLM, llama.cpp or Ollama, and HALO_MODEL to choose the model."
)

_CATEGORY = {
    "tool_errors": "tool_error",
    "hidden_tool_error": "tool_error",
    "loop": "loop",
    "unoffered_tool_call": "hallucinated_tool_call",
    "turn_limit": "turn_limit",
    "no_final_answer": "no_final_answer",
    "refusal": "refusal",
    "latency_outlier": "latency",
    "token_outlier": "cost",
}
_CONTEXT_ERROR = re.compile(r"context (length|window)|maximum context|too many tokens|token limit", re.I)
_ARGUMENT_ERROR = re.compile(r"argument|parameter|validation|invalid input|missing required", re.I)


def _category(pattern: Pattern, tools: set[str]) -> str:
    if pattern.kind in _CATEGORY:
        return _CATEGORY[pattern.kind]
    text = f"{pattern.title} {pattern.detail}"
    if _CONTEXT_ERROR.search(text):
        return "context_overflow"
    if _ARGUMENT_ERROR.search(text):
        return "bad_arguments"
    # an error signature on a tool's spans (its subject is the tool) is a tool error
    if pattern.subject in tools or "tool" in text.lower():
        return "tool_error"
    return "other"


def _impact(pattern: Pattern) -> str:
    share = pattern.traces_affected / pattern.total_traces if pattern.total_traces else 0.0
    if pattern.kind in ("latency_outlier", "token_outlier"):
        return "medium" if share >= 0.25 else "low"
    if share >= 0.25:
        return "high"
    return "medium" if share >= 0.05 else "low"


def deterministic_findings(analytics: Analytics) -> list[Finding]:
    """One finding per analytics pattern (the most widespread first), capped at MAX_FINDINGS."""
    findings = []
    tools = {t.tool for t in analytics.tools}
    for pattern in analytics.patterns[:MAX_FINDINGS]:
        findings.append(
            Finding(
                title=pattern.title,
                category=_category(pattern, tools),
                impact=_impact(pattern),
                frequency=Frequency(traces_affected=pattern.traces_affected, total_traces=pattern.total_traces),
                evidence=[
                    Evidence(trace_id=e.trace_id, span_id=e.span_id, quote=e.quote)
                    for e in pattern.examples[:EVIDENCE_PER_FINDING]
                ],
                detail=pattern.detail or None,
                source="analytics",
            )
        )
    return rank_findings(findings)


def _summary(question: str, analytics: Analytics, findings: list[Finding]) -> str:
    head = (
        f"Deterministic analysis of {analytics.total_traces} traces ({analytics.total_spans} spans) "
        f"for: {question}"
    )
    if not findings:
        return head + "\n\nThe failure analytics found no failure pattern in this dataset."
    top = "; ".join(f"{f.title} ({f.frequency})" for f in findings[:3])
    return (
        f"{head}\n\nThe failure analytics found {len(analytics.patterns)} pattern(s). "
        f"Most consequential: {top}. These are measured frequencies with example spans; "
        "the causes behind them need the model-driven diagnosis."
    )


def deterministic_report(
    question: str,
    ds: Dataset,
    *,
    run_id: str,
    dataset_label: str,
    analytics: Analytics | None = None,
    facts: RunFacts | None = None,
) -> Report:
    """The full no-model report for `ds`, its citations checked like any other."""
    if analytics is None:
        from engine.traces.analytics import analyze

        analytics = analyze(ds)
    findings = deterministic_findings(analytics)
    notes = [ENABLE_MODEL_NOTE]
    if len(analytics.patterns) > MAX_FINDINGS:
        notes.append(f"{len(analytics.patterns) - MAX_FINDINGS} smaller patterns are not listed.")
    notes.extend(analytics.notes)
    report = Report(
        run_id=run_id,
        question=question,
        dataset=dataset_label,
        produced_by="deterministic",
        summary=_summary(question, analytics, findings),
        findings=findings,
        facts=facts or RunFacts(),
        notes=notes,
    )
    return verify_report(report, ds)
