"""Semantic conventions: what a flat attribute dict says about a span.

Every trace shape ends in a flat `{"dotted.key": value}` attribute dict. This
module reads the three vocabularies agents actually emit - OpenInference
(`openinference.span.kind`, `llm.*`, `tool.*`), inference.net projections
(`inference.*`) and OTel GenAI (`gen_ai.*`) - into the canonical span fields,
and derives the failure signals analytics need (`output_error`, `refusal`,
offered / requested tools, `exception`) once, at read time.

The first vocabulary that answers wins; nothing is summed or rolled up here.
`read_semantics` is on the HALO hot path: plain dict lookups, no regex unless a
span is a TOOL/LLM span with output text to judge.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "ERROR_TEXT_CHARS",
    "Semantics",
    "read_semantics",
    "span_kind",
    "model_name",
    "token_counts",
    "cost_of",
    "agent_name",
    "offered_tools",
    "requested_tools",
    "output_text",
    "output_error",
    "is_refusal",
    "exception_text",
    "as_int",
]

# Longest error / exception text kept on a span (the raw span keeps the rest).
ERROR_TEXT_CHARS = 300
# How much of an output is judged for error payloads and refusals.
JUDGED_CHARS = 4000
# Outputs up to this size are "short": only there is a bare "not found" an error.
SHORT_OUTPUT_CHARS = 200

_K = SpanKind
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
    ("invoke_agent", _K.AGENT), ("agent", _K.AGENT),
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


def read_semantics(
    attrs: dict[str, Any],
    name: str,
    status: SpanStatus,
    events: list[Any] | None = None,
    kind: SpanKind | None = None,
) -> Semantics:
    """All canonical fields of one span; `kind` overrides detection when the shape knows it."""
    if kind is None:
        kind = span_kind(attrs, name)
    tool_name = tool_args = out_err = None
    offered: tuple[str, ...] = ()
    requested: tuple[str, ...] = ()
    refusal = False
    if kind is SpanKind.TOOL:
        tool_name = _first_text(attrs, _TOOL_NAME_KEYS) or _tool_name_from_span_name(name)
        tool_args = _first_text(attrs, _TOOL_ARGS_KEYS)
        if status is not SpanStatus.ERROR:
            out_err = output_error(output_text(attrs, kind))
    elif kind is SpanKind.LLM:
        offered = offered_tools(attrs)
        requested = requested_tools(attrs)
        if not requested:
            refusal = is_refusal(output_text(attrs, kind))
    elif kind is SpanKind.AGENT:
        offered = offered_tools(attrs)
    in_tok, out_tok = token_counts(attrs)
    return Semantics(
        kind, model_name(attrs), in_tok, out_tok, cost_of(attrs), tool_name, tool_args,
        agent_name(attrs), out_err, offered, requested, refusal, exception_text(events, attrs),
    )  # fmt: skip


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
    low = name.lower()
    for fragment, kind in KIND_BY_NAME_FRAGMENT:
        if fragment in low:
            return kind
    return SpanKind.OTHER


def as_int(value: Any) -> int | None:
    """A token count as int: ints, integral floats and digit strings ("123"); else None."""
    t = type(value)
    if t is int:
        return value
    if t is str:
        v = value.strip()
        return int(v) if v.isdigit() else None
    if t is float and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    t = type(value)
    if t is float or t is int:
        return float(value)
    if t is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _first_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value if type(value) is str else orjson.dumps(value).decode()
    return None


def model_name(attrs: dict[str, Any]) -> str | None:
    for key in _MODEL_KEYS:
        value = attrs.get(key)
        if value and type(value) is str:
            return value
    return None


def token_counts(attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    """(input, output) tokens this span reports; the first key present wins."""
    tin = tout = None
    for key in _INPUT_TOKEN_KEYS:
        value = attrs.get(key)
        if value is not None and (tin := as_int(value)) is not None:
            break
    for key in _OUTPUT_TOKEN_KEYS:
        value = attrs.get(key)
        if value is not None and (tout := as_int(value)) is not None:
            break
    return tin, tout


def cost_of(attrs: dict[str, Any]) -> float | None:
    """Total cost in USD: a total attribute, else input + output cost parts."""
    for key in _COST_KEYS:
        value = attrs.get(key)
        if value is not None and (cost := _as_float(value)) is not None:
            return cost
    parts = [_as_float(attrs.get(k)) for k in ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost",
                                               "llm.cost.prompt", "llm.cost.completion")]  # fmt: skip
    present = [p for p in parts if p is not None]
    return sum(present) if present else None


def agent_name(attrs: dict[str, Any]) -> str | None:
    for key in _AGENT_KEYS:
        value = attrs.get(key)
        if value and type(value) is str:
            return value
    return None


def _tool_name_from_span_name(name: str) -> str | None:
    for prefix in ("execute_tool ", "function.", "tool."):
        if name.startswith(prefix):
            return name[len(prefix) :].strip() or None
    return name or None


def _loads(text: Any) -> Any:
    if type(text) is not str or not text or text[0] not in "[{":
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _tool_def_name(schema: Any) -> str | None:
    schema = _loads(schema)
    if isinstance(schema, dict):
        fn = schema.get("function")
        name = fn.get("name") if isinstance(fn, dict) else schema.get("name")
        return name if isinstance(name, str) and name else None
    return schema if isinstance(schema, str) and schema else None


def offered_tools(attrs: dict[str, Any]) -> tuple[str, ...]:
    """Tool names offered to the model: llm.tools.N, gen_ai.tool.definitions, agent.tools."""
    names: list[str] = []
    i = 0
    while (schema := attrs.get(f"llm.tools.{i}.tool.json_schema")) is not None or f"llm.tools.{i}.tool.name" in attrs:
        name = _tool_def_name(schema) if schema is not None else attrs.get(f"llm.tools.{i}.tool.name")
        if name:
            names.append(name)
        i += 1
    for key in ("gen_ai.tool.definitions", "agent.tools", "gen_ai.agent.tools"):
        defs = _loads(attrs.get(key))
        if isinstance(defs, list):
            names.extend(n for d in defs if (n := _tool_def_name(d)))
    return tuple(dict.fromkeys(names))


_TOOL_CALL_SUFFIX = ".tool_call.function.name"


def requested_tools(attrs: dict[str, Any]) -> tuple[str, ...]:
    """Tool names the model asked to call: OpenInference output tool_calls, gen_ai output parts."""
    names = [
        v for k, v in attrs.items()
        if k.endswith(_TOOL_CALL_SUFFIX) and k.startswith("llm.output_messages.") and isinstance(v, str)
    ]  # fmt: skip
    if not names:
        for key in ("gen_ai.output", "gen_ai.output.messages"):
            text = attrs.get(key)
            if type(text) is str and "tool" in text:
                _collect_tool_calls(_loads(text), names, 0)
    return tuple(names)


def _collect_tool_calls(value: Any, names: list[str], depth: int) -> None:
    """any-agent `{"tool.name"}`, GenAI parts `{"type": "tool_call", "name"}`, OpenAI `tool_calls`."""
    if depth > 4:
        return
    if isinstance(value, list):
        for item in value:
            _collect_tool_calls(item, names, depth + 1)
    elif isinstance(value, dict):
        if isinstance(value.get("tool.name"), str):
            names.append(value["tool.name"])
        elif value.get("type") in ("tool_call", "function_call") and isinstance(value.get("name"), str):
            names.append(value["name"])
        elif isinstance(value.get("function"), dict) and isinstance(value["function"].get("name"), str):
            names.append(value["function"]["name"])
        else:
            for key in ("parts", "tool_calls", "content"):
                if isinstance(value.get(key), list):
                    _collect_tool_calls(value[key], names, depth + 1)


def output_text(attrs: dict[str, Any], kind: SpanKind) -> str | None:
    """The span's output as text: a tool's result or the model's first output message."""
    keys = _TOOL_OUTPUT_KEYS if kind is SpanKind.TOOL else _LLM_OUTPUT_KEYS
    return _first_text(attrs, keys)


# --- output_error: an error payload in a tool's output while its status says ok ---
# Rules (conservative; each needs an explicit error marker, ordinary prose never matches):
#  1. the output starts with "Error:" / "Error (" / "Error running ...", "Exception:",
#     "An error occurred", "Failed to", "Traceback", "HTTP Error 404", or a Python
#     exception name ("ValueError: ...");
#  2. it contains a Python traceback header anywhere;
#  3. it is a JSON object whose "error" is non-empty, or with "is_error"/"isError": true,
#     "status": "error"/"failed", "success": false, or an HTTP status code >= 400;
#  4. it starts with an HTTP error status ("404 Not Found", "HTTP/1.1 500 ...", "403 Client Error");
#  5. it is short (<= SHORT_OUTPUT_CHARS) and says "not found", "no such file or directory",
#     "permission denied" or "[Errno N]".
_ERROR_START = re.compile(
    r"\s*(?:error\s*[:\-\[(]|error (?:occurred|running|executing|calling|while|during|when|processing|code)\b"
    r"|exception\s*:|an (?:unexpected )?error (?:occurred|has occurred)|failed to\b"
    r"|traceback \(most recent call last\)|http error [45]\d\d\b|(?-i:[A-Z]\w*(?:Error|Exception)): )",
    re.IGNORECASE,
)
_TRACEBACK = "Traceback (most recent call last)"
_HTTP_ERROR = re.compile(
    r"\s*(?:HTTP/\d(?:\.\d)?\s+)?[45]\d\d:?\s+(?:Bad Request|Unauthorized|Payment Required|Forbidden|Not Found"
    r"|Method Not Allowed|Not Acceptable|Request Timeout|Conflict|Gone|Unprocessable (?:Entity|Content)"
    r"|Too Many Requests|Internal Server Error|Not Implemented|Bad Gateway|Service Unavailable|Gateway Timeout"
    r"|Client Error|Server Error)\b",
    re.IGNORECASE,
)
_SHORT_ERROR = re.compile(r"\bnot found\b|\bno such file or directory\b|\bpermission denied\b|\[errno \d+\]", re.I)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0][:ERROR_TEXT_CHARS]


def output_error(text: str | None) -> str | None:
    """A short error text when a tool output carries an error payload, else None (rules above)."""
    if not text:
        return None
    head = text[:JUDGED_CHARS]
    if _ERROR_START.match(head) or _HTTP_ERROR.match(head):
        return _first_line(head)
    at = head.find(_TRACEBACK)
    if at >= 0:
        lines = [ln for ln in head[at:].splitlines() if ln.strip()]
        return lines[-1].strip()[:ERROR_TEXT_CHARS] if len(lines) > 1 else _first_line(head[at:])
    stripped = head.lstrip()
    if stripped.startswith("{"):
        found = _json_error(text)
        if found:
            return found
    if len(text) <= SHORT_OUTPUT_CHARS and _SHORT_ERROR.search(text):
        return _first_line(text)
    return None


def _json_error(text: str) -> str | None:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    err = doc.get("error")
    if err not in (None, False, "", {}, []):
        if isinstance(err, dict):
            err = err.get("message") or err.get("type") or orjson.dumps(err).decode()
        return str(err)[:ERROR_TEXT_CHARS]
    if doc.get("is_error") is True or doc.get("isError") is True:
        return _first_line(str(doc.get("content") or doc.get("message") or "error flag set in tool output"))
    status = doc.get("status")
    if isinstance(status, str) and status.lower() in ("error", "failed", "failure"):
        return str(doc.get("message") or doc.get("detail") or f"status: {status}")[:ERROR_TEXT_CHARS]
    if doc.get("success") is False:
        return str(doc.get("message") or doc.get("detail") or "success: false")[:ERROR_TEXT_CHARS]
    for key in ("status_code", "statusCode", "status"):
        code = doc.get(key)
        if type(code) is int and 400 <= code <= 599:
            return str(doc.get("message") or doc.get("detail") or f"HTTP {code}")[:ERROR_TEXT_CHARS]
    return None


# --- refusal: the model's answer opens by declining ---
_REFUSAL = re.compile(
    r"\W*(?:(?:i'm|i am) (?:so |very |really )?sorry|sorry|i apologi[sz]e|unfortunately)?[,.!]?\s*(?:but\s*,?\s*)?"
    r"(?:i|we)(?:'m|'re| am| are)?\s+(?:can't|cannot|can not|won't|will not|unable to|not able to"
    r"|must decline to|have to decline to)\s+(?:help|assist|comply|provide|do that|fulfil|fulfill|support|answer"
    r"|complete|create|generate|share|engage|continue|give|write|produce)",
    re.IGNORECASE,
)


def is_refusal(text: str | None) -> bool:
    """True when an LLM output opens with a clear refusal ("I'm sorry, but I can't help with that")."""
    if not text:
        return False
    head = text[:400]
    if head.startswith("{") and '"content"' in head:  # output.value as a JSON message
        msg = _loads(text)
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            head = msg["content"][:400]
    return _REFUSAL.match(head.replace("\u2019", "'")) is not None


def exception_text(events: list[Any] | None, attrs: dict[str, Any] | None = None) -> str | None:
    """"Type: message" of the first exception event (OTel or TRAIL's capitalised keys)."""
    for event in events or ():
        if not isinstance(event, dict):
            continue
        name = event.get("name", event.get("Name"))
        if not (isinstance(name, str) and name.lower() == "exception"):
            continue
        ev_attrs = event.get("attributes", event.get("Attributes"))
        if isinstance(ev_attrs, dict):
            found = _exception_from(ev_attrs)
            if found:
                return found
        return "exception"
    return _exception_from(attrs) if attrs else None


def _exception_from(attrs: dict[str, Any]) -> str | None:
    etype, message = attrs.get("exception.type"), attrs.get("exception.message")
    if not etype and not message:
        return None
    text = f"{etype}: {message}" if etype and message else str(etype or message)
    return text[:ERROR_TEXT_CHARS]
