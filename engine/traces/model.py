"""The canonical span: what every trace shape is read into.

Readers keep the span's original JSON untouched in `raw` and add the normalised
fields that the index stores as columns. Everything downstream (index, store,
analytics, tools, sandbox) sees only this shape, never the file formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["SpanKind", "SpanStatus", "Span", "Malformed"]


class SpanKind(IntEnum):
    """What a span does in an agent run. Stored as int8 in the index."""

    OTHER = 0
    AGENT = 1
    LLM = 2
    TOOL = 3
    CHAIN = 4
    RETRIEVER = 5
    EMBEDDING = 6
    GUARDRAIL = 7

    @classmethod
    def parse(cls, text: str) -> SpanKind:
        """`"llm"`, `"LLM"` and `"Llm"` all give `SpanKind.LLM`; unknown text is OTHER."""
        return cls.__members__.get(text.strip().upper(), cls.OTHER)


class SpanStatus(IntEnum):
    """OTel status code, folded across shapes. Stored as int8 in the index."""

    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(slots=True)
class Span:
    """One span, normalised. Ids are lower-case hex where the source allows it.

    `raw` is the span's own JSON object as bytes, attributes untouched (for a
    nested shape: the span without its `child_spans`). `line` is the 1-based line
    of the file where the span's record starts, for error messages and citations.
    Token counts are what this span itself reports; rollup (no double counting of
    agent totals) is the index's job.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: SpanKind
    status: SpanStatus
    status_message: str
    start_ns: int
    end_ns: int
    service: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    tool_name: str | None
    tool_args: str | None
    agent_name: str | None
    raw: bytes
    line: int
    # Derived at read time so analytics never reparse raw JSON:
    # an error text found in a tool's output while its OTel status says ok,
    output_error: str | None = None
    # tool names offered to the model on an LLM span (llm.tools, gen_ai tool defs),
    offered_tools: tuple[str, ...] = ()
    # tool names the model asked to call in its output on an LLM span,
    requested_tools: tuple[str, ...] = ()
    # whether an LLM span's output reads as a refusal ("I can't help with that"),
    refusal: bool = False
    # exception events: "Type: message" of the first one, if any.
    exception: str | None = None


@dataclass(slots=True)
class Malformed:
    """A record that could not be read: kept as a count and a file:line sample."""

    path: str
    line: int
    reason: str
    sample: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"
