"""The report: what a diagnose run hands back, as data and as Markdown.

Findings are the product: each says what goes wrong, how often, where (cited
trace and span ids with a quote, each checked against the dataset), why we
think so and what to change in the agent's harness.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field, field_validator

from engine.agents.changes import Changes, changes_markdown
from engine.tools.render import pct

__all__ = [
    "CATEGORIES",
    "Category",
    "Impact",
    "Evidence",
    "CodeCitation",
    "Frequency",
    "SuggestedChange",
    "Finding",
    "RunFacts",
    "Report",
    "rank_findings",
    "render_markdown",
    "NO_MODEL_LABEL",
]

Category = Literal[
    "tool_error",
    "hallucinated_tool_call",
    "loop",
    "refusal",
    "bad_arguments",
    "context_overflow",
    "provider_error",
    "wrong_final_answer",
    "no_final_answer",
    "turn_limit",
    "instruction_violation",
    "latency",
    "cost",
    "data_quality",
    "other",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Impact = Literal["high", "medium", "low"]
IMPACT_RANK = {"high": 0, "medium": 1, "low": 2}
QUOTE_MAX_CHARS = 300


class Evidence(BaseModel):
    """One citation. `verified` is None until checked, then True or False (+ `problem`)."""

    trace_id: str
    span_id: str | None = None
    quote: str | None = Field(default=None, description="exact short text from the span, <= 300 chars")
    verified: bool | None = None
    problem: str | None = None

    @field_validator("quote")
    @classmethod
    def _short_quote(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value if value is None or len(value) <= QUOTE_MAX_CHARS else value[:QUOTE_MAX_CHARS]


class CodeCitation(BaseModel):
    """A line of the agent's own code a finding rests on (`path:line` and its text), at
    `revision` or in the working tree. Checked like evidence: `verified`, `problem`."""

    path: str
    line: int = Field(ge=1)
    quote: str = Field(description="the exact text of that line (or lines), <= 300 chars")
    revision: str | None = None
    verified: bool | None = None
    problem: str | None = None

    @field_validator("quote")
    @classmethod
    def _short_quote(cls, value: str) -> str:
        return value[:QUOTE_MAX_CHARS]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" + (f" at {self.revision}" if self.revision else "")


class Frequency(BaseModel):
    traces_affected: int = Field(ge=0)
    total_traces: int = Field(ge=0)

    @property
    def share(self) -> float:
        return self.traces_affected / self.total_traces if self.total_traces else 0.0

    def __str__(self) -> str:
        return f"{self.traces_affected}/{self.total_traces} traces ({pct(self.traces_affected, self.total_traces)})"


class SuggestedChange(BaseModel):
    target: Literal["prompt", "tool_description", "retry_logic", "config", "code"]
    change: str


class Finding(BaseModel):
    title: str
    category: Category = "other"
    impact: Impact = "medium"
    frequency: Frequency
    evidence: list[Evidence] = Field(default_factory=list)
    code: list[CodeCitation] = Field(default_factory=list)  # lines of the harness (diagnose --repo)
    detail: str | None = None
    hypothesis: str | None = None
    suggested_change: SuggestedChange | None = None
    source: Literal["model", "analytics"] = "model"

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: object) -> object:
        """Models write "Tool error" or "tool-error"; unknown categories become "other"."""
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            return key if key in CATEGORIES else "other"
        return value

    @field_validator("impact", mode="before")
    @classmethod
    def _known_impact(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def verified_evidence(self) -> list[Evidence]:
        return [e for e in self.evidence if e.verified]


class RunFacts(BaseModel):
    model_calls: int = 0
    abandoned_calls: int = 0  # requests given up on (timed out, or cut by the wall clock)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    turns: int = 0
    subagents: int = 0
    compactions: int = 0
    duration_s: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Report(BaseModel):
    run_id: str
    question: str
    dataset: str
    produced_by: Literal["model", "deterministic"]
    partial: bool = False
    partial_reason: str | None = None
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    citations_checked: int = 0
    citations_failed: int = 0
    facts: RunFacts = Field(default_factory=RunFacts)
    notes: list[str] = Field(default_factory=list)
    # With a baseline (diagnose --baseline): what changed, measured; the report leads with it.
    changes: Changes | None = None

    def to_markdown(self) -> str:
        return render_markdown(self)


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """Highest impact first, then most traces affected, then best supported."""
    return sorted(
        findings,
        key=lambda f: (IMPACT_RANK.get(f.impact, 3), -f.frequency.traces_affected, -len(f.verified_evidence)),
    )


_MARK = {True: "✓", False: "✗", None: "·"}
# The label of a report made without a model; a note saying the same is not repeated.
NO_MODEL_LABEL = "Produced without a model"


def render_markdown(report: Report) -> str:
    """The report as a person reads it: labels first, findings ranked, facts last."""
    out: list[str] = [f"# Diagnosis: {report.question}", ""]
    if report.produced_by == "deterministic":
        out += [
            f"> **{NO_MODEL_LABEL}** from the deterministic failure analytics: findings have "
            "frequencies and evidence but no root-cause hypotheses. Configure a model "
            "(`OPENAI_API_KEY`, or `OPENAI_BASE_URL` for vLLM/llama.cpp/Ollama, and `HALO_MODEL`) "
            "to run the full diagnosis engine.",
            "",
        ]
    if report.partial:
        out += [f"> **Partial report**: {report.partial_reason or 'the run ended early'}.", ""]
    out += [f"Dataset: `{report.dataset}` · run `{report.run_id}`", ""]
    if report.changes is not None:
        out += changes_markdown(report.changes)
    out += ["## Summary", "", report.summary, ""]
    out += ["## Findings", ""]
    if not report.findings:
        out += ["No findings.", ""]
    for n, finding in enumerate(report.findings, 1):
        out += _finding_markdown(n, finding)
    out += [
        "## Citations",
        "",
        f"{report.citations_checked} checked against the dataset"
        + (" and the repository" if any(f.code for f in report.findings) else "")
        + f", {report.citations_failed} failed"
        + (" (marked ✗ above)." if report.citations_failed else "."),
        "",
    ]
    out += _run_markdown(report)
    notes = [n for n in report.notes if not (report.produced_by == "deterministic" and n.startswith(NO_MODEL_LABEL))]
    if notes:
        out += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(out)


def _run_markdown(report: Report) -> list[str]:
    """The run's figures; a report made without a model has none but its duration."""
    f = report.facts
    if report.produced_by == "deterministic" and f.model_calls == 0 and f.abandoned_calls == 0:
        return ["## Run", "", f"No model was called: the analytics took {f.duration_s:.1f}s.", ""]
    cost = f"${f.cost:.4f}" if f.cost is not None else "unknown"
    return [
        "## Run",
        "",
        "| model calls | abandoned calls | input tokens | output tokens | cost | turns | subagents | compactions "
        "| duration |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {f.model_calls} | {f.abandoned_calls} | {f.input_tokens} | {f.output_tokens} | {cost} | {f.turns} "
        f"| {f.subagents} | {f.compactions} | {f.duration_s:.1f}s |",
        "",
    ]


def _finding_markdown(n: int, finding: Finding) -> list[str]:
    out = [
        f"### {n}. {finding.title}",
        "",
        f"**{finding.impact} impact** · {finding.category.replace('_', ' ')} · {finding.frequency}"
        + (" · from analytics" if finding.source == "analytics" else ""),
        "",
    ]
    if finding.detail:
        out += [finding.detail, ""]
    if finding.hypothesis:
        out += [f"**Root-cause hypothesis:** {finding.hypothesis}", ""]
    if finding.suggested_change:
        change = finding.suggested_change
        out += [f"**Suggested change ({change.target.replace('_', ' ')}):** {change.change}", ""]
    if finding.evidence:
        out += ["**Evidence:**", ""]
        for ev in finding.evidence:
            where = f"trace `{ev.trace_id}`" + (f" span `{ev.span_id}`" if ev.span_id else "")
            quote = f": “{_one_line(ev.quote)}”" if ev.quote else ""
            problem = f" (**not verified**: {ev.problem})" if ev.verified is False and ev.problem else ""
            out.append(f"- {_MARK[ev.verified]} {where}{quote}{problem}")
        out.append("")
    if finding.code:
        out += ["**Code:**", ""]
        for c in finding.code:
            problem = f" (**not verified**: {c.problem})" if c.verified is False and c.problem else ""
            out.append(f"- {_MARK[c.verified]} `{c.where}`: “{_one_line(c.quote)}”{problem}")
        out.append("")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())
