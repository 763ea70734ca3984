"""What a run reports while it works: typed events, one union discriminated by `type`.

Every event says which agent it comes from (`agent`: "root", "root.1",
"root.1.2"...), at what depth, and when (`t`: seconds since the run started).
The same events are streamed to the caller and appended to the run's
events.jsonl, so a later session can replay what happened.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from engine.agents.report import Report

__all__ = [
    "EventBase",
    "RunStarted",
    "AgentMessage",
    "ToolCall",
    "ToolResultEvent",
    "SubagentStarted",
    "SubagentFinished",
    "Progress",
    "Compaction",
    "Retry",
    "ReportEvent",
    "ErrorEvent",
    "Event",
    "EVENT_ADAPTER",
    "PREVIEW_CHARS",
    "preview",
]

# Long texts (tool results, answers) travel in events as a preview of this size.
PREVIEW_CHARS = 2_000


def preview(text: str, limit: int = PREVIEW_CHARS) -> tuple[str, bool]:
    """`text` cut to `limit` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


class EventBase(BaseModel):
    run_id: str
    agent: str = "root"
    depth: int = 0
    t: float = 0.0


class RunStarted(EventBase):
    type: Literal["run_started"] = "run_started"
    question: str
    dataset: str
    mode: Literal["model", "deterministic"]
    model: str | None = None
    run_dir: str | None = None


class AgentMessage(EventBase):
    """A model turn: its text (if any) and the names of the tools it called."""

    type: Literal["agent_message"] = "agent_message"
    turn: int
    turns_left: int
    content: str | None = None
    tool_calls: list[str] = Field(default_factory=list)


class ToolCall(EventBase):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    arguments: dict[str, Any] | str  # str: arguments that were not valid JSON


class ToolResultEvent(EventBase):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    ok: bool  # False: an error or a corrective message went back to the model
    text: str  # preview
    chars: int
    truncated: bool = False
    ref: str | None = None  # handle for `recall` once compacted


class SubagentStarted(EventBase):
    type: Literal["subagent_started"] = "subagent_started"
    child: str
    task: str


class SubagentFinished(EventBase):
    type: Literal["subagent_finished"] = "subagent_finished"
    child: str
    ok: bool
    turns: int
    answer: str  # preview
    reason: str | None = None  # why it ended without an answer


class Progress(EventBase):
    type: Literal["progress"] = "progress"
    turns: int
    model_calls: int
    subagents: int
    findings: int
    tokens: int
    elapsed_s: float


class Compaction(EventBase):
    type: Literal["compaction"] = "compaction"
    refs: list[str]
    chars_before: int
    chars_after: int
    by_model: bool  # False: the compaction model failed and results were cut instead


class Retry(EventBase):
    """A model call failed and is retried after `wait_s`."""

    type: Literal["retry"] = "retry"
    attempt: int
    wait_s: float
    reason: str


class ReportEvent(EventBase):
    type: Literal["report"] = "report"
    report: Report


class ErrorEvent(EventBase):
    """Something went wrong. `fatal`: the run ended because of it."""

    type: Literal["error"] = "error"
    message: str
    fatal: bool = False


Event = Annotated[
    RunStarted
    | AgentMessage
    | ToolCall
    | ToolResultEvent
    | SubagentStarted
    | SubagentFinished
    | Progress
    | Compaction
    | Retry
    | ReportEvent
    | ErrorEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
