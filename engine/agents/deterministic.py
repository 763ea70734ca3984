"""The report without a model: the failure analytics, said as findings.

This is what a fresh install shows first, and what a run that ran out of budget
falls back on. It claims only what was measured: each finding has its frequency
and evidence, and no root-cause hypothesis, since nothing here could back one.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import TYPE_CHECKING

from engine.agents.citations import verify_report
from engine.agents.report import Evidence, Finding, Frequency, Report, RunFacts, rank_findings

if TYPE_CHECKING:
    from engine.traces.analytics import Analytics, Pattern
    from engine.traces.dataset import Dataset

__all__ = [
    "deterministic_findings",
    "deterministic_report",
    "merge_patterns",
    "same_failure",
    "llm_span_names",
    "ENABLE_MODEL_NOTE",
    "MAX_FINDINGS",
]

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
# When patterns on the same spans merge, the first kind here names the finding: the
# most specific diagnosis (a call to an unoffered tool also fails, and also errs).
_SPECIFIC_FIRST = (
    "unoffered_tool_call",
    "loop",
    "turn_limit",
    "refusal",
    "hidden_tool_error",
    "tool_errors",
    "no_final_answer",
    "error_signature",
    "latency_outlier",
    "token_outlier",
)
# Two patterns are one failure when more than this share of the smaller one's examples
# are the other's too, and their span counts are within this ratio of each other.
MERGE_MIN_SHARED = 0.5
MERGE_MIN_SIZE_RATIO = 0.5

_CONTEXT_ERROR = re.compile(r"context (length|window)|maximum context|too many tokens|token limit", re.I)
_ARGUMENT_ERROR = re.compile(r"argument|parameter|validation|invalid input|missing required", re.I)
_PROVIDER_ERROR = re.compile(
    r"rate[ _-]?limit|too many requests|\b429\b|quota|overloaded|insufficient_quota", re.I
)


def _category(pattern: Pattern, tools: set[str], llm_names: Set[str]) -> str:
    if pattern.kind in _CATEGORY:
        return _CATEGORY[pattern.kind]
    text = f"{pattern.title} {pattern.detail}"
    if _CONTEXT_ERROR.search(text):
        return "context_overflow"
    # an error on a model call is the provider's answer: rate limit, overload, bad request
    if pattern.subject in llm_names:
        return "provider_error"
    if _ARGUMENT_ERROR.search(text):
        return "bad_arguments"
    # an error signature on a tool's spans (its subject is the tool) is a tool error
    if pattern.subject in tools or "tool" in text.lower():
        return "tool_error"
    if _PROVIDER_ERROR.search(text):
        return "provider_error"
    return "other"


def _impact(pattern: Pattern) -> str:
    share = pattern.traces_affected / pattern.total_traces if pattern.total_traces else 0.0
    if pattern.kind in ("latency_outlier", "token_outlier"):
        return "medium" if share >= 0.25 else "low"
    if share >= 0.25:
        return "high"
    return "medium" if share >= 0.05 else "low"


def _cited(pattern: Pattern) -> set[tuple[str, str]]:
    return {(e.trace_id, e.span_id) for e in pattern.examples}


def same_failure(a: Pattern, b: Pattern) -> bool:
    """Whether two patterns describe mostly the same spans, judged by their examples.

    The analytics keep a few example spans per pattern, not every span, so this is
    an estimate: most of the smaller example set is shared, and the span counts are
    of the same order (a rare signature is not swallowed by a tool's many errors).
    """
    a_spans, b_spans = _cited(a), _cited(b)
    if not a_spans or not b_spans:
        return False
    shared = len(a_spans & b_spans)
    sizes = sorted((max(a.spans_affected, 1), max(b.spans_affected, 1)))
    return shared > MERGE_MIN_SHARED * min(len(a_spans), len(b_spans)) and sizes[0] >= MERGE_MIN_SIZE_RATIO * sizes[1]


def merge_patterns(patterns: list[Pattern]) -> list[list[Pattern]]:
    """Patterns grouped by `same_failure`, in the analytics' order; each group's most
    specific pattern first (it names the finding)."""
    groups: list[list[Pattern]] = []
    for pattern in patterns:
        home = next((g for g in groups if any(same_failure(pattern, other) for other in g)), None)
        if home is None:
            groups.append([pattern])
        else:
            home.append(pattern)
    rank = {kind: i for i, kind in enumerate(_SPECIFIC_FIRST)}
    return [sorted(g, key=lambda p: rank.get(p.kind, len(rank))) for g in groups]


def _finding(group: list[Pattern], tools: set[str], llm_names: Set[str]) -> Finding:
    lead, others = group[0], group[1:]
    widest = max(group, key=lambda p: p.traces_affected)
    detail = lead.detail
    if others:
        also = "also measured on the same spans: " + "; ".join(other.title for other in others)
        detail = f"{detail} — {also}" if detail else also[0].upper() + also[1:]
    evidence: list[Evidence] = []
    for example in (e for p in group for e in p.examples):
        if len(evidence) == EVIDENCE_PER_FINDING:
            break
        if all((example.trace_id, example.span_id) != (e.trace_id, e.span_id) for e in evidence):
            evidence.append(Evidence(trace_id=example.trace_id, span_id=example.span_id, quote=example.quote))
    return Finding(
        title=lead.title,
        category=_category(lead, tools, llm_names),
        impact=_impact(widest),
        # the widest member's count: a measured lower bound of the merged group's reach
        frequency=Frequency(traces_affected=widest.traces_affected, total_traces=widest.total_traces),
        evidence=evidence,
        detail=detail or None,
        source="analytics",
    )


def deterministic_findings(analytics: Analytics, *, llm_names: Set[str] = frozenset()) -> list[Finding]:
    """One finding per failure (patterns on the same spans merged), the most widespread
    first, capped at MAX_FINDINGS. `llm_names`: span names of model calls, whose error
    signatures are provider errors."""
    tools = {t.tool for t in analytics.tools}
    groups = merge_patterns(analytics.patterns)[:MAX_FINDINGS]
    return rank_findings([_finding(g, tools, llm_names) for g in groups])


def llm_span_names(ds: Dataset) -> set[str]:
    """Names of the dataset's LLM spans (read from the index columns, no raw JSON)."""
    import numpy as np

    from engine.traces.model import SpanKind

    names = ds.spans.name
    codes = np.unique(np.asarray(names.codes)[np.asarray(ds.spans.kind) == int(SpanKind.LLM)])
    categories = names.categories
    return {categories[c] for c in codes.tolist() if c >= 0}


def _summary(question: str, analytics: Analytics, findings: list[Finding], groups: int) -> str:
    head = (
        f"Deterministic analysis of {analytics.total_traces} traces ({analytics.total_spans} spans) "
        f"for: {question}"
    )
    if not findings:
        return head + "\n\nThe failure analytics found no failure pattern in this dataset."
    top = "; ".join(f"{f.title} ({f.frequency})" for f in findings[:3])
    merged = (
        f", {groups} distinct failure(s) once patterns on the same spans are merged"
        if groups != len(analytics.patterns)
        else ""
    )
    return (
        f"{head}\n\nThe failure analytics found {len(analytics.patterns)} pattern(s){merged}. "
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
    findings = deterministic_findings(analytics, llm_names=llm_span_names(ds))
    groups = len(merge_patterns(analytics.patterns))
    notes = [ENABLE_MODEL_NOTE]
    if groups > MAX_FINDINGS:
        notes.append(f"{groups - MAX_FINDINGS} smaller failure patterns are not listed.")
    notes.extend(analytics.notes)
    report = Report(
        run_id=run_id,
        question=question,
        dataset=dataset_label,
        produced_by="deterministic",
        summary=_summary(question, analytics, findings, groups),
        findings=findings,
        facts=facts or RunFacts(),
        notes=notes,
    )
    return verify_report(report, ds)
