"""The live state of one run, shared by all its agents.

One `Run` holds what every agent needs: the model client, the budgets and the
counters they draw down, the findings recorded so far, the per-depth
concurrency limiters, the store of full tool results (for `recall`) and the
event outlet. Agents never talk to each other except through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from engine.agents.config import DiagnoseConfig
from engine.agents.events import ErrorEvent, EventBase, Progress, Retry
from engine.agents.fitting import request_tokens
from engine.agents.report import Finding, RunFacts
from engine.agents.runs import RunProgress, RunStatus, RunStore
from engine.agents.telemetry import NO_TELEMETRY, Telemetry
from engine.llm import EndpointRefusal, chat, tool_choice_refused, usage_of
from engine.tools.context import ToolContext

if TYPE_CHECKING:
    from engine.repo import Repo
    from engine.traces.dataset import Dataset

__all__ = ["Run", "FinalDraft", "weaker_choice"]

log = logging.getLogger(__name__)

ToolChoice = str | dict[str, Any] | None
# The output cap takes at most this share of the context limit, and never less than this.
OUTPUT_SHARE = 0.25
MIN_OUTPUT_TOKENS = 256
# An endpoint that read fewer than this share of the prompt tokens we estimate (and at
# least TRUNCATION_MIN_TOKENS: a context's worth, not a scripted or tiny count) most
# likely cut the prompt to its context, as Ollama does silently.
TRUNCATION_SHARE = 0.5
TRUNCATION_MIN_TOKENS = 1_024


def weaker_choice(choice: ToolChoice) -> ToolChoice:
    """The next `tool_choice` to try when an endpoint refuses one: a named function,
    then "required", then "auto", then none at all."""
    if isinstance(choice, dict):
        return "required"
    return "auto" if choice == "required" else None


def _choice_key(choice: ToolChoice) -> str:
    return "named" if isinstance(choice, dict) else str(choice)


@dataclass
class FinalDraft:
    """What the root agent submitted with `final_report`."""

    summary: str
    findings: list[Finding]


# (run, parent agent id, parent depth, task) -> (text for the parent, ok)
SubagentRunner = Callable[["Run", str, int, str], Awaitable[tuple[str, bool]]]


@dataclass
class Run:
    run_id: str
    question: str
    config: DiagnoseConfig
    context: ToolContext  # the agents' context: dataset pinned, no progress callback
    ds: Dataset
    dataset_label: str
    send: MemoryObjectSendStream[Any]
    client: AsyncOpenAI | None = None
    store: RunStore | None = None
    status: RunStatus | None = None
    on_progress: Any = None  # the caller's ToolContext.progress, if any
    started: float = field(default_factory=time.monotonic)
    facts: RunFacts = field(default_factory=RunFacts)
    findings: list[Finding] = field(default_factory=list)
    final: FinalDraft | None = None
    results: dict[str, str] = field(default_factory=dict)  # ref -> full tool result text
    limiters: list[anyio.CapacityLimiter] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the report should say about the run itself
    analytics: Any = None  # the failure analytics, when they ran (frequency checks use them)
    context_limit: int = 0  # tokens; lowered when the endpoint turns out smaller than configured
    refused_choices: set[str] = field(default_factory=set)  # tool_choice kinds the endpoint refused
    truncation_warned: bool = False
    repo: Repo | None = None  # the agent's own code, when the run was given it (config.repo)
    telemetry: Telemetry = NO_TELEMETRY  # spans of this run's own calls (config.telemetry)
    baseline_note: str = ""  # with a baseline: what the root is told about it (engine.agents.baseline)
    # Runs one subagent for `call_subagent` (engine.agents.subagents.run_subagent): handed in by
    # diagnose, so the toolbox, the loop and the subagents do not import each other in a circle.
    run_subagent: SubagentRunner | None = None
    _children: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Children of a depth-d agent wait on limiter d+1, never on their parent's own
        # level, so a parent holding a slot while it waits for its children cannot deadlock.
        self.limiters = [anyio.CapacityLimiter(self.config.max_parallel) for _ in range(self.config.max_depth + 1)]
        self.context_limit = self.context_limit or self.config.context_limit_tokens

    def merge_finding(self, finding: Finding) -> int:
        """Add a finding, replacing one with the same title; its 1-based number."""
        for i, known in enumerate(self.findings):
            if known.title.strip().lower() == finding.title.strip().lower():
                self.findings[i] = finding
                return i + 1
        self.findings.append(finding)
        return len(self.findings)

    def note(self, text: str) -> None:
        """A note for the report (said once)."""
        if text not in self.notes:
            self.notes.append(text)

    # time and budgets -------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def exhausted(self) -> str | None:
        """Why no more model calls may be made, or None while budget is left."""
        if self.facts.tokens >= self.config.token_budget:
            return f"the token budget of {self.config.token_budget:,} tokens is used up"
        return None

    def child_id(self, parent: str) -> str:
        self._children[parent] = self._children.get(parent, 0) + 1
        return f"{parent}.{self._children[parent]}"

    def store_result(self, text: str) -> str:
        ref = f"r{len(self.results) + 1}"
        self.results[ref] = text
        return ref

    # events -----------------------------------------------------------------

    def emit(self, event_type: type[EventBase], agent: str = "root", depth: int = 0, **fields: Any) -> EventBase:
        event = event_type(run_id=self.run_id, agent=agent, depth=depth, t=round(self.elapsed(), 3), **fields)
        if self.store is not None:
            self.store.append_event(self.run_id, event)
        try:
            self.send.send_nowait(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # nobody listens any more (the caller stopped reading): the log still has it
        return event

    def progress(self) -> RunProgress:
        return RunProgress(
            turns=self.facts.turns,
            model_calls=self.facts.model_calls,
            subagents=self.facts.subagents,
            findings=len(self.findings),
            tokens=self.facts.tokens,
            elapsed_s=round(self.elapsed(), 2),
        )

    async def report_progress(self, agent: str = "root", depth: int = 0) -> None:
        progress = self.progress()
        self.emit(Progress, agent, depth, **progress.model_dump())
        if self.store is not None and self.status is not None:
            self.status = self.status.model_copy(update={"progress": progress})
            self.store.write_status(self.status)
        if self.on_progress is not None:
            done = min(0.99, self.facts.turns / max(1, self.config.max_turns))
            try:
                await self.on_progress(done, f"{progress.turns} turns, {progress.subagents} subagents")
            except Exception:  # a caller's progress sink must not end the run
                log.exception("progress callback failed")

    # model ------------------------------------------------------------------

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str = "agent",
        agent: str = "root",
        depth: int = 0,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice = None,
    ) -> ChatCompletion:
        """One model call for an agent, counted against the run's budgets, always with
        an output cap. A `tool_choice` the endpoint refuses is weakened (and not sent
        again in this run), which the run's events say. Recorded as an LLM span."""
        model = self.config.llm.model_for(role)
        with self.telemetry.span(f"{role} model call", "LLM", llm__model_name=model, halo__agent=agent) as span:
            span.io(input=messages)
            completion = await self._complete(messages, role=role, agent=agent, depth=depth, tools=tools,
                                              tool_choice=tool_choice)  # fmt: skip
            usage = usage_of(completion)
            message = completion.choices[0].message if completion.choices else None
            span.set(llm__token_count__prompt=usage.input_tokens, llm__token_count__completion=usage.output_tokens,
                     llm__token_count__total=usage.input_tokens + usage.output_tokens,
                     llm__cost__total=usage.cost)  # fmt: skip
            span.io(output=message.model_dump(exclude_none=True) if message is not None else "")
            return completion

    async def _complete(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        agent: str,
        depth: int,
        tools: list[dict[str, Any]] | None,
        tool_choice: ToolChoice,
    ) -> ChatCompletion:

        async def on_retry(attempt: int, wait_s: float, reason: str) -> None:
            self.emit(Retry, agent, depth, attempt=attempt, wait_s=round(wait_s, 3), reason=reason)

        def on_timeout() -> None:
            self.facts.abandoned_calls += 1

        llm = self.config.llm
        choice = tool_choice if tools else None
        while choice is not None and _choice_key(choice) in self.refused_choices:
            choice = weaker_choice(choice)
        while True:
            try:
                completion = await chat(
                    llm,
                    messages,
                    model=llm.model_for(role),
                    tools=tools,
                    tool_choice=choice,
                    max_tokens=self.output_cap(role),
                    temperature=self.config.temperature,
                    client=self.client,
                    on_retry=on_retry,
                    on_timeout=on_timeout,
                )
            except EndpointRefusal as exc:
                if choice is None or not tool_choice_refused(exc):
                    raise
                self.refused_choices.add(_choice_key(choice))
                weaker = weaker_choice(choice)
                self.emit(
                    ErrorEvent, agent, depth,
                    message=f"the endpoint refused tool_choice={_choice_key(choice)} ({exc.detail[:200]}); "
                    f"sending {_choice_key(weaker) if weaker is not None else 'no tool_choice'} from now on",
                )  # fmt: skip
                choice = weaker
                continue
            except anyio.get_cancelled_exc_class():
                self.facts.abandoned_calls += 1  # the wall clock (or the caller) ended it mid-call
                raise
            break
        usage = usage_of(completion)
        self._check_truncation(usage.input_tokens, request_tokens(messages, tools), agent, depth)
        self.facts.model_calls += 1
        self.facts.input_tokens += usage.input_tokens
        self.facts.output_tokens += usage.output_tokens
        if usage.cost is not None:
            self.facts.cost = (self.facts.cost or 0.0) + usage.cost
        return completion

    def _check_truncation(self, read: int, sent: int, agent: str, depth: int) -> None:
        """Warn (once) when the endpoint read far fewer prompt tokens than were sent."""
        if self.truncation_warned or read < TRUNCATION_MIN_TOKENS or read >= TRUNCATION_SHARE * sent:
            return
        self.truncation_warned = True
        warning = (
            f"The model endpoint read {read:,} prompt tokens of the ~{sent:,} sent: it most likely cut the prompt "
            "to its context (Ollama does so silently). Give it a larger context (Ollama: num_ctx or "
            "OLLAMA_CONTEXT_LENGTH; llama.cpp: -c) or set --context-limit to its size."
        )
        self.note(warning)
        self.emit(ErrorEvent, agent, depth, message=warning)

    def output_cap(self, role: str = "agent") -> int:
        """max_tokens of a request: the role's cap, held to a share of the context so the
        prompt keeps room (a 4k-token local model gets 1k of output, not 4k)."""
        return max(MIN_OUTPUT_TOKENS, min(self.config.llm.max_tokens_for(role), int(self.context_limit * OUTPUT_SHARE)))
