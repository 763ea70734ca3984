"""Refuse weak findings before they reach the report.

Small models fill the finding schema with what they see: a title that is a field
or schema name ("Category", "FindingArgs") or the question again, a frequency
larger than the dataset, evidence that is the same trace id twice. Citation
checks pass such findings (the ids exist), so they are judged here: each check
says what is wrong in a sentence the model can act on. Where the evidence cites
spans the analytics flagged, the stated frequency is compared with what the
analytics measured for the patterns those spans belong to.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.agents.deterministic import KIND_CATEGORY, pattern_spans
from engine.agents.report import CATEGORIES, Finding
from engine.agents.schemas import (
    CodeCitationArgs,
    EvidenceArgs,
    FinalReportArgs,
    FindingArgs,
    SubagentArgs,
    SubmitAnswerArgs,
)
from engine.tools.registry import REGISTRY

if TYPE_CHECKING:
    from engine.agents.state import Run
    from engine.traces.analytics import Analytics

__all__ = ["weak_reasons", "weak_findings", "ask_for_findings", "MAX_FINDING_CORRECTIONS", "schema_words"]

# Corrective turns an agent gets for weak findings; after them weak findings are dropped.
MAX_FINDING_CORRECTIONS = 1


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def schema_words(tool_names: frozenset[str] = frozenset()) -> frozenset[str]:
    """Names a finding's title must not be: the engine's schemas, their fields, the
    categories and impacts, the tools."""
    words: set[str] = set(tool_names) | set(CATEGORIES) | {"high", "medium", "low", "finding", "findings"}
    for model in (FindingArgs, EvidenceArgs, CodeCitationArgs, FinalReportArgs, SubagentArgs, SubmitAnswerArgs):
        words.add(model.__name__)
        words.update(model.model_fields)
    words.update({"Finding", "Evidence", "Frequency", "Category", "Impact", "SuggestedChange", "Report"})
    return frozenset(_key(w) for w in words)


def _frequency_reasons(finding: Finding, n_traces: int) -> list[str]:
    f = finding.frequency
    reasons = []
    if f.total_traces > n_traces:
        reasons.append(f"it counts {f.total_traces} traces in all, but the dataset has {n_traces}")
    if f.traces_affected > f.total_traces:
        reasons.append(f"it claims {f.traces_affected} affected traces out of {f.total_traces}")
    elif f.traces_affected > n_traces:
        reasons.append(f"it claims {f.traces_affected} affected traces, but the dataset has {n_traces}")
    return reasons


def _measured_reason(finding: Finding, analytics: Analytics | None) -> str | None:
    """The analytics' count when the evidence cites spans the analytics flagged and the
    finding claims more traces than the patterns those spans belong to cover together.

    A span belongs to a pattern when the pattern flagged it, as the decision span or as
    the tool or step span where the failure showed. One span is often in several
    patterns (a slow model call that also answered without a tool); the patterns of the
    finding's category are the failure mode it describes, so they are the measure when
    there are any, else all of them. Traces are counted once across patterns."""
    patterns: list[Any] = list(getattr(analytics, "patterns", None) or [])
    cited = {(e.trace_id, e.span_id) for e in finding.evidence if e.span_id}
    if not cited or not patterns:
        return None
    total = finding.frequency.total_traces
    matched = [p for p in patterns if p.total_traces == total and cited & pattern_spans(p)]
    same_kind = [p for p in matched if KIND_CATEGORY.get(p.kind) == finding.category]
    matched = same_kind or matched
    if not matched:
        return None
    measured = len({trace for p in matched for trace, _ in pattern_spans(p)})
    if finding.frequency.traces_affected <= measured:
        return None
    named = "; ".join(f"{p.title!r} in {p.traces_affected}/{p.total_traces} traces" for p in matched[:3])
    return (
        f"it claims {finding.frequency.traces_affected}/{total} traces, but the analytics measure the "
        f"pattern(s) its evidence belongs to as {named} ({measured} trace(s) together): measure the count "
        "with a tool or correct it"
    )


def weak_reasons(
    finding: Finding,
    *,
    n_traces: int,
    question: str,
    analytics: Analytics | None = None,
    tool_names: frozenset[str] = frozenset(),
) -> list[str]:
    """Why `finding` is too weak to report, as sentences; empty when it is fine."""
    reasons = _frequency_reasons(finding, n_traces)
    title = _key(finding.title)
    if not title or title in schema_words(tool_names):
        reasons.append(f"its title {finding.title!r} is a field or schema name, not a failure mode")
    elif title == _key(question):
        reasons.append("its title repeats the question instead of naming a failure mode")
    if finding.evidence and all(not e.span_id and not e.quote for e in finding.evidence):
        reasons.append("its evidence is only trace ids: cite the span id and an exact quote that shows the failure")
    if not reasons and (measured := _measured_reason(finding, analytics)):
        reasons.append(measured)
    return reasons


def weak_findings(run: Run, findings: list[Finding]) -> dict[str, list[str]]:
    """Title -> why the finding is too weak to report, for the weak ones."""
    weak = {}
    for finding in findings:
        reasons = weak_reasons(finding, n_traces=run.ds.n_traces, question=run.question,
                               analytics=run.analytics, tool_names=frozenset(REGISTRY))  # fmt: skip
        if reasons:
            weak[finding.title] = reasons
    return weak


def ask_for_findings(run: Run) -> str:
    measured = list(getattr(run.analytics, "patterns", None) or [])[:3]
    lines = ["error: your report has no findings. A report's findings are what its reader acts on."]
    if measured:
        lines.append("The analytics measured, for example:")
        lines += [f"- {p.title} ({p.traces_affected}/{p.total_traces} traces)" for p in measured]
    lines.append(
        "Record each failure mode you confirmed (record_finding, or findings in final_report), then call "
        "final_report again. Calling it again with none completes the report with the analytics' findings."
    )
    return "\n".join(lines)
