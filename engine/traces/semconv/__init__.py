"""Semantic conventions: what a flat attribute dict says about a span.

Every trace shape ends in a flat `{"dotted.key": value}` attribute dict. This
module maps the three vocabularies agents actually emit - OpenInference
(`openinference.span.kind`, `llm.*`, `tool.*`), inference.net projections
(`inference.*`) and OTel GenAI (`gen_ai.*`) - onto the canonical span fields.
The failure signals (`output_error`, `refusal`, offered / requested tools,
`exception`) are judged by `semconv.signals`, called from here once, at read
time; its functions are re-exported so callers need one import.

The first vocabulary that answers wins; nothing is summed or rolled up here.
`read_fields` is on the indexing hot path: lookups planned once per attribute
key set, no regex unless a TOOL/LLM span has output text to judge.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import orjson

from engine.traces.memo import remember
from engine.traces.model import SpanKind, SpanStatus
from engine.traces.semconv.signals import (
    ERROR_TEXT_CHARS,
    exception_text,
    is_refusal,
    offered_tools,
    output_error,
    requested_tools,
    tool_call_keys,
)

__all__ = [
    "ERROR_TEXT_CHARS",
    "Semantics",
    "read_semantics",
    "read_fields",
    "span_kind",
    "offered_tools",
    "requested_tools",
    "output_text",
    "output_error",
    "is_refusal",
    "exception_text",
    "as_int",
]

_K = SpanKind
# Enum members as plain globals: attribute access on an Enum class is slow on the hot path.
_LLM, _TOOL, _AGENT, _ERROR = SpanKind.LLM, SpanKind.TOOL, SpanKind.AGENT, SpanStatus.ERROR
# openinference.span.kind and inference.observation_kind values.
KIND_BY_LABEL: dict[str, SpanKind] = {
    "LLM": _K.LLM, "AGENT": _K.AGENT, "TOOL": _K.TOOL, "CHAIN": _K.CHAIN,
    "RETRIEVER": _K.RETRIEVER, "RERANKER": _K.RETRIEVER, "EMBEDDING": _K.EMBEDDING,
    "GUARDRAIL": _K.GUARDRAIL, "PROMPT": _K.CHAIN, "EVALUATOR": _K.OTHER,
}  # fmt: skip
# gen_ai.operation.name values (OTel GenAI conventions, plus any-agent's call_llm).
KIND_BY_OPERATION: dict[str, SpanKind] = {
    "chat": _K.LLM, "text_completion": _K.LLM, "generate_content": _K.LLM, "call_llm": _K.LLM,
    "execute_tool": _K.TOOL, "invoke_agent": _K.AGENT, "create_agent": _K.AGENT,
    "embeddings": _K.EMBEDDING,
}  # fmt: skip
# Span-name fragments, tried in order, when no attribute names the kind.
KIND_BY_NAME_FRAGMENT: tuple[tuple[str, SpanKind], ...] = (
    ("embedding", _K.EMBEDDING), ("guardrail", _K.GUARDRAIL), ("retriev", _K.RETRIEVER),
    ("execute_tool", _K.TOOL), ("function.", _K.TOOL), ("tool", _K.TOOL),
    ("call_llm", _K.LLM), ("chat", _K.LLM), ("completion", _K.LLM), ("messages.create", _K.LLM),
    ("generate_content", _K.LLM), ("generation", _K.LLM), ("llm", _K.LLM),
    ("invoke_agent", _K.AGENT), ("agent.", _K.AGENT), ("agent_run", _K.AGENT),
    ("handoff", _K.CHAIN), ("chain", _K.CHAIN), ("workflow", _K.CHAIN),
)  # fmt: skip

_MODEL_KEYS = ("llm.model_name", "inference.llm.model_name", "gen_ai.response.model", "gen_ai.request.model",
               "embedding.model_name")  # fmt: skip
_INPUT_TOKEN_KEYS = ("llm.token_count.prompt", "inference.llm.input_tokens", "gen_ai.usage.input_tokens",
                     "gen_ai.usage.prompt_tokens")  # fmt: skip
_OUTPUT_TOKEN_KEYS = ("llm.token_count.completion", "inference.llm.output_tokens", "gen_ai.usage.output_tokens",
                      "gen_ai.usage.completion_tokens")  # fmt: skip
_COST_KEYS = ("llm.cost.total", "inference.llm.cost.total", "gen_ai.usage.cost")
_AGENT_KEYS = ("inference.agent_name", "agent.name", "gen_ai.agent.name")
_TOOL_NAME_KEYS = ("tool.name", "gen_ai.tool.name")
_TOOL_ARGS_KEYS = ("gen_ai.tool.call.arguments", "gen_ai.tool.args", "input.value")
_TOOL_OUTPUT_KEYS = ("output.value", "gen_ai.tool.call.result", "gen_ai.output", "tool.output")
_LLM_OUTPUT_KEYS = ("llm.output_messages.0.message.content", "output.value", "gen_ai.output",
                    "gen_ai.output.messages", "gen_ai.completion")  # fmt: skip


class Semantics(NamedTuple):
    """The canonical fields an attribute dict gives; readers copy them onto a `Span`."""

    kind: SpanKind
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    tool_name: str | None
    tool_args: str | None
    agent_name: str | None
    output_error: str | None
    offered_tools: tuple[str, ...]
    requested_tools: tuple[str, ...]
    refusal: bool
    exception: str | None


class _Plan(NamedTuple):
    """Which vocabulary keys an attribute key set holds, in priority order (empty: absent)."""

    kind: tuple[tuple[str, dict[str, SpanKind]], ...]
    model: tuple[str, ...]
    tin: tuple[str, ...]
    tout: tuple[str, ...]
    cost: tuple[str, ...]
    cost_parts: bool
    agent: tuple[str, ...]
    tool_name: tuple[str, ...]
    tool_args: tuple[str, ...]
    tool_output: tuple[str, ...]
    llm_output: tuple[str, ...]
    offered: bool
    requested: bool
    call_keys: tuple[str, ...]  # `tool_call_keys` of the key set
    exception: bool


# Spans from one instrumentation share their attribute key sets, so the key
# lookups are planned once per key set (keyed by `tuple(attrs)`, a C-speed step).
_PLANS: dict[tuple[str, ...], _Plan] = {}
PLAN_CACHE_MAX = 4096
_KIND_KEYS = (("openinference.span.kind", KIND_BY_LABEL), ("inference.observation_kind", KIND_BY_LABEL),
              ("gen_ai.operation.name", KIND_BY_OPERATION))  # fmt: skip
_OFFERED_KEYS = ("llm.tools.0.tool.json_schema", "llm.tools.0.tool.name", "agent.tools", "gen_ai.tool.definitions",
                 "gen_ai.agent.tools", "smolagents.tools_names", "smolagents.managed_agents.0.name")  # fmt: skip
_REQUESTED_KEYS = ("llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                   "llm.output_messages.1.message.role", "gen_ai.output", "gen_ai.output.messages")  # fmt: skip
_COST_PART_KEYS = ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost", "llm.cost.prompt", "llm.cost.completion")


def _make_plan(attrs: dict[str, Any], keys: tuple[str, ...]) -> _Plan:
    def present(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k for k in names if k in attrs)

    plan = _Plan(
        tuple(kv for kv in _KIND_KEYS if kv[0] in attrs), present(_MODEL_KEYS), present(_INPUT_TOKEN_KEYS),
        present(_OUTPUT_TOKEN_KEYS), present(_COST_KEYS), any(k in attrs for k in _COST_PART_KEYS),
        present(_AGENT_KEYS), present(_TOOL_NAME_KEYS), present(_TOOL_ARGS_KEYS), present(_TOOL_OUTPUT_KEYS),
        present(_LLM_OUTPUT_KEYS), any(k in attrs for k in _OFFERED_KEYS), any(k in attrs for k in _REQUESTED_KEYS),
        tool_call_keys(keys), "exception.type" in attrs or "exception.message" in attrs,
    )  # fmt: skip
    return remember(_PLANS, keys, plan, PLAN_CACHE_MAX)


def read_semantics(
    attrs: dict[str, Any],
    name: str,
    status: SpanStatus,
    events: list[Any] | None = None,
    kind: SpanKind | None = None,
) -> Semantics:
    """All canonical fields of one span; `kind` overrides detection when the shape knows it."""
    return Semantics(*read_fields(attrs, name, status, events, kind))


def read_fields(
    attrs: dict[str, Any],
    name: str,
    status: SpanStatus,
    events: list[Any] | None = None,
    kind: SpanKind | None = None,
) -> tuple[Any, ...]:
    """`read_semantics` as a plain tuple in `Semantics` order: the indexing hot path.

    It reads only the keys its plan says are there, and calls the text judges
    only when there is text to judge.
    """
    keys = tuple(attrs)
    (kinds, models, tins, touts, costs, cost_parts, agents, tool_names, tool_args_keys, tool_outputs, llm_outputs,
     has_offered, has_requested, call_keys, has_exception) = _PLANS.get(keys) or _make_plan(attrs, keys)  # fmt: skip
    if kind is None:
        for key, table in kinds:
            label = attrs[key]
            if type(label) is str and (kind := table.get(label) or table.get(label.upper())) is not None:
                break
        else:
            kind = _kind_from_name(name)
    tool_name = tool_args = out_err = None
    offered: tuple[str, ...] = ()
    requested: tuple[str, ...] = ()
    refusal = False
    if kind is _LLM:
        if has_offered:
            offered = offered_tools(attrs)
        if has_requested:
            requested = requested_tools(attrs, call_keys)
        if llm_outputs and not requested:
            refusal = is_refusal(_first_text(attrs, llm_outputs))
    elif kind is _TOOL:
        tool_name = _first_text(attrs, tool_names) or _tool_name_from_span_name(name)
        tool_args = _first_text(attrs, tool_args_keys)
        if tool_outputs and status is not _ERROR:
            out_err = output_error(_first_text(attrs, tool_outputs))
    elif kind is _AGENT and has_offered:
        offered = offered_tools(attrs)
    model = tin = tout = cost = agent = exception = None
    for key in models:
        if (v := attrs[key]) and type(v) is str:
            model = v
            break
    for key in tins:
        if (v := attrs[key]) is not None:
            tin = v if type(v) is int else as_int(v)
            break
    for key in touts:
        if (v := attrs[key]) is not None:
            tout = v if type(v) is int else as_int(v)
            break
    for key in costs:
        if (v := attrs[key]) is not None:
            cost = v if type(v) is float else _as_float(v)
            break
    else:
        if cost_parts:
            cost = _cost_from_parts(attrs)
    for key in agents:
        if (v := attrs[key]) and type(v) is str:
            agent = v
            break
    if events or has_exception:
        exception = exception_text(events, attrs)
    return kind, model, tin, tout, cost, tool_name, tool_args, agent, out_err, offered, requested, refusal, exception


_NAME_KINDS: dict[str, SpanKind] = {}


def _kind_from_name(name: str) -> SpanKind:
    kind = _NAME_KINDS.get(name)
    if kind is None:
        low = name.lower()
        kind = next((k for fragment, k in KIND_BY_NAME_FRAGMENT if fragment in low), SpanKind.OTHER)
        remember(_NAME_KINDS, name, kind, PLAN_CACHE_MAX)
    return kind


def span_kind(attrs: dict[str, Any], name: str) -> SpanKind:
    """From openinference.span.kind, inference.observation_kind, gen_ai.operation.name, then the name."""
    for key in ("openinference.span.kind", "inference.observation_kind"):
        label = attrs.get(key)
        if type(label) is str:
            kind = KIND_BY_LABEL.get(label) or KIND_BY_LABEL.get(label.upper())
            if kind is not None:
                return kind
    op = attrs.get("gen_ai.operation.name")
    if type(op) is str and op in KIND_BY_OPERATION:
        return KIND_BY_OPERATION[op]
    return _kind_from_name(name)


def as_int(value: Any) -> int | None:
    """A token count as int: ints, integral floats and digit strings ("123"); else None."""
    t = type(value)
    if t is int:
        count: int = value
        return count
    if t is str:
        v = value.strip()
        return int(v) if v.isdigit() else None
    if t is float and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    """A finite float, else None: an integer too big for a float (400 digits) or inf is no amount."""
    t = type(value)
    try:
        out = float(value) if t is float or t is int or t is str else None
    except (ValueError, OverflowError):
        return None
    return out if out is not None and math.isfinite(out) else None


def _first_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value if type(value) is str else _dumps(value)
    return None


def _dumps(value: Any) -> str:
    """Non-text attribute values as JSON text (integers past 64 bits through the stdlib)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, default=str, ensure_ascii=False)


def _cost_from_parts(attrs: dict[str, Any]) -> float | None:
    """Input + output cost when no total is given (any-agent, OpenInference prompt/completion)."""
    present = [c for k in _COST_PART_KEYS if (c := _as_float(attrs.get(k))) is not None]
    return sum(present) if present else None


def _tool_name_from_span_name(name: str) -> str | None:
    for prefix in ("execute_tool ", "function.", "tool."):
        if name.startswith(prefix):
            return name[len(prefix) :].strip() or None
    return name or None


def output_text(attrs: dict[str, Any], kind: SpanKind) -> str | None:
    """The span's output as text: a tool's result or the model's first output message."""
    keys = _TOOL_OUTPUT_KEYS if kind is _TOOL else _LLM_OUTPUT_KEYS
    return _first_text(attrs, keys)
