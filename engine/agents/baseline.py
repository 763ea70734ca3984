"""Diagnose against a baseline: "what changed between these two runs of my agent?"

`diagnose CANDIDATE --baseline BASELINE` measures both datasets with
`engine.compare` before any agent starts (`measure`), so the report leads with
what changed (`changes.Changes`): patterns new, worse, resolved or better by a
count test, how many stayed within noise, and what the sample can show.

Without a model, the deterministic findings (the candidate's patterns) are
ranked by the change of the patterns they merge: new and worse first, each
saying its rate on both sides (`rank_by_change`). With a model, the root agent
is told about the baseline and given the comparison (`baseline_briefing`); its
agents open the baseline by name with every trace tool and `compare`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.agents.changes import CHANGED_VERDICTS, Changes, rate_text
from engine.agents.deterministic import merge_patterns
from engine.agents.report import Finding
from engine.compare import Comparison, PatternChange, compare_datasets
from engine.compare.changes import pattern_key

if TYPE_CHECKING:
    from engine.traces.analytics import Analytics
    from engine.traces.dataset import Dataset

__all__ = ["MAX_CHANGES", "measure", "changes_of", "rank_by_change", "baseline_briefing"]

# Patterns that moved listed in a report's "What changed" (the rest are counted; `compare` lists all).
MAX_CHANGES = 12
_RANK = {v: i for i, v in enumerate(CHANGED_VERDICTS)}


def measure(baseline: Dataset, candidate: Dataset, baseline_label: str, candidate_label: str) -> Comparison:
    """The comparison a baseline run is built on (blocking: run it in a thread)."""
    return compare_datasets(baseline, candidate, baseline_label=baseline_label, candidate_label=candidate_label)


def changes_of(comparison: Comparison) -> Changes:
    """The report's section: moved patterns, regressions first, at most MAX_CHANGES."""
    from engine.tools.compare import TESTS_NOTE

    counts: dict[str, int] = {}
    for p in comparison.patterns:
        counts[p.verdict] = counts.get(p.verdict, 0) + 1
    moved = sorted(
        (p for p in comparison.patterns if p.verdict != "unchanged"),
        key=lambda p: (_RANK[p.verdict], -abs(p.difference)),
    )
    return Changes(
        baseline=comparison.baseline, candidate=comparison.candidate,
        baseline_traces=comparison.baseline_traces, candidate_traces=comparison.candidate_traces,
        small_sample=comparison.small_sample, sample=comparison.sample, counts=counts,
        patterns=moved[:MAX_CHANGES], left_out=max(0, len(moved) - MAX_CHANGES),
        success=dict(comparison.success), tests=TESTS_NOTE, notes=list(comparison.notes),
    )  # fmt: skip


def _change_of(group_keys: list[tuple[str, str]], by_key: dict[tuple[str, str], PatternChange]) -> PatternChange | None:
    """The most telling change among a finding's patterns: a moved one before an unchanged one."""
    found = [by_key[k] for k in group_keys if k in by_key]
    return min(found, key=lambda p: _RANK.get(p.verdict, len(_RANK)), default=None)


def rank_by_change(findings: list[Finding], analytics: Analytics, comparison: Comparison) -> list[Finding]:
    """The deterministic findings (in `merge_patterns` order) with their change against the
    baseline said first in their detail, new and worse ones ranked first, the rest in order."""
    by_key = {pattern_key_of(p): p for p in comparison.patterns}
    groups = merge_patterns(analytics.patterns)[: len(findings)]
    annotated: list[tuple[int, int, Finding]] = []
    for i, (finding, group) in enumerate(zip(findings, groups, strict=False)):
        change = _change_of([pattern_key(p) for p in group], by_key)
        rank = 1
        if change is not None:
            said = f"Against the baseline: {change.verdict.upper()}, {rate_text(change)}."
            if change.verdict == "unchanged":
                said = f"Against the baseline: unchanged within noise, {rate_text(change)}."
            finding = finding.model_copy(update={"detail": f"{said} {finding.detail or ''}".strip()})
            rank = 0 if change.verdict in ("new", "worse") else 1
        annotated.append((rank, i, finding))
    return [f for _, _, f in sorted(annotated, key=lambda t: (t[0], t[1]))]


def pattern_key_of(change: PatternChange) -> tuple[str, str]:
    """`pattern_key` of a compared pattern (the same rule, on its kind, title and subject)."""
    if change.kind == "error_signature" or not change.subject:
        return change.kind, change.title
    return change.kind, change.subject


def baseline_briefing(changes: Changes, comparison_text: str) -> str:
    """What the root agent reads about the baseline: how to reach it, and the comparison."""
    from engine.agents.prompts import prompt

    return prompt(
        "baseline_task", baseline=changes.baseline, candidate=changes.candidate,
        baseline_traces=changes.baseline_traces, candidate_traces=changes.candidate_traces,
        comparison=comparison_text,
    )  # fmt: skip
