"""The tools an agent may call, and what calling one does.

Trace tools come from the one registry (`engine.tools.registry`), filtered to
`agent_visible`, and are called through `call_tool` so agents get exactly what
an MCP client gets, within the agent's result budget. The engine's own tools act
on the run: `call_subagent`, `record_finding` and `final_report` (root),
`submit_answer` (subagents), `recall` (everyone). Every failure becomes text the
model reads and can act on; nothing a model sends ends the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import orjson
from pydantic import BaseModel, ValidationError

from engine.agents.citations import check_evidence, check_finding, citation_lines, failed_citations
from engine.agents.finding_checks import MAX_FINDING_CORRECTIONS, ask_for_findings, weak_findings
from engine.agents.fitting import (
    cut_text,
    fit_tools,
    prompt_budget,
    text_tokens,
    tools_budget,
)
from engine.agents.report import Evidence
from engine.agents.schemas import (
    FinalReportArgs,
    FindingArgs,
    RecallArgs,
    SubagentArgs,
    SubmitAnswerArgs,
    function_tool,
    without_code_citations,
)
from engine.agents.state import FinalDraft, Run
from engine.errors import HaloError
from engine.tools.registry import CHARS_PER_TOKEN, REGISTRY, call_tool

__all__ = [
    "Toolbox",
    "CallOutcome",
    "AgentState",
    "toolbox_for",
    "parse_arguments",
    "execute",
    "Role",
    "MAX_REPORT_REVISIONS",
]

log = logging.getLogger(__name__)

Role = Literal["root", "subagent"]
# Times the root may fix a final report whose citations failed before it is taken as is.
MAX_REPORT_REVISIONS = 1
# One tool result takes at most this share of the prompt budget, and never less than this
# (call_tool tokens: a tool cannot answer in much less).
RESULT_SHARE = 0.25
MIN_RESULT_TOKENS = 500
# call_tool's budget covers the text and the structured content, about as large again:
# a result of N estimated tokens is asked for with this many times N (measured on the
# TRAIL sample: patterns and view_spans answers take 0.45-0.6 estimated tokens per budget token) ...
BUDGET_PER_ROOM_TOKEN = 2
# ... and an answer that still overflows its room is asked again once, with the budget
# scaled to the room and held this far under it; what still overflows is cut.
REFIT_MARGIN = 0.85

_INTERNAL: dict[str, tuple[type[BaseModel], str]] = {
    "call_subagent": (
        SubagentArgs,
        "Start an analyst with the same trace tools on one focused, self-contained task; returns its "
        "concise answer and the ids it relied on. Several calls in one turn run in parallel.",
    ),
    "record_finding": (
        FindingArgs,
        "Record one confirmed finding (frequency measured, evidence cited). Its citations are checked "
        "at once and the result says which failed. Recording the same title again replaces it.",
    ),
    "final_report": (
        FinalReportArgs,
        "Finish the run with the overall summary (and any findings not recorded yet). Ends your work.",
    ),
    "submit_answer": (
        SubmitAnswerArgs,
        "Finish your task: a concise answer and the evidence (trace id, span id, quote) it rests on.",
    ),
    "recall": (RecallArgs, "Return the full text of a compacted tool result, by its reference (like r12)."),
}


@dataclass(frozen=True)
class Toolbox:
    role: Role
    depth: int
    definitions: list[dict[str, Any]]
    names: frozenset[str]  # every tool this agent may call, listed or not
    finish: str  # the tool that ends this agent's work
    left_out: tuple[str, ...] = ()  # callable, but not listed: the context is too small for them

    def only_finish(self) -> list[dict[str, Any]]:
        """The definitions offered on the last turn: just the finishing tool."""
        return [d for d in self.definitions if d["function"]["name"] == self.finish]


def toolbox_for(run: Run, role: Role, depth: int, fixed_tokens: int = 0) -> Toolbox:
    """The agent's tools, listed to fit its context next to `fixed_tokens` (estimated
    tokens of its system prompt)."""
    trace_tools = [
        function_tool(spec.name, spec.description, _without_dataset(spec.input_schema()))
        for spec in REGISTRY.values()
        if spec.agent_visible
    ]
    if run.repo is not None:  # the agent's own code: read-only tools over it
        from engine.repo import REPO_TOOLS

        trace_tools += [function_tool(s.name, s.description, s.input_schema()) for s in REPO_TOOLS.values()]
    own = ["recall"]
    if depth < run.config.max_depth:
        own.append("call_subagent")
    own += ["record_finding", "final_report"] if role == "root" else ["submit_answer"]
    internal = [function_tool(n, _INTERNAL[n][1], _INTERNAL[n][0].model_json_schema()) for n in own]
    if run.repo is None:  # no repository: findings cannot cite code, and the schema does not offer it
        internal = [without_code_citations(d) for d in internal]
    definitions = trace_tools + internal
    names = frozenset(d["function"]["name"] for d in definitions)
    finish = "final_report" if role == "root" else "submit_answer"
    budget = tools_budget(prompt_budget(run.context_limit, run.output_cap()), fixed_tokens)
    listed, left_out = fit_tools(definitions, budget, finish)
    return Toolbox(role, depth, listed, names, finish, tuple(left_out))


def _without_dataset(schema: dict[str, Any]) -> dict[str, Any]:
    """Agents analyse the run's dataset only, so the tools' `dataset` argument is not shown."""
    props = schema.get("properties")
    if isinstance(props, dict) and "dataset" in props:
        schema = {**schema, "properties": {k: v for k, v in props.items() if k != "dataset"}}
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r != "dataset"]
    return schema


@dataclass
class CallOutcome:
    """What one tool call gave back. `finished`: the agent's finishing tool was accepted."""

    call_id: str
    name: str
    arguments: dict[str, Any] | str
    text: str
    ok: bool = True
    ref: str | None = None
    finished: bool = False
    answer: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class AgentState:
    """The parts of an agent a tool call may read or change."""

    id: str
    depth: int
    role: Role
    max_turns: int
    turns: int = 0
    revisions: int = 0
    finding_corrections: int = 0  # corrective turns given for weak findings
    asked_for_findings: bool = False  # an empty final report was sent back once

    @property
    def turns_left(self) -> int:
        return max(0, self.max_turns - self.turns)


def parse_arguments(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Arguments as a dict, or an explanation of why they are not one."""
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = orjson.loads(raw)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = orjson.loads(value)  # some models encode the object twice
    except orjson.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


async def execute(
    run: Run,
    agent: AgentState,
    box: Toolbox,
    call_id: str,
    name: str,
    arguments: dict[str, Any] | None,
    error: str | None,
    room_tokens: int | None = None,
) -> CallOutcome:
    """Run one tool call; every problem comes back as text for the model. Recorded as a TOOL span.

    `room_tokens` (estimated tokens): what this result may take of the agent's next
    request, so that request fits its context; None: the configured result size."""
    with run.telemetry.span(name, "TOOL", tool__name=name, halo__agent=agent.id) as span:
        span.io(input=arguments if arguments is not None else (error or ""))
        outcome = await _execute(run, agent, box, call_id, name, arguments, error, room_tokens)
        span.io(output=outcome.text)
        if not outcome.ok:
            span.fail(outcome.text[:500])
        return outcome


async def _execute(
    run: Run,
    agent: AgentState,
    box: Toolbox,
    call_id: str,
    name: str,
    arguments: dict[str, Any] | None,
    error: str | None,
    room_tokens: int | None,
) -> CallOutcome:
    shown: dict[str, Any] | str = arguments if arguments is not None else (error or "")
    if name not in box.names:
        known = ", ".join(sorted(box.names))
        text = f"error: there is no tool named {name!r}. Your tools are: {known}."
        return CallOutcome(call_id, name, shown, text, ok=False)
    if arguments is None:
        schema = orjson.dumps(_schema_of(box, name)).decode()[:1500]
        text = f"error: the arguments of your {name} call were {error}. Send one JSON object matching: {schema}"
        return CallOutcome(call_id, name, shown, text, ok=False)
    if name in _INTERNAL:
        model, _ = _INTERNAL[name]
        try:
            args = model.model_validate(arguments)
        except ValidationError as exc:
            return CallOutcome(call_id, name, arguments, _explain(name, exc), ok=False)
        return await _internal(run, agent, call_id, name, args)
    room = _result_room(run, room_tokens)
    try:
        # the repository tools (diagnose --repo) read the agent's code, the others the dataset
        repo_tool = run.repo is not None and name in _repo_tools()
        target, registry = (run.repo, _repo_tools()) if repo_tool else (run.context, None)
        answer = await call_tool(name, target, arguments, budget_tokens=(budget := _result_tokens(run, room)),
                                 registry=registry)  # fmt: skip
        if (cost := text_tokens(answer.text)) > room and budget > MIN_RESULT_TOKENS:
            refit = max(MIN_RESULT_TOKENS, int(budget * room / cost * REFIT_MARGIN))
            answer = await call_tool(name, target, arguments, budget_tokens=refit, registry=registry)
    except HaloError as exc:
        return CallOutcome(call_id, name, arguments, f"error: {exc}", ok=False)
    except Exception as exc:  # a tool bug must not end the run; it is logged and shown
        log.exception("tool %s failed", name)
        text = (
            f"error: the {name} tool failed internally ({type(exc).__name__}: {exc}). "
            "Try other arguments or another tool."
        )
        return CallOutcome(call_id, name, arguments, text, ok=False)
    ref = run.store_result(answer.text)
    text = cut_text(answer.text, room, _cut_mark(ref))
    return CallOutcome(call_id, name, arguments, text, ref=ref)


def _repo_tools() -> dict[str, Any]:
    from engine.repo import REPO_TOOLS

    return REPO_TOOLS


def _result_room(run: Run, room_tokens: int | None) -> int:
    """Estimated tokens one result may take: a share of the prompt budget, so a few
    results fit a small context, and no more than the room left in the next request."""
    share = int(RESULT_SHARE * prompt_budget(run.context_limit, run.output_cap()))
    return share if room_tokens is None else min(share, room_tokens)


def _result_tokens(run: Run, room: int) -> int:
    """call_tool's budget (real tokens of text and structured content) for a result of
    `room` estimated tokens: the configured one at most, MIN_RESULT_TOKENS at least."""
    fitted = room * BUDGET_PER_ROOM_TOKEN
    return max(MIN_RESULT_TOKENS, min(run.config.tool_result_tokens, fitted))


def _cut_mark(ref: str) -> str:
    return f"\n…(cut to fit the model's context; the full result is {ref}, narrow the call to see the rest)"


def _schema_of(box: Toolbox, name: str) -> dict[str, Any]:
    return next((d["function"]["parameters"] for d in box.definitions if d["function"]["name"] == name), {})


def _explain(name: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:6]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return f"error: invalid arguments for {name}: " + "; ".join(problems)


async def _checked(run: Run, evidence: list[Evidence]) -> list[Evidence]:
    return await anyio.to_thread.run_sync(lambda: [check_evidence(e, run.ds) for e in evidence])


def _refuse_weak(run: Run, agent: AgentState, weak: dict[str, list[str]]) -> tuple[str, bool]:
    """(text for the model, whether it is a corrective turn). Once the corrections are
    used up weak findings are dropped, with a note in the report."""
    described = [f"- {title!r}: " + "; ".join(reasons) + "." for title, reasons in weak.items()]
    if agent.finding_corrections < MAX_FINDING_CORRECTIONS and agent.turns_left > 0:
        agent.finding_corrections += 1
        return "\n".join(
            ["error: these findings were not recorded, because they are too weak to report:", *described,
             "Fix them (a title naming the failure mode, a measured frequency within the dataset, citations "
             "with span ids and exact quotes) and send them again; weak findings sent again are dropped."]
        ), True  # fmt: skip
    for title, reasons in weak.items():
        run.note(f"Dropped the finding {title!r}: " + "; ".join(reasons) + ".")
    return "\n".join(["Dropped these findings, still too weak to report (the report says so):", *described]), False


async def _internal(run: Run, agent: AgentState, call_id: str, name: str, args: Any) -> CallOutcome:
    shown = args.model_dump(exclude_none=True)
    if name == "recall":
        text = run.results.get(args.ref.strip())
        if text is None:
            text = f"error: no tool result {args.ref!r}; references look like r12."
            return CallOutcome(call_id, name, shown, text, ok=False)
        limit = run.config.tool_result_tokens * CHARS_PER_TOKEN
        cut = f"\n…(cut at {limit:,} chars of {len(text):,})" if len(text) > limit else ""
        return CallOutcome(call_id, name, shown, text[:limit] + cut)
    if name == "call_subagent":
        if run.run_subagent is None:
            return CallOutcome(call_id, name, shown, "error: this run cannot start subagents.", ok=False)
        text, ok = await run.run_subagent(run, agent.id, agent.depth, args.task)
        return CallOutcome(call_id, name, shown, text, ok=ok)
    if name == "record_finding":
        finding = await check_finding(run.ds, run.repo, args.to_finding())
        weak = weak_findings(run, [finding])
        if weak:
            return CallOutcome(call_id, name, shown, _refuse_weak(run, agent, weak)[0], ok=False)
        number = run.merge_finding(finding)
        failed = failed_citations([finding])
        lines = [f"Recorded finding #{number}: {finding.title} ({finding.frequency})."]
        if failed:
            total = len(finding.evidence) + len(finding.code)
            lines.append(f"{len(failed)} of {total} citations failed the check:")
            lines += citation_lines(failed)
            lines.append("Record it again with the same title and corrected citations to replace it.")
        return CallOutcome(call_id, name, shown, "\n".join(lines))
    if name == "final_report":
        new = [f.to_finding() for f in args.findings]
        new = [await check_finding(run.ds, run.repo, f) for f in new]
        weak = weak_findings(run, new)
        for finding in new:
            if finding.title not in weak:
                run.merge_finding(finding)
        dropped = ""
        if weak:
            text, corrective = _refuse_weak(run, agent, weak)
            if corrective:  # the report is not taken yet: the model fixes them first
                return CallOutcome(call_id, name, shown, text, ok=False)
            dropped = text + "\n"
        if not run.findings and not agent.asked_for_findings and agent.turns_left > 0:
            agent.asked_for_findings = True
            return CallOutcome(call_id, name, shown, ask_for_findings(run), ok=False)
        failed = failed_citations(run.findings)
        if failed and agent.revisions < MAX_REPORT_REVISIONS and agent.turns_left > 0:
            agent.revisions += 1
            lines = [f"{len(failed)} citation(s) failed the check against the dataset or the repository:"]
            lines += citation_lines(failed)
            lines.append(
                "Fix them (record_finding with the same title, or final_report with corrected findings), "
                "then call final_report again. Calling it again unchanged keeps them, marked as failed."
            )
            return CallOutcome(call_id, name, shown, "\n".join(lines), ok=False)
        run.final = FinalDraft(summary=args.summary, findings=list(run.findings))
        return CallOutcome(call_id, name, shown, dropped + "Report accepted.", finished=True)
    if name == "submit_answer":
        evidence = await _checked(run, [e.to_evidence() for e in args.evidence])
        lines = [args.answer]
        if evidence:
            lines += ["", "Evidence (checked against the dataset):", *citation_lines(evidence)]
        text = "\n".join(lines)
        return CallOutcome(call_id, name, shown, "Answer submitted.", finished=True, answer=text, evidence=evidence)
    raise AssertionError(f"unhandled internal tool {name}")
