"""What the failure analytics report: pattern kinds, their classes and weights, and the models.

Apart from `analyze` (the package's `__init__`) so that the detectors, which
build these, and the orchestrator, which runs the detectors, import in one
direction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "PatternKind",
    "PATTERN_KINDS",
    "FAILURE_CLASSES",
    "CLASS_OF_KIND",
    "SEVERITY",
    "NOISE_KINDS",
    "Surface",
    "Flag",
    "PatternExample",
    "Pattern",
    "ToolStat",
    "Analytics",
]

PatternKind = Literal[
    "failed_action",
    "unparseable_output",
    "bad_tool_arguments",
    "unsupported_answer",
    "repeated_action",
    "unusable_observation",
    "error_signature",
    "tool_errors",
    "hidden_tool_error",
    "unoffered_tool_call",
    "turn_limit",
    "no_final_answer",
    "refusal",
    "latency_outlier",
    "token_outlier",
]
PATTERN_KINDS: tuple[str, ...] = PatternKind.__args__  # type: ignore[attr-defined]

# The failure classes of issue 11, by number; each pattern kind belongs to one.
FAILURE_CLASSES: dict[int, str] = {
    1: "failed action, next step must recover",
    2: "output the harness could not parse",
    3: "arguments that do not fit the offered tool",
    4: "answer without evidence",
    5: "repeated action or step-limit exhaustion",
    6: "unusable observation the model relied on",
    7: "error family",
    8: "outlier above an absolute floor",
}
CLASS_OF_KIND: dict[str, int] = {
    "failed_action": 1, "tool_errors": 1, "hidden_tool_error": 1,
    "unparseable_output": 2,
    "bad_tool_arguments": 3, "unoffered_tool_call": 3,
    "unsupported_answer": 4, "refusal": 4,
    "repeated_action": 5, "turn_limit": 5, "no_final_answer": 5,
    "unusable_observation": 6,
    "error_signature": 7,
    "latency_outlier": 8, "token_outlier": 8,
}  # fmt: skip
# How much one affected trace weighs when findings are ranked (traces affected x severity).
# Run-ending and decision failures weigh most; tool statistics and outliers are context.
SEVERITY: dict[str, float] = {
    "unsupported_answer": 3.0, "unparseable_output": 3.0, "bad_tool_arguments": 3.0,
    "unoffered_tool_call": 3.0, "turn_limit": 3.0, "no_final_answer": 3.0,
    "repeated_action": 2.5, "failed_action": 2.0, "unusable_observation": 2.0,
    "error_signature": 2.0, "refusal": 2.0,
    "tool_errors": 1.0, "hidden_tool_error": 1.0,
    "latency_outlier": 0.2, "token_outlier": 0.2,
}  # fmt: skip
# Kinds that describe cost or speed, not a failure: never ranked above a failure.
NOISE_KINDS = frozenset({"latency_outlier", "token_outlier"})

Surface = Literal[
    "system prompt", "tool description or schema", "tool implementation", "output parser",
    "retry or step limits", "model provider",
]


class Flag(BaseModel):
    """One flagged place: the decision span (the model call to blame), and the tool or
    step span where the failure showed, when that is another span."""

    trace_id: str
    span_id: str
    context_span_id: str | None = None


class PatternExample(BaseModel):
    """One place a pattern shows: a span, and an exact substring of its raw JSON."""

    trace_id: str
    span_id: str
    quote: str | None = Field(
        default=None, description="exact substring of the span's raw JSON text (<= 300 chars)"
    )
    context_span_id: str | None = Field(default=None, description="the tool or step span where it showed")
    context_quote: str | None = Field(default=None, description="exact substring of the context span's raw JSON")


class Pattern(BaseModel):
    """A failure pattern with its measured frequency and examples."""

    kind: PatternKind
    title: str
    detail: str = ""
    subject: str | None = Field(
        default=None, description="the tool, span name or signature the pattern is about"
    )
    traces_affected: int
    total_traces: int
    spans_affected: int
    examples: list[PatternExample] = Field(default_factory=list)
    flagged: list[Flag] = Field(default_factory=list, description="every flagged span, no cap")
    decision: str | None = Field(
        default=None, description="the decision point: span name and model of the blamed model calls, or the tool"
    )
    surface: Surface | None = Field(default=None, description="the harness surface a fix changes")

    @property
    def frequency(self) -> float:
        return self.traces_affected / self.total_traces if self.total_traces else 0.0

    @property
    def failure_class(self) -> int:
        return CLASS_OF_KIND[self.kind]

    @property
    def score(self) -> float:
        """Traces affected times severity: the ranking key of patterns and findings."""
        return self.traces_affected * SEVERITY[self.kind]


class ToolStat(BaseModel):
    """How one tool was used across the dataset."""

    tool: str
    calls: int
    errors: int = Field(description="calls with OTel status ERROR or an exception event")
    hidden_errors: int = Field(description="calls whose output reads as an error while status is not ERROR")
    traces: int = Field(description="traces that call the tool")


class Analytics(BaseModel):
    """Everything `analyze` found, patterns ranked by traces affected."""

    total_traces: int
    total_spans: int
    patterns: list[Pattern] = Field(default_factory=list)
    tools: list[ToolStat] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def of_kind(self, kind: str) -> list[Pattern]:
        return [p for p in self.patterns if p.kind == kind]
