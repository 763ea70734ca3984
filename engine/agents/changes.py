"""What changed against a baseline, as the report carries it and leads with it.

A report of `diagnose CANDIDATE --baseline BASELINE` holds a `Changes`: the
patterns whose rate moved (new, worse, resolved, better, each with both sides'
counts, the difference's 95% interval and the count test that decided it), how
many stayed within noise, the success proxies, and the sentence saying what the
sample sizes can show at all. It is measured by `engine.compare`, never by a
model, and rendered before the findings. Built by `engine.agents.baseline`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from engine.compare.changes import PatternChange, RateChange
from engine.tools.render import pct

__all__ = ["Changes", "CHANGED_VERDICTS", "changes_markdown", "changes_sentence", "changes_counts", "rate_text"]

# Verdicts that mean "this moved", in the order a report lists them: regressions first.
CHANGED_VERDICTS = ("new", "worse", "resolved", "better")


class Changes(BaseModel):
    """The measured difference between the baseline and the candidate (the run's dataset)."""

    baseline: str
    candidate: str
    baseline_traces: int
    candidate_traces: int
    small_sample: bool
    sample: str = Field(description="what these sample sizes can and cannot show")
    counts: dict[str, int] = Field(default_factory=dict, description="patterns per verdict, unchanged included")
    patterns: list[PatternChange] = Field(default_factory=list, description="patterns that moved, regressions first")
    left_out: int = Field(default=0, description="patterns that moved but are not listed (MAX_CHANGES)")
    success: dict[str, RateChange] = Field(default_factory=dict, description="final answer reached, turn limit hit")
    tests: str = ""
    notes: list[str] = Field(default_factory=list)

    @property
    def regressions(self) -> list[PatternChange]:
        return [p for p in self.patterns if p.verdict in ("new", "worse")]


def rate_text(c: RateChange) -> str:
    """`12/60 (20%) → 0/60 (0%), -20.0 pts [-31.8, -9.9], z-test p=0.00026`."""
    test = "Fisher" if c.test == "fisher_exact" else "z-test"
    return (
        f"{c.baseline}/{c.baseline_total} ({pct(c.baseline, c.baseline_total)}) → "
        f"{c.candidate}/{c.candidate_total} ({pct(c.candidate, c.candidate_total)}), "
        f"{c.difference * 100:+.1f} pts [{c.low * 100:+.1f}, {c.high * 100:+.1f}], {test} p={c.p_value:.2g}"
    )


def changes_sentence(changes: Changes) -> str:
    """One paragraph for the top of the summary: counts per verdict and the sample's bound."""
    n = changes.counts
    moved = ", ".join(f"{n.get(v, 0)} {v}" for v in CHANGED_VERDICTS)
    head = (
        f"Against the baseline {changes.baseline} ({changes.baseline_traces} traces), the candidate "
        f"{changes.candidate} ({changes.candidate_traces} traces) has {moved} failure pattern(s), and "
        f"{n.get('unchanged', 0)} not distinguishable from noise."
    )
    return f"{head} {changes.sample[:1].upper()}{changes.sample[1:]}."


def changes_counts(changes: Changes) -> str:
    """`0 new, 1 worse, 2 resolved, 0 better, 3 within noise`: the summary's first line."""
    n = changes.counts
    moved = ", ".join(f"{n.get(v, 0)} {v}" for v in CHANGED_VERDICTS)
    small = " (small sample)" if changes.small_sample else ""
    return f"Against the baseline {changes.baseline}: {moved}, {n.get('unchanged', 0)} within noise{small}."


def changes_markdown(changes: Changes) -> list[str]:
    """The report's "What changed" section."""
    out = ["## What changed", "", changes_sentence(changes), ""]
    for p in changes.patterns:
        out.append(f"- **{p.verdict.upper()}** [{p.kind}] {p.title}: {rate_text(p)}")
    if changes.left_out:
        out.append(f"- {changes.left_out} more patterns moved; `compare` lists them all")
    unchanged = changes.counts.get("unchanged", 0)
    if unchanged:
        out.append(f"- {unchanged} pattern(s) unchanged within noise (`compare` shows each with its detectable bound)")
    if not changes.patterns and not unchanged:
        out.append("- no failure pattern on either side")
    for name, label in (("final_answer", "final answer reached"), ("turn_limit", "turn limit hit")):
        rate = changes.success.get(name)
        if rate is not None and rate.verdict != "unchanged":
            out.append(f"- {label} **{rate.verdict}**: {rate_text(rate)}")
    out.append("")
    if changes.tests:
        out += [f"_{changes.tests}._", ""]
    return out
