"""Function-tool definitions for Chat Completions, and the engine's own tools' arguments.

The engine-internal tools (`call_subagent`, `record_finding`, `final_report`,
`submit_answer`, `recall`) are not in the tool registry: they act on the run
itself, not on the dataset, and no MCP client may call them.
Schemas are sent with `$ref`s inlined, since several OpenAI-compatible servers
(llama.cpp's grammar, some Ollama models) do not resolve them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.agents.report import CATEGORIES, CodeCitation, Evidence, Finding, Frequency, SuggestedChange

__all__ = [
    "function_tool",
    "inline_refs",
    "without_code_citations",
    "EvidenceArgs",
    "CodeCitationArgs",
    "FindingArgs",
    "FinalReportArgs",
    "SubagentArgs",
    "SubmitAnswerArgs",
    "RecallArgs",
]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `{"$ref": "#/$defs/X"}` replaced by X (models here are not recursive)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = walk(defs[ref.removeprefix("#/$defs/")])
                rest = {k: walk(v) for k, v in node.items() if k != "$ref"}
                return {**target, **rest}
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def without_code_citations(node: Any) -> Any:
    """A tool definition without findings' `code` citations (offered only when the run has a
    repository; a finding is the object whose properties hold `evidence`)."""
    if isinstance(node, list):
        return [without_code_citations(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: without_code_citations(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict) and "evidence" in props and "code" in props:
        out["properties"] = {k: v for k, v in props.items() if k != "code"}
    return out


def function_tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    params = inline_refs(parameters)
    params.pop("title", None)
    return {"type": "function", "function": {"name": name, "description": description, "parameters": params}}


class EvidenceArgs(BaseModel):
    trace_id: str = Field(description="a trace id seen in a tool result")
    span_id: str | None = Field(default=None, description="a span id of that trace, seen in a tool result")
    quote: str | None = Field(
        default=None, description="short exact text copied from that span (<= 200 chars); '...' marks a gap"
    )

    def to_evidence(self) -> Evidence:
        return Evidence(trace_id=self.trace_id, span_id=self.span_id, quote=self.quote)


class CodeCitationArgs(BaseModel):
    path: str = Field(description="file of the agent's repository, relative to its root (as list_files shows)")
    line: int = Field(ge=1, description="the line number read_file showed")
    quote: str = Field(description="the exact text of that line, copied (<= 200 chars)")
    revision: str | None = Field(default=None, description="the commit it was read at; omit for the working tree")

    def to_citation(self) -> CodeCitation:
        return CodeCitation(path=self.path, line=self.line, quote=self.quote, revision=self.revision)


class FindingArgs(BaseModel):
    title: str = Field(description="the failure mode in one line")
    category: str = Field(description="one of: " + ", ".join(CATEGORIES))
    impact: str = Field(description="high, medium or low")
    traces_affected: int = Field(ge=0, description="how many traces show it (measured, not guessed)")
    total_traces: int = Field(ge=0, description="traces in the dataset (or in the measured population)")
    evidence: list[EvidenceArgs] = Field(description="1-5 citations: trace id, span id, quote")
    hypothesis: str | None = Field(default=None, description="the root cause you believe, and why")
    change_target: str | None = Field(
        default=None, description="where to fix it: prompt, tool_description, retry_logic, config or code"
    )
    change: str | None = Field(default=None, description="the concrete change to the agent's harness")
    code: list[CodeCitationArgs] = Field(
        default_factory=list,
        description="when the agent's repository is available: the lines to change (path, line, exact quote)",
    )

    def to_finding(self) -> Finding:
        change = None
        if self.change:
            target = (self.change_target or "prompt").strip().lower().replace(" ", "_")
            valid = ("prompt", "tool_description", "retry_logic", "config", "code")
            change = SuggestedChange.model_validate(
                {"target": target if target in valid else "code", "change": self.change}
            )
        return Finding.model_validate(
            {
                "title": self.title,
                "category": self.category,
                "impact": self.impact,
                "frequency": Frequency(traces_affected=self.traces_affected, total_traces=self.total_traces),
                "evidence": [e.to_evidence() for e in self.evidence],
                "code": [c.to_citation() for c in self.code],
                "hypothesis": self.hypothesis,
                "suggested_change": change,
                "source": "model",
            }
        )


class FinalReportArgs(BaseModel):
    summary: str = Field(description="what is going wrong overall and what to change first, 3-8 sentences")
    findings: list[FindingArgs] = Field(
        default_factory=list,
        description="findings not yet recorded with record_finding (recorded ones are included already)",
    )


class SubagentArgs(BaseModel):
    task: str = Field(description="one focused, self-contained question, with the ids or filters to start from")


class SubmitAnswerArgs(BaseModel):
    answer: str = Field(description="concise answer to your task, with numbers")
    evidence: list[EvidenceArgs] = Field(default_factory=list, description="the ids (and quotes) you relied on")


class RecallArgs(BaseModel):
    ref: str = Field(description="the reference of a compacted tool result, like r12")
