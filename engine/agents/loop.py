"""One agent's loop: ask the model, run its tool calls, repeat, within its turn budget.

`agent_steps` is the loop itself, written to be read top to bottom; it yields a
step dataclass for everything that happens. `run_agent` drives it and turns
steps into events. The loop always ends, with a `FinalStep` that says whether
the agent finished (final report / answer submitted) or why it stopped: turn
budget, token budget, refusals, or a model endpoint that kept failing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from engine.agents.compaction import after_compaction, compact_if_needed
from engine.agents.events import AgentMessage, ErrorEvent, ToolCall, ToolResultEvent, preview
from engine.agents.fitting import (
    fit_tools,
    lowered_limit,
    prompt_budget,
    request_tokens,
    result_room,
    shrink_messages,
)
from engine.agents.report import Evidence
from engine.agents.state import Run
from engine.agents.toolbox import AgentState, CallOutcome, Role, Toolbox, execute, parse_arguments, toolbox_for
from engine.errors import LLMError
from engine.llm import context_overflow

__all__ = ["AgentSpec", "ModelStep", "ToolStep", "Correction", "FinalStep", "agent_steps", "run_agent"]

_REFUSAL = re.compile(r"^\s*(I'?m sorry|I am sorry|I can(no|')t (help|assist|comply)|I (won'?t|will not) )", re.I)


@dataclass(frozen=True)
class AgentSpec:
    id: str
    depth: int
    role: Role
    system: str
    task: str
    max_turns: int


@dataclass(frozen=True)
class PlannedCall:
    id: str
    name: str
    arguments: dict[str, Any] | None
    error: str | None  # why the arguments could not be read
    raw: str


@dataclass
class ModelStep:
    turn: int
    turns_left: int
    content: str | None
    calls: list[PlannedCall]
    refusal: str | None = None


@dataclass
class ToolStep:
    outcome: CallOutcome
    turns_left: int


@dataclass
class Correction:
    """The model did not answer with a tool call; it was told how to go on."""

    reason: str


@dataclass
class FinalStep:
    finished: bool
    turns: int
    reason: str | None = None  # why it stopped without finishing
    answer: str | None = None  # a subagent's answer
    evidence: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the model wrote along the way


Step = ModelStep | ToolStep | Correction | FinalStep


def _planned(message: Any, turn: int) -> list[PlannedCall]:
    calls = []
    for i, call in enumerate(message.tool_calls or []):
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: nothing we offered
            continue
        args, error = parse_arguments(function.arguments)
        call_id = call.id or f"call_{turn}_{i}"  # some servers send no ids
        calls.append(PlannedCall(call_id, function.name or "", args, error, function.arguments or ""))
    return calls


def _assistant_message(content: str | None, calls: list[PlannedCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or ""}
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                # Unreadable arguments are not sent back: some servers re-parse the history.
                "function": {"name": c.name, "arguments": c.raw if c.arguments is not None else "{}"},
            }
            for c in calls
        ]
    return message


def _budget_line(turns_left: int, finish: str) -> str:
    if turns_left == 0:
        return "\n\n[turns left: 0]"
    if turns_left == 1:
        return f"\n\n[turns left: 1 — this is your last turn: call {finish} now]"
    return f"\n\n[turns left: {turns_left}]"


def _left_out_line(left_out: tuple[str, ...]) -> str:
    if not left_out:
        return ""
    return (
        "\n\n(Tools not listed, to fit the model's context, but callable by name: "
        + ", ".join(left_out) + ".)"
    )


def _fitted(
    run: Run, box: Toolbox, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The last resort, when compaction left the request over its prompt budget: cut the
    longest messages (in place), then list fewer tools; the tools to send."""
    budget = prompt_budget(run.context_limit, run.output_cap())
    if request_tokens(messages, tools) <= budget:
        return tools
    shrink_messages(messages, budget, tools)
    if (left := budget - request_tokens(messages)) < request_tokens([], tools):
        tools, _ = fit_tools(tools, left, box.finish)
    return tools


def _fixed_tokens(spec: AgentSpec) -> int:
    """Estimated tokens of the system prompt, which the tool list is fitted next to (the
    task is fitted after the tools: the root's briefing takes what they leave)."""
    return request_tokens([{"role": "system", "content": spec.system}])


def _shrink(
    run: Run, spec: AgentSpec, box: Toolbox, messages: list[dict[str, Any]],
    tools: list[dict[str, Any]], stated: int | None,
) -> Toolbox:
    """After the endpoint refused a prompt as too long: lower the run's context limit,
    refit the tool list and cut the longest messages; the new toolbox."""
    sent = request_tokens(messages, tools)
    before = run.context_limit
    run.context_limit = lowered_limit(before, stated, sent)
    size = f"{stated:,} tokens" if stated else "smaller than the prompt"
    warning = (
        f"The model endpoint's context ({size}) is smaller than the prompt (~{sent:,} tokens, with "
        f"--context-limit {before:,}): the prompt was shrunk to ~{run.context_limit:,} tokens and sent again. "
        "Set --context-limit to the server's context, or give the server a larger one "
        "(llama.cpp: -c; Ollama: num_ctx or OLLAMA_CONTEXT_LENGTH)."
    )
    run.note(warning)
    run.emit(ErrorEvent, spec.id, spec.depth, message=warning)
    box = toolbox_for(run, spec.role, spec.depth, _fixed_tokens(spec))
    shrink_messages(messages, prompt_budget(run.context_limit, run.output_cap()), box.definitions)
    return box


async def agent_steps(run: Run, spec: AgentSpec) -> AsyncIterator[Step]:
    """The loop. Bounded by `spec.max_turns`; refusals and corrections use turns too."""
    box = toolbox_for(run, spec.role, spec.depth, _fixed_tokens(spec))
    agent = AgentState(spec.id, spec.depth, spec.role, spec.max_turns)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": spec.system},
        {"role": "user", "content": spec.task + _left_out_line(box.left_out)},
    ]
    refs: dict[int, str] = {}  # position of a tool message -> reference of its full text
    notes: list[str] = []
    refusals = 0
    shrunk = False  # whether the request being sent was already shrunk once

    def stop(reason: str) -> FinalStep:
        return FinalStep(finished=False, turns=agent.turns, reason=reason, notes=notes)

    while True:
        if agent.turns_left == 0:
            yield stop(f"the turn budget of {spec.max_turns} turns was used up")
            return
        if exhausted := run.exhausted():
            yield stop(exhausted)
            return
        last_turn = agent.turns_left == 1
        tools = box.only_finish() if last_turn else box.definitions
        # "auto" always: some servers leave the tools out of the prompt without it.
        # On the last turn the finishing tool is required.
        tool_choice = "required" if last_turn else "auto"
        await compact_if_needed(run, spec.id, spec.depth, messages, refs, tools)
        tools = _fitted(run, box, messages, tools)
        try:
            completion = await run.complete(
                messages, agent=spec.id, depth=spec.depth, tools=tools, tool_choice=tool_choice
            )
        except LLMError as exc:
            overflow, stated = context_overflow(exc)
            if overflow and not shrunk:
                shrunk = True
                box = _shrink(run, spec, box, messages, tools, stated)
                continue  # the same turn again, smaller
            yield stop(f"the model endpoint failed: {exc}")
            return
        shrunk = False  # each refused request is shrunk and sent again once
        agent.turns += 1
        run.facts.turns += 1
        choice = completion.choices[0]
        message = choice.message
        calls = _planned(message, agent.turns)
        refusal = message.refusal or (
            "content filtered" if choice.finish_reason == "content_filter" and not calls else None
        )
        if not refusal and not calls and message.content and _REFUSAL.match(message.content):
            refusal = message.content
        yield ModelStep(agent.turns, agent.turns_left, message.content, calls, refusal)
        if message.content:
            notes.append(message.content)

        if refusal:
            refusals += 1
            if refusals > run.config.max_refusals:
                yield stop(f"the model refused {refusals} times in a row: {preview(refusal, 200)[0]}")
                return
            continue  # the same request again: refusals are often not repeated
        refusals = 0  # the limit is on refusals in a row

        if not calls:
            cut = choice.finish_reason == "length"
            reason = (
                "your answer was cut by the output token limit; be shorter"
                if cut
                else "you answered in plain text, which is not read"
            )
            messages.append(_assistant_message(message.content, []))
            messages.append(
                {
                    "role": "user",
                    "content": f"Note: {reason}. Continue with tool calls; finish by calling {box.finish}."
                    + _budget_line(agent.turns_left, box.finish),
                }
            )
            yield Correction(reason)
            continue

        messages.append(_assistant_message(message.content, calls))
        outcomes: list[CallOutcome | None] = [None] * len(calls)
        # Each result gets its part of the room left in the next request (old results compacted).
        budget = prompt_budget(run.context_limit, run.output_cap())
        room = result_room(after_compaction(messages, refs, len(calls)), box.definitions, budget, len(calls))

        async def run_call(
            outcomes: list[CallOutcome | None], box: Toolbox, room: int, i: int, call: PlannedCall
        ) -> None:
            outcomes[i] = await execute(run, agent, box, call.id, call.name, call.arguments, call.error, room)

        async with anyio.create_task_group() as tg:  # one turn's calls run together
            for i, call in enumerate(calls):
                tg.start_soon(run_call, outcomes, box, room, i, call)

        finished: CallOutcome | None = None
        for outcome in outcomes:
            assert outcome is not None
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": outcome.call_id,
                    "content": outcome.text + _budget_line(agent.turns_left, box.finish),
                }
            )
            if outcome.ref is not None:
                refs[len(messages) - 1] = outcome.ref
            yield ToolStep(outcome, agent.turns_left)
            if outcome.finished:
                finished = outcome
        if finished is not None:
            yield FinalStep(
                finished=True, turns=agent.turns, answer=finished.answer, evidence=finished.evidence, notes=notes
            )
            return


async def run_agent(run: Run, spec: AgentSpec) -> FinalStep:
    """Drive one agent to its end, reporting every step as events; recorded as an AGENT span."""
    with run.telemetry.span(spec.id, "AGENT", agent__name=spec.role, halo__agent=spec.id) as span:
        span.io(input=spec.task)
        final = await _drive(run, spec)
        span.io(output=final.answer or final.reason or ("finished" if final.finished else "stopped"))
        if not final.finished:
            span.fail(final.reason or "the agent stopped before finishing")
        return final


async def _drive(run: Run, spec: AgentSpec) -> FinalStep:
    agent, depth = spec.id, spec.depth
    async for step in agent_steps(run, spec):
        if isinstance(step, ModelStep):
            run.emit(
                AgentMessage, agent, depth,
                turn=step.turn, turns_left=step.turns_left, content=step.content,
                tool_calls=[c.name for c in step.calls],
            )  # fmt: skip
            if step.refusal:
                run.emit(ErrorEvent, agent, depth, message=f"model refused: {preview(step.refusal, 300)[0]}")
            for call in step.calls:
                arguments = call.arguments if call.arguments is not None else call.raw
                run.emit(ToolCall, agent, depth, call_id=call.id, name=call.name, arguments=arguments)
            await run.report_progress(agent, depth)
        elif isinstance(step, ToolStep):
            text, truncated = preview(step.outcome.text)
            run.emit(
                ToolResultEvent, agent, depth,
                call_id=step.outcome.call_id, name=step.outcome.name, ok=step.outcome.ok, text=text,
                chars=len(step.outcome.text), truncated=truncated, ref=step.outcome.ref,
            )  # fmt: skip
        elif isinstance(step, Correction):
            run.emit(ErrorEvent, agent, depth, message=f"corrected the model: {step.reason}")
        else:
            if not step.finished:
                run.emit(ErrorEvent, agent, depth, message=f"agent stopped: {step.reason}")
            return step
    raise AssertionError("agent_steps ended without a FinalStep")
