"""Detectors of answers without evidence (class 4), repeated actions and step-limit
exhaustion (class 5), and unusable observations the model relied on (class 6).

They read the order of actions in a run (tool spans, the tool calls and code blocks
a model wrote), the tools the run offered (OpenInference `llm.tools`, gen_ai tool
definitions, smolagents `tools_names` / managed agents), the numbered steps agent
frameworks emit, and the shape of tool outputs. Evidence goes to the decision span.
"""

from __future__ import annotations

import re
from collections import defaultdict

import orjson

from engine.traces.analytics.actions import CODE_EXECUTION, action_errors
from engine.traces.analytics.data import SpanData
from engine.traces.analytics.detect import pattern, ranked
from engine.traces.analytics.patterns import Pattern
from engine.traces.analytics.spans import STEP_NAME, code_blocks, decision_spans, next_llm, span_texts
from engine.traces.failure_text import (
    CLAIMED_EVIDENCE,
    ENCODING_DEBRIS,
    FINAL_ANSWER_TOOLS,
    TRUNCATED,
    find_quote,
)
from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "REPEAT_MIN_CALLS",
    "GARBLED_MIN_TOKENS",
    "GARBLED_SINGLE_SHARE",
    "DEBRIS_MIN",
    "OBSERVATION_MAX_CHARS",
    "unsupported_answers",
    "repeated_actions",
    "step_limit_exhaustion",
    "unusable_observations",
]

# The same action this many times in a run makes a repeat even when none of them failed
# (2: any resubmission; the "not only three in a row"). After a failure, the
# first resubmission always counts.
REPEAT_MIN_CALLS = 2
# An observation of at least this many tokens, this share of them single characters, is garbled.
GARBLED_MIN_TOKENS = 40
GARBLED_SINGLE_SHARE = 0.6
# Replacement characters or mojibake sequences that make an observation encoding debris.
DEBRIS_MIN = 3
# An observation longer than this is far more than a model step can use.
OBSERVATION_MAX_CHARS = 40_000
_FINAL_CALL = re.compile(r"\b(?:" + "|".join(sorted(FINAL_ANSWER_TOOLS)) + r")\s*\(", re.I)
_SPACE = re.compile(r"\s+")


def _final(name: str | None) -> bool:
    return bool(name) and name.lower() in FINAL_ANSWER_TOOLS  # type: ignore[union-attr]


def unsupported_answers(data: SpanData) -> list[Pattern]:
    """Class 4: (a) a final answer given before any tool was used, in a run that offered
    tools besides the final-answer tool: the model call that wrote the answer (a
    final-answer tool call, a code block calling it, or a last reply in text) started
    before any other tool span, tool call or code call of an offered tool; (b) a
    model's text that claims a search, lookup or browsing result ("based on my
    search", "I looked up") when no tool had run before it in the run. Does not
    match: runs that offer no tool, answers given after any tool use (whether that use
    was enough is for a person to judge), plans that say a search *will* be made."""
    texts = span_texts(data)
    decisions = decision_spans(data)
    llm = int(SpanKind.LLM)
    before: list[int] = []
    claims: list[int] = []
    context: dict[int, int] = {}
    for t, first, end in data.trace_slices():
        offered = {x.lower() for i in range(first, end) for x in data.offered[i]} - FINAL_ANSWER_TOOLS
        if not offered:
            continue
        acts: list[int] = []  # start times of non-final actions
        answer: int = -1
        final_span = -1
        for i in range(first, end):
            if data.kind[i] == llm and data.status[i] != int(SpanStatus.ERROR):  # a failed call answered nothing
                out = texts.of(i).output
                calls = [c.name for c in texts.of(i).tool_calls] + list(data.requested[i])
                codes = code_blocks(out)
                if any(not _final(c) for c in calls) or any(_calls_offered(c, offered) for c in codes):
                    acts.append(int(data.start_ns[i]) + 1)  # its own action counts for later calls only
                if answer < 0 and (any(_final(c) for c in calls) or any(_FINAL_CALL.search(c) for c in codes)):
                    answer = i
            elif (tool := data.tool[i]) is not None:
                if _final(tool):
                    if final_span < 0:
                        final_span = i
                else:
                    acts.append(int(data.start_ns[i]))
        if answer < 0 and final_span >= 0 and decisions[final_span] >= 0:
            answer = int(decisions[final_span])
        if answer < 0 and not acts and t in data.last_llm and data.status[data.last_llm[t]] != int(SpanStatus.ERROR):
            answer = data.last_llm[t]  # a reply in text, no tool ever used
        earliest = min(acts) if acts else None
        if answer >= 0 and (earliest is None or earliest > int(data.start_ns[answer])):
            before.append(answer)
            context[answer] = final_span
        for i in range(first, end):
            if data.kind[i] == llm and CLAIMED_EVIDENCE.search(texts.of(i).output[:8000]):
                if earliest is None or earliest > int(data.start_ns[i]):
                    claims.append(i)

    def claim_quote(i: int) -> str | None:
        out = texts.of(i).output
        m = CLAIMED_EVIDENCE.search(out)
        return find_quote(data.raw_text(i), out[max(0, m.start() - 60) : m.end() + 140]) if m else None

    def answer_quote(i: int) -> str | None:
        out = texts.of(i).output
        m = _FINAL_CALL.search(out)
        a = max(0, m.start() - 140) if m else 0
        return find_quote(data.raw_text(i), out[a : a + 200])

    patterns = []
    if before:
        patterns.append(
            pattern(
                data,
                "unsupported_answer",
                "final answer given before any tool was used, though tools were offered",
                before,
                detail="the model answered from memory; no search, file read or other tool ran before the answer",
                subject="answer_before_tools",
                quote=answer_quote,
                context=context,
                context_quote=lambda c: find_quote(data.raw_text(c), texts.of(c).tool_input[:120]),
                surface="system prompt",
            )
        )
    if claims:
        patterns.append(
            pattern(
                data,
                "unsupported_answer",
                "model claims a search or lookup that no span shows",
                claims,
                detail="its text claims evidence, and no tool had run before it in the run",
                subject="claimed_unseen_evidence",
                quote=claim_quote,
                surface="system prompt",
            )
        )
    return patterns


def _calls_offered(code: str, offered: set[str]) -> bool:
    low = code.lower()
    return any(f"{name}(" in low for name in offered)


def _norm(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return _SPACE.sub(" ", text).strip()


def repeated_actions(data: SpanData) -> list[Pattern]:
    """Class 5: the same action submitted again within a run, consecutive or not: the
    same tool with the same arguments (tool spans; a model's tool calls where no tool
    span records them), or the same code block. A repeat is flagged when an earlier
    identical action failed (the model retried what had just failed), or when the
    action occurs REPEAT_MIN_CALLS or more times; the title counts repeats after a
    failure. Blamed on the model call that submitted the repeat. Does not match: the
    same tool with other arguments, calls without recorded arguments, final-answer calls."""
    texts = span_texts(data)
    decisions = decision_spans(data)
    errors = action_errors(data)
    failed_decisions = {int(decisions[i]) for i in errors if decisions[i] >= 0}
    llm = int(SpanKind.LLM)
    flagged: dict[str, list[int]] = defaultdict(list)
    after_error: dict[str, int] = defaultdict(int)
    context: dict[int, int] = {}
    for _, first, end in data.trace_slices():
        spans = sorted(range(first, end), key=lambda i: (int(data.start_ns[i]), i))
        span_tools = {data.tool[i] for i in spans if data.tool[i] is not None and data.kind[i] != llm}
        seen: dict[tuple[str, str, str], list[tuple[int, int, bool]]] = defaultdict(list)
        for i in spans:
            if data.kind[i] == llm:
                for code in code_blocks(texts.of(i).output):
                    if not _FINAL_CALL.search(code) or code.count("\n") > 2:
                        seen[("code", CODE_EXECUTION, _SPACE.sub(" ", code))].append((i, -1, i in failed_decisions))
                for call in texts.of(i).tool_calls:
                    if call.name not in span_tools and not _final(call.name) and call.arguments is not None:
                        seen[("call", call.name, _norm(call.arguments) or "")].append((i, -1, i in failed_decisions))
            elif (tool := data.tool[i]) is not None and not _final(tool) and data.tool_args[i] is not None:
                d = int(decisions[i]) if decisions[i] >= 0 else i
                seen[("tool", tool, _norm(data.tool_args[i]) or "")].append((d, i, i in errors))
        for (_, subject, _), events in seen.items():
            if len(events) < 2:
                continue
            failed_before = False
            for n, (d, c, failed) in enumerate(events):
                if n and (failed_before or len(events) >= REPEAT_MIN_CALLS) and d not in context:
                    flagged[subject].append(d)
                    context[d] = c
                    after_error[subject] += failed_before
                failed_before = failed_before or failed
    patterns = []
    for subject, rows in flagged.items():
        patterns.append(
            pattern(
                data,
                "repeated_action",
                f"repeated action: {subject} submitted again with the same input ({len(rows)} repeats, "
                f"{after_error[subject]} after it had failed)",
                sorted(rows),
                detail="the same tool call or code was sent again within one run",
                subject=subject,
                quote=lambda i: _repeat_quote(data, texts, i, context.get(i, -1)),
                context=context,
                context_quote=lambda c: find_quote(data.raw_text(c), data.tool_args[c]),
                surface="system prompt",
            )
        )
    return ranked(patterns)


def _repeat_quote(data: SpanData, texts: object, i: int, c: int) -> str | None:
    """The repeated input as the decision span wrote it: the tool's arguments, else its code."""
    raw, out = data.raw_text(i), texts.of(i).output  # type: ignore[attr-defined]
    needles = ([data.tool_args[c]] if c >= 0 else []) + code_blocks(out)[:1] + [out[:200]]
    return next((q for n in needles if (q := find_quote(raw, n))), None)


def step_limit_exhaustion(data: SpanData) -> list[Pattern]:
    """Class 5: agent runs that used up their step budget: an agent span records its
    limit (an attribute ending in max_steps / max_turns / max_iterations, e.g.
    smolagents.max_steps) and its numbered step spans (smolagents "Step N") reach it.
    Blamed on the last step's model call. Does not match: limits met by message only
    (those are `turn_limit` by phrase), agents that record no limit."""
    texts = span_texts(data)
    decisions = decision_spans(data)
    if len(data.parent) != data.n_spans:
        return []
    last_step: dict[int, tuple[int, int]] = {}
    for i in range(data.n_spans):
        m = STEP_NAME.match(data.name[i])
        p = int(data.parent[i])
        if m and p >= 0 and (p not in last_step or int(m.group(1)) > last_step[p][0]):
            last_step[p] = (int(m.group(1)), i)
    rows: list[int] = []
    context: dict[int, int] = {}
    for agent, (number, step) in last_step.items():
        limit = next(
            (int(v) for k, v in texts.of(agent).attrs.items()
             if k.endswith(("max_steps", "max_turns", "max_iterations")) and str(v).isdigit()),
            None,
        )  # fmt: skip
        if limit and number >= limit:
            d = int(decisions[step]) if decisions[step] >= 0 else step
            rows.append(d)
            context[d] = agent
    if not rows:
        return []
    return [
        pattern(
            data,
            "turn_limit",
            "runs that used every step their agent allows",
            sorted(rows),
            detail="the numbered steps reached the agent's recorded step limit",
            subject="step_limit_exhausted",
            context=context,
            context_quote=lambda c: find_quote(
                data.raw_text(c), next((k for k in texts.of(c).attrs if k.endswith("max_steps")), None)
            ),
            surface="retry or step limits",
        )
    ]


def _observation_problem(text: str, chars: int) -> str | None:
    if chars > OBSERVATION_MAX_CHARS:
        return "oversized"
    tokens = text[:20_000].split()
    if len(tokens) >= GARBLED_MIN_TOKENS and sum(len(t) == 1 for t in tokens) >= GARBLED_SINGLE_SHARE * len(tokens):
        return "garbled"
    if len(ENCODING_DEBRIS.findall(text[:20_000])) >= DEBRIS_MIN:
        return "encoding debris"
    if TRUNCATED.search(text[-400:]):
        return "truncated"
    return None


_PROBLEM_TITLES = {
    "oversized": f"results far larger than a step can use (over {OBSERVATION_MAX_CHARS:,} characters)",
    "garbled": "garbled results (text split into single characters)",
    "encoding debris": "results full of encoding debris",
    "truncated": "truncated results",
}


def unusable_observations(data: SpanData) -> list[Pattern]:
    """Class 6: tool results the model read that it could not use: garbled (most tokens
    single characters), encoding debris (replacement characters, mojibake), cut short (a
    truncation marker at the end), or longer than OBSERVATION_MAX_CHARS. Blamed on the
    model call that read the result (the first one after it), the tool span kept as
    context. Does not match: results that are merely wrong, or errors (class 1)."""
    texts = span_texts(data)
    decisions = decision_spans(data)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    context: dict[int, int] = {}
    for i, text in texts.items():
        tool = data.tool[i]
        if data.kind[i] == int(SpanKind.LLM) or tool is None or _final(tool) or not text.output:
            continue
        problem = _observation_problem(text.output, text.output_chars)
        if problem is None:
            continue
        reader = next_llm(data, i)
        d = reader if reader >= 0 else (int(decisions[i]) if decisions[i] >= 0 else i)
        if d not in context:
            groups[(tool, problem)].append(d)
            context[d] = i

    def observation_quote(c: int) -> str | None:
        return find_quote(data.raw_text(c), texts.of(c).output[:200])

    patterns = []
    for (tool, problem), rows in groups.items():
        patterns.append(
            pattern(
                data,
                "unusable_observation",
                f"{tool} returned {_PROBLEM_TITLES[problem]} that the model relied on ({len(rows)} results)",
                sorted(rows),
                detail=f"{problem} observations; blamed on the model call that read them",
                subject=tool,
                context=context,
                context_quote=observation_quote,
                surface="tool implementation",
            )
        )
    return ranked(patterns)
