"""Detectors of failed actions (class 1), unparseable output (class 2) and arguments that
do not fit the offered tool (class 3).

Each flags the decision span (the model call that chose the action, see
`spans.decision_spans`) and keeps the tool or step span where the failure
showed as context. They read trace semantics (statuses, exception events, tool
outputs, OpenInference tool calls and `llm.tools.N.tool.json_schema`, smolagents
`tool.parameters`) and the words parsers and runtimes use for their errors, never a
dataset's own wording.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import orjson

from engine.traces.analytics.data import EXCEPTION, OUTPUT_ERROR, SpanData
from engine.traces.analytics.detect import pattern, ranked
from engine.traces.analytics.patterns import Pattern
from engine.traces.analytics.spans import STEP_NAME, SpanTexts, code_blocks, decision_spans, span_texts
from engine.traces.failure_text import (
    ARGUMENT_ERROR,
    EMPTY_RESULTS,
    FINAL_ANSWER_TOOLS,
    PARSE_ERROR,
    STEP_ERROR,
    find_quote,
    message_template,
)
from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "failed_actions",
    "unparseable_outputs",
    "bad_tool_arguments",
    "action_error",
    "action_errors",
    "CODE_EXECUTION",
]

# The subject of failures of code a model wrote and a step ran (smolagents CodeAgent).
CODE_EXECUTION = "code execution"
_JSON_TYPES = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}  # fmt: skip


def _is_step(data: SpanData, i: int) -> bool:
    """An agent step: a non-model, non-tool, non-agent span named like a step."""
    k = int(data.kind[i])
    return k not in (int(SpanKind.LLM), int(SpanKind.TOOL), int(SpanKind.AGENT)) and bool(STEP_NAME.match(data.name[i]))


def action_error(data: SpanData, texts: SpanTexts, i: int) -> str | None:
    """The error a tool or step span's action ended in, whatever its OTel status: its
    exception or error status message, an error payload in its output, or (tools) an
    empty result. None for model calls, agents and spans that did not fail."""
    k = int(data.kind[i])
    tool = data.tool[i]
    step = _is_step(data, i)
    if k == int(SpanKind.LLM) or (tool is None and not step):
        return None
    if data.flags[i] & EXCEPTION or data.status[i] == int(SpanStatus.ERROR):
        return data.exception[i] or data.status_message[i] or "error status"
    if data.flags[i] & OUTPUT_ERROR:
        return data.output_error[i]
    text = texts.of(i)
    if step and text.output and (m := STEP_ERROR.search(text.output[:4000])):
        return text.output[m.start() : m.start() + 300]
    if (
        tool
        and tool.lower() not in FINAL_ANSWER_TOOLS
        and text.has_output
        and EMPTY_RESULTS.fullmatch(text.output[:200])
    ):
        return f"empty result: {text.output.strip()[:40] or '(empty)'}"
    return None


def action_errors(data: SpanData) -> dict[int, str]:
    """Every failed tool or step span -> its error text (computed once per data)."""
    cached = data.__dict__.get("_action_errors")
    if cached is None:
        texts = span_texts(data)
        found = {}
        for i in range(data.n_spans):
            if (e := action_error(data, texts, i)) is not None:
                found[i] = e
        # a step that failed because a tool inside it failed only repeats that failure
        # (or because its model call failed: that is the provider's error, class 7)
        failing = set(found) | set(np.flatnonzero(data.status == int(SpanStatus.ERROR)).tolist())
        inner = {int(data.parent[i]) for i in failing} if len(data.parent) == data.n_spans else set()
        cached = {i: e for i, e in found.items() if i not in inner}
        data.__dict__["_action_errors"] = cached
    return cached


def _subject(data: SpanData, i: int) -> str:
    return data.tool[i] or CODE_EXECUTION


def _blame(data: SpanData, rows: list[int]) -> tuple[list[int], dict[int, int]]:
    """Decision rows (one per decision span, first seen) and decision -> innermost context."""
    decisions = decision_spans(data)
    blamed: list[int] = []
    context: dict[int, int] = {}
    for i in sorted(rows, key=lambda r: -int(data.depth[r])):
        d = int(decisions[i]) if decisions[i] >= 0 else i
        if d not in context:
            blamed.append(d)
            context[d] = i if d != i else -1
    blamed.sort()
    return blamed, context


def _decision_quote(data: SpanData, texts: SpanTexts, subject: str):  # type: ignore[no-untyped-def]
    """Quote of the decision span: its call of `subject`, else its first code line, else its output."""

    def quote(i: int) -> str | None:
        raw = data.raw_text(i)
        text = texts.of(i).output
        calls = [c.arguments for c in texts.of(i).tool_calls if c.name == subject and c.arguments]
        needles = calls + [b.splitlines()[0] for b in code_blocks(text)[:1]]
        needles += ([subject] if subject != CODE_EXECUTION else []) + [text[:200]]
        return next((q for n in needles if (q := find_quote(raw, n))), None)

    return quote


def _error_quote(data: SpanData, errors: dict[int, str]):  # type: ignore[no-untyped-def]
    def quote(i: int) -> str | None:
        text = errors.get(i) or data.exception[i] or data.status_message[i]
        raw = data.raw_text(i)
        return find_quote(raw, text) or find_quote(raw, (text or "").partition(": ")[2])

    return quote


def failed_actions(data: SpanData) -> list[Pattern]:
    """Class 1: a tool call or a step's code execution whose result carries an error
    (exception event, ERROR status, an error payload, traceback, HTTP 4xx/5xx, 'not
    found', or an empty result) whatever its OTel status; the next step must recover.
    Grouped by tool (or code execution), blamed on the model call that chose the action.
    Does not match: errors the harness's parser raised (class 2), argument errors
    (class 3), a model call's own provider error (class 7), a final-answer tool's empty
    output, or agent spans that only repeat a step's error."""
    errors = action_errors(data)
    texts = span_texts(data)
    decisions = decision_spans(data)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in errors.items():
        if PARSE_ERROR.search(text) or ARGUMENT_ERROR.search(text):
            continue
        d = int(decisions[i])
        if d >= 0 and any(c.name == data.tool[i] and _unparseable(c.arguments) for c in texts.of(d).tool_calls):
            continue  # the call's arguments were not JSON: the harness could not parse it (class 2)
        groups[_subject(data, i)].append(i)
    patterns = []
    for subject, rows in groups.items():
        blamed, context = _blame(data, rows)
        templates: defaultdict[str, int] = defaultdict(int)
        for i in rows:
            templates[message_template(errors[i])] += 1
        top = "; ".join(f"{n}× {t}" for t, n in sorted(templates.items(), key=lambda kv: -kv[1])[:3])
        is_code = subject == CODE_EXECUTION
        patterns.append(
            pattern(
                data,
                "failed_action",
                f"failed action: {subject} ended in an error the next step had to recover from "
                f"({len(rows)} {'steps' if is_code else 'calls'})",
                blamed,
                detail=top,
                subject=subject,
                quote=_decision_quote(data, texts, subject),
                context=context,
                context_quote=_error_quote(data, errors),
                surface="system prompt" if is_code else "tool implementation",
            )
        )
    return ranked(patterns)


def unparseable_outputs(data: SpanData) -> list[Pattern]:
    """Class 2: model output the harness could not parse: an error on any span in the
    words of a parser (missing code block, 'could not parse', invalid JSON or format,
    OutputParserException, ModelBehaviorError), or a tool call whose arguments are not
    valid JSON. Counted per model call span name and model; blamed on the model call
    that wrote the output. Does not match: valid JSON with wrong fields (class 3), or
    output that parsed and then failed to run (class 1)."""
    texts = span_texts(data)
    rows: list[int] = []
    why: dict[int, str] = {}
    for i in range(data.n_spans):
        for text in (data.exception[i], data.status_message[i], data.output_error[i]):
            if text and PARSE_ERROR.search(text):
                rows.append(i)
                why[i] = text
                break
        else:
            if _is_step(data, i) and (out := texts.of(i).output) and (m := PARSE_ERROR.search(out[:4000])):
                rows.append(i)
                why[i] = out[max(0, m.start() - 40) : m.end() + 120]
    blamed, context = _blame(data, rows)
    for i in np.flatnonzero(data.kind == int(SpanKind.LLM)).tolist():
        for call in texts.of(i).tool_calls:
            if (arguments := call.arguments) is not None and _unparseable(arguments) and i not in context:
                blamed.append(i)
                context[i] = -1
                why[i] = arguments
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for d in sorted(set(blamed)):
        groups[(data.name[d], data.model[d] if data.model else None)].append(d)
    patterns = []
    for (name, model), found in groups.items():
        on = f"{name}" + (f" ({model})" if model else "")
        first = next(
            (why.get(context.get(d, -1), why.get(d)) for d in found if why.get(context.get(d, -1), why.get(d))), ""
        )
        patterns.append(
            pattern(
                data,
                "unparseable_output",
                f"model output the harness could not parse: {len(found)} calls of {on}",
                found,
                detail=f"first rejection: {(first or '')[:300]}",
                subject=name,
                quote=lambda i: find_quote(data.raw_text(i), texts.of(i).output[:200]),
                context=context,
                context_quote=lambda c: find_quote(data.raw_text(c), why.get(c)),
                surface="output parser",
            )
        )
    return ranked(patterns)


def _unparseable(arguments: str | None) -> bool:
    return bool(arguments and arguments.strip()) and not _parses(arguments)  # type: ignore[arg-type]


def _parses(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _schema_problems(args: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    declared = schema.get("properties")
    props: dict[str, Any] = declared if isinstance(declared, dict) else {}
    listed = schema.get("required")
    required = [r for r in listed if isinstance(r, str)] if isinstance(listed, list) else []
    problems = [f"unknown argument {k!r}" for k in args if props and k not in props]
    problems += [f"missing required argument {k!r}" for k in required if k not in args]
    for k, v in args.items():
        spec = props.get(k)
        want = spec.get("type") if isinstance(spec, dict) else None
        kinds = [want] if isinstance(want, str) else want if isinstance(want, list) else []
        allowed = tuple(t for name in kinds for t in _JSON_TYPES.get(name, ()))
        if (allowed and not isinstance(v, allowed)) or (isinstance(v, bool) and allowed and bool not in allowed):
            problems.append(f"argument {k!r} is {type(v).__name__}, schema wants {want}")
    return problems


def bad_tool_arguments(data: SpanData) -> list[Pattern]:
    """Class 3: tool calls whose arguments do not fit the tool offered: names not in its
    JSON schema's properties, required ones missing, wrong JSON types (a model's tool call
    checked against `llm.tools.N.tool.json_schema` / gen_ai tool definitions, or a tool
    span's keyword arguments against its `tool.parameters`), and tool or step errors in
    the words of argument checking (unexpected keyword argument, missing required
    argument, validation error). Blamed on the model call that wrote the call. Does not
    match: arguments that are not JSON at all (class 2); calls of tools never offered
    (`unoffered_tool_call`); tools whose schema was not recorded."""
    texts = span_texts(data)
    errors = action_errors(data)
    problems: dict[int, list[str]] = defaultdict(list)
    subject_of: dict[int, str] = {}
    context: dict[int, int] = {}
    trace_schemas: dict[int, dict[str, dict]] = defaultdict(dict)  # type: ignore[type-arg]
    llm_rows = np.flatnonzero(data.kind == int(SpanKind.LLM)).tolist()
    for i in llm_rows:
        trace_schemas[int(data.trace[i])].update(texts.of(i).schemas)
    for i in llm_rows:
        text = texts.of(i)
        schemas = text.schemas or trace_schemas[int(data.trace[i])]
        for call in text.tool_calls:
            schema = schemas.get(call.name)
            args = _loads_dict(call.arguments)
            if schema is None or args is None:
                continue
            if found := _schema_problems(args, schema):
                problems[i] += [f"{call.name}: {p}" for p in found]
                subject_of.setdefault(i, call.name)
                context.setdefault(i, -1)
    decisions = decision_spans(data)
    for i, text in list(texts.items()):
        params, tool = text.tool_parameters, data.tool[i]
        if params and tool and (parsed := _loads_dict(text.tool_input)) is not None:
            given = parsed.get("kwargs")
            kwargs = given if isinstance(given, dict) else {}
            if unknown := [k for k in kwargs if k not in params]:
                d = int(decisions[i]) if decisions[i] >= 0 else i
                problems[d] += [f"{tool}: unknown argument {k!r}" for k in unknown]
                subject_of.setdefault(d, tool)
                context.setdefault(d, i)
    for i, error in errors.items():
        if ARGUMENT_ERROR.search(error) and not PARSE_ERROR.search(error):
            d = int(decisions[i]) if decisions[i] >= 0 else i
            # a step's error names no tool column: the tool the decision called is the subject
            called = [c.name for c in texts.of(d).tool_calls if c.name.lower() not in FINAL_ANSWER_TOOLS]
            subject = data.tool[i] or (called[0] if called else CODE_EXECUTION)
            problems[d].append(f"{subject}: {error[:200]}")
            subject_of.setdefault(d, subject)
            context.setdefault(d, i)
    groups: dict[str, list[int]] = defaultdict(list)
    for d in sorted(problems):
        groups[subject_of[d]].append(d)
    patterns = []
    for subject, rows in groups.items():
        first = problems[rows[0]][0]
        patterns.append(
            pattern(
                data,
                "bad_tool_arguments",
                f"arguments that do not fit tool {subject}: {len(rows)} calls",
                rows,
                detail=f"e.g. {first}",
                subject=subject,
                quote=_decision_quote(data, texts, subject),
                context=context,
                context_quote=_error_quote(data, errors),
                surface="tool description or schema",
            )
        )
    return ranked(patterns)


def _loads_dict(text: str | None) -> dict | None:  # type: ignore[type-arg]
    if not text or text.lstrip()[:1] != "{":
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
