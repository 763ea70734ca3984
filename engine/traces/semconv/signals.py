"""Failure signals read from a span's attribute values: the evidence analytics build on.

Which tools a model was offered and which it asked for (so a call to a tool never
offered can be caught), whether a tool's output is an error payload while its
status says ok, whether a model's answer opens with a refusal, and the text of a
recorded exception. `semconv.read_fields` calls these once per span at index time,
only on spans whose attribute keys say there is something to judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from engine.traces.memo import remember

__all__ = [
    "ERROR_TEXT_CHARS",
    "offered_tools",
    "requested_tools",
    "tool_call_keys",
    "output_error",
    "is_refusal",
    "exception_text",
]

# Longest error / exception text kept on a span (the raw span keeps the rest).
ERROR_TEXT_CHARS = 300
# How much of an output is judged for error payloads and refusals.
JUDGED_CHARS = 4000
# Outputs up to this size are "short": only there is a bare "not found" an error.
SHORT_OUTPUT_CHARS = 200


def _loads(text: Any) -> Any:
    if type(text) is not str or not text or text[0] not in "[{":
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


# A tool schema text -> its tool name: the same few schemas come with every LLM span of an agent,
# and parsing them is most of `offered_tools`. Long texts are not kept.
_TOOL_NAMES: dict[str, str | None] = {}
_TOOL_NAMES_MAX = 4096
_TOOL_NAME_TEXT_MAX = 4096


def _tool_def_name(schema: Any) -> str | None:
    if type(schema) is not str or len(schema) > _TOOL_NAME_TEXT_MAX:
        return _tool_def_name_of(schema)
    if schema in _TOOL_NAMES:
        return _TOOL_NAMES[schema]
    return remember(_TOOL_NAMES, schema, _tool_def_name_of(schema), _TOOL_NAMES_MAX)


def _tool_def_name_of(schema: Any) -> str | None:
    schema = _loads(schema)
    if isinstance(schema, dict):
        fn = schema.get("function")
        name = fn.get("name") if isinstance(fn, dict) else schema.get("name")
        return name if isinstance(name, str) and name else None
    return schema if isinstance(schema, str) and schema else None


def offered_tools(attrs: dict[str, Any]) -> tuple[str, ...]:
    """Tool names offered to the model: llm.tools.N, gen_ai.tool.definitions, agent.tools."""
    names: list[str] = []
    get = attrs.get
    i = 0
    while True:
        schema_key = _SCHEMA_KEYS[i] if i < _SPELLED else f"llm.tools.{i}.tool.json_schema"
        name_key = _NAME_KEYS[i] if i < _SPELLED else f"llm.tools.{i}.tool.name"
        if (schema := get(schema_key)) is None and name_key not in attrs:
            break
        name = _tool_def_name(schema) if schema is not None else get(name_key)
        if name and type(name) is str:  # a number or an object is no tool name
            names.append(name)
        i += 1
    for key in ("gen_ai.tool.definitions", "agent.tools", "gen_ai.agent.tools", "smolagents.tools_names"):
        if (defs := get(key)) is not None and isinstance(defs := _loads(defs), list):
            names.extend(n for d in defs if (n := _tool_def_name(d)))
    # smolagents offers its managed agents to the model as callable tools too.
    i = 0
    while (agent := get(_MANAGED_KEYS[i] if i < _SPELLED else f"smolagents.managed_agents.{i}.name")) is not None:
        if isinstance(agent, str) and agent:
            names.append(agent)
        i += 1
    return tuple(dict.fromkeys(names))


# The numbered keys `offered_tools` looks up, spelled once for the first few numbers.
_SPELLED = 16
_SCHEMA_KEYS = tuple(f"llm.tools.{i}.tool.json_schema" for i in range(_SPELLED))
_NAME_KEYS = tuple(f"llm.tools.{i}.tool.name" for i in range(_SPELLED))
_MANAGED_KEYS = tuple(f"smolagents.managed_agents.{i}.name" for i in range(_SPELLED))


_TOOL_CALL_SUFFIX = ".tool_call.function.name"


def tool_call_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The OpenInference output tool-call name keys among `keys`, in their order."""
    return tuple(k for k in keys if k.endswith(_TOOL_CALL_SUFFIX) and k.startswith("llm.output_messages."))


def requested_tools(attrs: dict[str, Any], call_keys: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Tool names the model asked to call: OpenInference output tool_calls, gen_ai output parts.

    `call_keys` is `tool_call_keys(attrs)` when the caller has it already (planned per key set).
    """
    names: list[str] = []
    if "llm.output_messages.0.message.tool_calls.0.tool_call.function.name" in attrs or (
        "llm.output_messages.1.message.role" in attrs
    ):  # tool calls are in the first message; a second message is the rare case worth a scan
        keys = tool_call_keys(attrs) if call_keys is None else call_keys
        names = [v for k in keys if isinstance(v := attrs[k], str)]
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


def _message_text(value: Any, depth: int = 0) -> str | None:
    """The first text of a JSON-encoded output: `{"content"}`, GenAI `parts`, or a list of messages."""
    if isinstance(value, str) or depth > 3:
        return value if isinstance(value, str) else None
    if isinstance(value, list):
        for item in value[:3]:
            if text := _message_text(item, depth + 1):
                return text
        return None
    if isinstance(value, dict):
        if isinstance(content := value.get("content"), str):
            return content
        if value.get("type") == "text" and isinstance(value.get("content", value.get("text")), str):
            return value.get("content", value.get("text"))
        for key in ("parts", "content"):
            if isinstance(value.get(key), list):
                return _message_text(value[key], depth + 1)
    return None


def is_refusal(text: str | None) -> bool:
    """True when an LLM output opens with a clear refusal ("I'm sorry, but I can't help with that")."""
    if not text:
        return False
    head = text[:400]
    if head[0] in "[{":  # a JSON-encoded message (output.value, gen_ai.output.messages)
        head = (_message_text(_loads(text)) or "")[:400]
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
