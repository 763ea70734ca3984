"""The report without a model: the failure analytics, said as root-cause findings.

This is what a fresh install shows first, and what a run that ran out of budget
falls back on. Patterns that flag the same spans (one failure seen by several
detectors, or one error recorded at several nesting levels) become one finding,
ranked by traces affected x severity; each names its failure class, the decision
point (the model call to blame), the harness surface to change and the change that
surface takes, its frequency, and quoted evidence on the decision span and on the
tool or step span. It claims only what was measured: no hypothesis field is filled.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import TYPE_CHECKING

from engine.agents.citations import verify_report
from engine.agents.report import Evidence, Finding, Frequency, Report, RunFacts, SuggestedChange
from engine.traces.analytics import FAILURE_CLASSES, NOISE_KINDS, SEVERITY

if TYPE_CHECKING:
    from engine.traces.analytics import Analytics, Pattern
    from engine.traces.dataset import Dataset

__all__ = [
    "deterministic_findings",
    "deterministic_report",
    "merge_patterns",
    "same_failure",
    "pattern_spans",
    "KIND_CATEGORY",
    "llm_span_names",
    "ENABLE_MODEL_NOTE",
    "MAX_FINDINGS",
]

MAX_FINDINGS = 12
# Decision-span evidence plus the tool or step span it showed on, per finding.
EVIDENCE_PER_FINDING = 4
ENABLE_MODEL_NOTE = (
    "Produced without a model. To run the full diagnosis engine (root-cause hypotheses, suggested "
    "harness changes, subagents), set OPENAI_API_KEY for OpenAI or OpenRouter, or OPENAI_BASE_URL "
    "for vLLM, llama.cpp or Ollama, and HALO_MODEL to choose the model."
)

# The finding category of each pattern kind (error signatures are judged by their text).
KIND_CATEGORY = {
    "failed_action": "tool_error",
    "tool_errors": "tool_error",
    "hidden_tool_error": "tool_error",
    "unparseable_output": "instruction_violation",
    "bad_tool_arguments": "bad_arguments",
    "unoffered_tool_call": "hallucinated_tool_call",
    "unsupported_answer": "wrong_final_answer",
    "repeated_action": "loop",
    "turn_limit": "turn_limit",
    "unusable_observation": "data_quality",
    "no_final_answer": "no_final_answer",
    "refusal": "refusal",
    "latency_outlier": "latency",
    "token_outlier": "cost",
}
# When patterns on the same spans merge, the first kind here names the finding: the
# most specific diagnosis (a call to an unoffered tool also fails, and also errs).
_SPECIFIC_FIRST = (
    "unparseable_output",
    "bad_tool_arguments",
    "unoffered_tool_call",
    "unsupported_answer",
    "repeated_action",
    "turn_limit",
    "unusable_observation",
    "refusal",
    "failed_action",
    "no_final_answer",
    "error_signature",
    "hidden_tool_error",
    "tool_errors",
    "latency_outlier",
    "token_outlier",
)
# What changes at each harness surface, said for the finding's suggested change.
_TARGET = {
    "system prompt": "prompt",
    "tool description or schema": "tool_description",
    "tool implementation": "code",
    "output parser": "code",
    "retry or step limits": "retry_logic",
    "model provider": "retry_logic",
}
_CHANGE = {
    1: "make the failing tool return a usable result or a clear error the model can act on, and tell the model "
       "how to recover from it",
    2: "state the expected output format in the prompt with an example, or make the output parser accept the "
       "formats the model writes",
    3: "fix the tool's description and schema so the model passes the arguments it accepts",
    4: "require the model to use its tools before answering and to cite what they returned",
    5: "tell the model to change its approach after a failure instead of repeating it, and cap identical calls",
    6: "clean, bound or paginate the tool's output before the model reads it",
    7: "handle this error where it starts (retry with backoff, or fix its cause) instead of letting it propagate",
    8: "look at what makes these spans slow or large; they are outliers above an absolute floor",
}  # fmt: skip
# Two patterns are one failure when more than this share of the smaller one's flagged
# spans (decision and context spans) are the other's too, and their span counts are
# within this ratio of each other.
MERGE_MIN_SHARED = 0.5
MERGE_MIN_SIZE_RATIO = 0.5
# Impact from severity x share of traces: at or above HIGH is high, at or above MEDIUM medium.
IMPACT_HIGH = 0.5
IMPACT_MEDIUM = 0.1

_PROVIDER_ERROR = re.compile(
    r"rate[ _-]?limit|too many requests|\b429\b|quota|overloaded|insufficient_quota|provider", re.I
)
_CONTEXT_ERROR = re.compile(r"context (length|window)|maximum context|too many tokens|token limit", re.I)


def _category(pattern: Pattern, tools: set[str], llm_names: Set[str]) -> str:
    if pattern.kind in KIND_CATEGORY:
        return KIND_CATEGORY[pattern.kind]
    text = f"{pattern.title} {pattern.detail}"
    if _CONTEXT_ERROR.search(text):
        return "context_overflow"
    if pattern.surface == "model provider" or pattern.subject in llm_names or _PROVIDER_ERROR.search(text):
        return "provider_error"
    if pattern.subject in tools or pattern.surface == "tool implementation":
        return "tool_error"
    return "other"


def _impact(pattern: Pattern, severity: float) -> str:
    if pattern.kind in NOISE_KINDS:
        return "low"
    share = pattern.traces_affected / pattern.total_traces if pattern.total_traces else 0.0
    weight = share * severity / 3.0 * 2.0
    if weight >= IMPACT_HIGH:
        return "high"
    return "medium" if weight >= IMPACT_MEDIUM else "low"


def pattern_spans(pattern: Pattern) -> set[tuple[str, str]]:
    """(trace id, span id) of every span the pattern flagged, decision and context spans
    alike; its examples when it carries no flags (an estimate)."""
    if pattern.flagged:
        keys = {(f.trace_id, f.span_id) for f in pattern.flagged}
        return keys | {(f.trace_id, f.context_span_id) for f in pattern.flagged if f.context_span_id}
    return {(e.trace_id, e.span_id) for e in pattern.examples}


def same_failure(a: Pattern, b: Pattern) -> bool:
    """Whether two patterns describe mostly the same spans (an outlier never merges with a failure).

    Judged by every flagged span (decision and context) when the patterns carry them,
    else by their examples (an estimate): most of the smaller set is shared, and the
    span counts are of the same order (a rare signature is not swallowed by a tool's
    many errors).
    """
    a_spans, b_spans = pattern_spans(a), pattern_spans(b)
    if not a_spans or not b_spans or (a.kind in NOISE_KINDS) != (b.kind in NOISE_KINDS):
        return False  # a slow or large span is its own finding, not part of a failure on it
    shared = len(a_spans & b_spans)
    sizes = sorted((max(a.spans_affected, 1), max(b.spans_affected, 1)))
    return shared > MERGE_MIN_SHARED * min(len(a_spans), len(b_spans)) and sizes[0] >= MERGE_MIN_SIZE_RATIO * sizes[1]


def merge_patterns(patterns: list[Pattern]) -> list[list[Pattern]]:
    """Patterns grouped by `same_failure` (across classes and nesting levels), each
    group's most specific pattern first (it names the finding), groups ranked by traces
    affected x severity, cost and speed outliers last."""
    groups: list[list[Pattern]] = []
    for pattern in patterns:
        home = next((g for g in groups if any(same_failure(pattern, other) for other in g)), None)
        if home is None:
            groups.append([pattern])
        else:
            home.append(pattern)
    rank = {kind: i for i, kind in enumerate(_SPECIFIC_FIRST)}
    ordered = [sorted(g, key=lambda p: rank.get(p.kind, len(rank))) for g in groups]
    return sorted(ordered, key=lambda g: (_noise(g), -_score(g)))


def _noise(group: list[Pattern]) -> bool:
    return all(p.kind in NOISE_KINDS for p in group)


def _score(group: list[Pattern]) -> float:
    return max(p.traces_affected for p in group) * max(SEVERITY[p.kind] for p in group)


def _evidence(group: list[Pattern]) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[tuple[str, str]] = set()
    for example in (e for p in group for e in p.examples):
        places = [(example.span_id, example.quote)]
        if example.context_span_id:
            places.append((example.context_span_id, example.context_quote))
        for span_id, quote in places:
            if len(out) < EVIDENCE_PER_FINDING and (example.trace_id, span_id) not in seen:
                seen.add((example.trace_id, span_id))
                out.append(Evidence(trace_id=example.trace_id, span_id=span_id, quote=quote))
    return out


def _finding(group: list[Pattern], tools: set[str], llm_names: Set[str]) -> Finding:
    lead, others = group[0], group[1:]
    widest = max(group, key=lambda p: p.traces_affected)
    number = lead.failure_class
    surface = lead.surface or next((p.surface for p in others if p.surface), None)
    parts = [f"Class {number}: {FAILURE_CLASSES[number]}."]
    if lead.decision:
        parts.append(f"Decision point: {lead.decision}" + (f", about {lead.subject}." if lead.subject else "."))
    if surface:
        parts.append(f"Harness surface to change: {surface}.")
    n_spans = max(p.spans_affected for p in group)
    parts.append(f"Frequency: {widest.traces_affected}/{widest.total_traces} traces, {n_spans} flagged spans.")
    if lead.detail:
        parts.append(lead.detail)
    if others:
        parts.append("Also measured on the same spans: " + "; ".join(f"[{o.kind}] {o.title}" for o in others))
    change = None
    if surface and number in _CHANGE:
        change = SuggestedChange(target=_TARGET[surface], change=f"{surface}: {_CHANGE[number]}")  # type: ignore[arg-type]
    return Finding(
        title=f"[class {number}] {lead.title}",
        category=_category(lead, tools, llm_names),  # type: ignore[arg-type]
        impact=_impact(widest, max(SEVERITY[p.kind] for p in group)),  # type: ignore[arg-type]
        # the widest member's count: a measured lower bound of the merged group's reach
        frequency=Frequency(traces_affected=widest.traces_affected, total_traces=widest.total_traces),
        evidence=_evidence(group),
        detail=" ".join(parts),
        suggested_change=change,
        source="analytics",
    )


def deterministic_findings(analytics: Analytics, *, llm_names: Set[str] = frozenset()) -> list[Finding]:
    """One finding per root cause (patterns on the same spans merged across classes and
    levels), ranked by traces affected x severity with outliers last, capped at
    MAX_FINDINGS. `llm_names`: span names of model calls, whose errors are provider errors."""
    tools = {t.tool for t in analytics.tools}
    groups = merge_patterns(analytics.patterns)[:MAX_FINDINGS]
    return [_finding(g, tools, llm_names) for g in groups]


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
