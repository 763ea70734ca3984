"""Subagents: a focused task, the same trace tools, a concise answer with its ids.

A subagent at depth d runs under the capacity limiter of level d: at most
`max_parallel` agents per level at once. A parent waits for its children on
the next level's limiter, never its own, so a parent holding a slot while its
children queue can never deadlock the run.
"""

from __future__ import annotations

from engine.agents.events import SubagentFinished, SubagentStarted, preview
from engine.agents.loop import AgentSpec, run_agent
from engine.agents.prompts import prompt
from engine.agents.state import Run

__all__ = ["run_subagent", "subagent_spec"]


def subagent_spec(run: Run, agent_id: str, depth: int, task: str) -> AgentSpec:
    can_delegate = depth < run.config.max_depth
    delegation = (
        "If your task splits into independent parts, `call_subagent` delegates one (parallel calls run together)."
        if can_delegate
        else "You cannot delegate: do the work yourself."
    )
    return AgentSpec(
        id=agent_id,
        depth=depth,
        role="subagent",
        system=prompt("subagent", max_turns=run.config.subagent_max_turns, delegation=delegation),
        task=prompt("subagent_task", task=task, question=run.question, dataset=run.dataset_label),
        max_turns=run.config.subagent_max_turns,
    )


async def run_subagent(run: Run, parent: str, parent_depth: int, task: str) -> tuple[str, bool]:
    """Run one child of `parent` and return (text for the parent, ok)."""
    depth = parent_depth + 1
    if depth > run.config.max_depth:
        return f"error: subagents may not be deeper than {run.config.max_depth}; do this task yourself.", False
    child = run.child_id(parent)
    async with run.limiters[depth]:
        run.facts.subagents += 1
        run.emit(SubagentStarted, parent, parent_depth, child=child, task=task)
        await run.report_progress(parent, parent_depth)
        end = await run_agent(run, subagent_spec(run, child, depth, task))
    if end.finished and end.answer is not None:
        text = f"Subagent {child} answered (in {end.turns} turns):\n{end.answer}"
    else:
        gathered = "\n".join(f"- {preview(n, 600)[0]}" for n in end.notes[-3:]) or "- (nothing written)"
        text = f"Subagent {child} stopped without an answer ({end.reason}). Its last notes:\n{gathered}"
    run.emit(
        SubagentFinished, parent, parent_depth,
        child=child, ok=end.finished, turns=end.turns, answer=preview(text)[0], reason=end.reason,
    )  # fmt: skip
    return text, end.finished
