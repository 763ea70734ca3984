"""What the class detectors read from a span beyond the index columns, and who decided.

The index keeps names, kinds, statuses and tool names as columns; judging a model's
output (a code block, a tool call's arguments, a claim), a tool's observation or the
schema a tool was offered with needs the span's attributes. `SpanTexts` reads them once
per analysis, only for model, tool, step and agent spans, from any shape the readers
accept (OpenInference flat keys, OTel GenAI `gen_ai.*`, OpenAI Agents `span_data`,
TRAIL's Python-repr attribute strings).

`decision_spans` maps every span to its decision span: the model call whose output
chose the action the span carries out. People blame that call (issue 11: about nine
in ten labelled errors sit on it), and a harness change acts there.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson

from engine.traces.analytics.data import SpanData
from engine.traces.model import SpanKind
from engine.traces.readers._registry import declared_attributes

__all__ = [
    "TEXT_CHARS",
    "ToolCall",
    "SpanText",
    "SpanTexts",
    "span_texts",
    "decision_spans",
    "next_llm",
    "code_blocks",
    "STEP_NAME",
]

# Characters of one output or observation kept for judging (its full length is kept too).
TEXT_CHARS = 50_000
# Spans whose name reads as a numbered agent step (smolagents "Step 3", LangGraph-style "step_3").
STEP_NAME = re.compile(r"^\s*step[ _-]?(\d+)\s*$", re.I)
_CODE_BLOCK = re.compile(r"```[ \t]*(?:py|python|python3)?[ \t]*\n(.*?)(?:\n```|<end_code>|$)", re.S | re.I)
_JUDGED = (int(SpanKind.LLM), int(SpanKind.TOOL), int(SpanKind.CHAIN), int(SpanKind.AGENT))


@dataclass
class ToolCall:
    """A tool call the model asked for in its output: name and argument text as written."""

    name: str
    arguments: str | None


_NO_CALLS: tuple[ToolCall, ...] = ()
_NO_SCHEMAS: Mapping[str, Any] = MappingProxyType({})


class SpanText:
    """The judged texts of one span (empty when the span records none). A plain slotted
    class: one is made per judged span, so construction stays cheap."""

    __slots__ = (
        "output",
        "output_chars",
        "has_output",
        "tool_calls",
        "schemas",
        "tool_parameters",
        "tool_input",
        "attrs",
    )

    def __init__(self, attrs: Mapping[str, Any] = _NO_SCHEMAS) -> None:
        self.output = ""
        self.output_chars = 0
        self.has_output = False
        self.tool_calls: Sequence[ToolCall] = _NO_CALLS
        self.schemas: Mapping[str, dict[str, Any]] = _NO_SCHEMAS
        self.tool_parameters: dict[str, Any] | None = None
        self.tool_input = ""
        self.attrs = attrs


class SpanTexts(dict[int, SpanText]):
    """span index -> SpanText, for the judged spans of one SpanData."""

    def of(self, i: int) -> SpanText:
        return self.get(i) or _EMPTY


_EMPTY = SpanText()


def span_texts(data: SpanData) -> SpanTexts:
    """The judged texts of `data`'s model, tool, step and agent spans (read once per data;
    other chain spans are not read)."""
    texts = data.__dict__.get("_texts")
    if texts is None:
        chain = int(SpanKind.CHAIN)
        rows = [
            i for i in np.flatnonzero(np.isin(data.kind, _JUDGED)).tolist()
            if data.kind[i] != chain or STEP_NAME.match(data.name[i])
        ]
        texts = SpanTexts()
        for i, raw in data.iter_raw(rows):
            texts[i] = read_text(raw, int(data.kind[i]))
        data.__dict__["_texts"] = texts
    return texts


def read_text(raw: bytes, kind: int) -> SpanText:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return SpanText()
    attrs = _attributes(obj) if isinstance(obj, dict) else {}
    out = SpanText(attrs=attrs if kind == int(SpanKind.AGENT) else _NO_SCHEMAS)  # limits are read off agent spans
    value = None
    if kind == int(SpanKind.LLM):
        value = _first(attrs, ("llm.output_messages.0.message.content",
                               "llm.output_messages.0.message.contents.0.message_content.text",
                               "gen_ai.output.messages"))  # fmt: skip
    if value is None:
        value = _first(attrs, ("output.value", "gen_ai.tool.call.result", "gen_ai.output", "tool.output", "output"))
    if value is not None:
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        out.has_output, out.output_chars, out.output = True, len(text), text[:TEXT_CHARS]
    tool_input = _first(attrs, ("input.value", "gen_ai.tool.call.arguments", "gen_ai.tool.args", "input"))
    if tool_input is not None and kind != int(SpanKind.LLM):
        out.tool_input = (
            tool_input if isinstance(tool_input, str) else orjson.dumps(tool_input, default=str).decode()
        )[:TEXT_CHARS]
    if kind == int(SpanKind.LLM):
        out.tool_calls = _tool_calls(attrs) or _NO_CALLS
        out.schemas = _schemas(attrs) or _NO_SCHEMAS
    params = attrs.get("tool.parameters")
    if params is not None:
        params = _loads(params)
        out.tool_parameters = params if isinstance(params, dict) else None
    return out


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    for key in ("attributes", "span_attributes"):
        value = _decode(obj.get(key))
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {a["key"]: _otlp(a.get("value")) for a in value if isinstance(a, dict) and "key" in a}
    data = obj.get("span_data")
    if isinstance(data, dict):  # OpenAI Agents: function / generation span data
        flat = dict(data)
        if data.get("type") == "function":
            flat.setdefault("tool.name", data.get("name"))
        return flat
    return declared_attributes(obj) or {}


def _otlp(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return value
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue" and isinstance(inner, dict):
        return [_otlp(v) for v in inner.get("values", [])]
    return inner


def _decode(value: Any) -> Any:
    """TRAIL keeps attributes as Python-repr strings; read them as the value they spell."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value


def _loads(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _tool_calls(attrs: dict[str, Any]) -> list[ToolCall]:
    """OpenInference flat tool_calls (first two output messages), else OpenAI-style /
    GenAI parts in the output JSON."""
    calls: list[ToolCall] = []
    for m in range(2):
        n = 0
        while (
            name := attrs.get(f"llm.output_messages.{m}.message.tool_calls.{n}.tool_call.function.name")
        ) is not None:
            if isinstance(name, str):
                args = attrs.get(f"llm.output_messages.{m}.message.tool_calls.{n}.tool_call.function.arguments")
                calls.append(ToolCall(name, _as_text(args)))
            n += 1
    if calls:
        return calls
    for key in ("gen_ai.output.messages", "gen_ai.output", "output.value", "output"):  # output: OpenAI Agents
        value = attrs.get(key)
        if isinstance(value, str) and ("tool" not in value and "function" not in value):
            continue  # no call can be in it: skip the parse
        value = _loads(value)
        if isinstance(value, (dict, list)):
            _collect(value, calls, 0)
            if calls:
                break
    return calls


def _collect(value: Any, calls: list[ToolCall], depth: int) -> None:
    if depth > 5:
        return
    if isinstance(value, list):
        for item in value:
            _collect(item, calls, depth + 1)
        return
    if not isinstance(value, dict):
        return
    fn = value.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        calls.append(ToolCall(fn["name"], _as_text(fn.get("arguments"))))
    elif value.get("type") in ("tool_call", "function_call") and isinstance(value.get("name"), str):
        calls.append(ToolCall(value["name"], _as_text(value.get("arguments"))))
    else:
        for key in ("tool_calls", "parts", "content", "message"):
            if isinstance(value.get(key), (list, dict)):
                _collect(value[key], calls, depth + 1)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _schemas(attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Offered tool name -> its JSON-schema `parameters` (llm.tools.N, gen_ai.tool.definitions)."""
    out: dict[str, dict[str, Any]] = {}
    defs: list[Any] = []
    n = 0
    while (schema := attrs.get(f"llm.tools.{n}.tool.json_schema")) is not None:
        defs.append(_loads(schema))
        n += 1
    for key in ("gen_ai.tool.definitions", "tools"):
        value = _loads(attrs.get(key))
        if isinstance(value, list):
            defs.extend(value)
    for d in defs:
        if not isinstance(d, dict):
            continue
        inner = d.get("function")
        fn = inner if isinstance(inner, dict) else d
        name, params = fn.get("name"), fn.get("parameters") or fn.get("input_schema")
        if isinstance(name, str) and isinstance(params, dict):
            out[name] = params
    return out


def code_blocks(text: str) -> list[str]:
    """The Python code blocks of a model's output (fenced ```py / ``` blocks)."""
    return [m.group(1).strip() for m in _CODE_BLOCK.finditer(text) if m.group(1).strip()]


def decision_spans(data: SpanData) -> np.ndarray:
    """span index -> its decision span (the model call that chose it), -1 when none.

    A model call decides for itself. A span with model calls among its direct
    children (an agent step: the model writes the code, the step runs it) is decided
    by its last such child. Any other span is decided by the last model call of its
    trace that ended by the time it started and is not inside it; failing that, the
    last one that started before it.
    """
    cached: np.ndarray | None = data.__dict__.get("_decisions")
    if cached is not None:
        return cached
    out = np.full(data.n_spans, -1, dtype=np.int64)
    data.__dict__["_decisions"] = out
    llm = int(SpanKind.LLM)
    kinds = data.kind
    has_parent = len(data.parent) == data.n_spans
    last_child: dict[int, int] = {}
    if has_parent:
        for i in np.flatnonzero(kinds == llm).tolist():
            p = int(data.parent[i])
            if p >= 0 and (p not in last_child or data.start_ns[i] >= data.start_ns[last_child[p]]):
                last_child[p] = i
    for _, first, end in data.trace_slices():
        llms = [i for i in range(first, end) if kinds[i] == llm]
        if not llms:
            continue
        by_end = sorted(llms, key=lambda i: (int(data.end_ns[i]), i))
        ends = [int(data.end_ns[i]) for i in by_end]
        by_start = sorted(llms, key=lambda i: (int(data.start_ns[i]), i))
        starts = [int(data.start_ns[i]) for i in by_start]
        for i in range(first, end):
            if kinds[i] == llm:
                out[i] = i
            elif i in last_child:
                out[i] = last_child[i]
            else:
                start = int(data.start_ns[i])
                k = bisect.bisect_right(ends, start) - 1
                if k >= 0:
                    out[i] = by_end[k]
                else:
                    k = bisect.bisect_right(starts, start) - 1
                    out[i] = by_start[k] if k >= 0 and not _inside(data, by_start[k], i) else -1
    return out


def next_llm(data: SpanData, i: int) -> int:
    """The first model call of `i`'s trace that started once `i` had ended (-1 none): the
    call that read `i`'s result."""
    t, end = int(data.trace[i]), int(data.end_ns[i])
    best = -1
    for j in np.flatnonzero((data.trace == t) & (data.kind == int(SpanKind.LLM))).tolist():
        if int(data.start_ns[j]) >= end and not _inside(data, j, i):
            if best < 0 or data.start_ns[j] < data.start_ns[best]:
                best = j
    return best


def _inside(data: SpanData, child: int, ancestor: int) -> bool:
    if len(data.parent) != data.n_spans:
        return False
    hops, p = 0, int(data.parent[child])
    while p >= 0 and hops < 1000:
        if p == ancestor:
            return True
        p, hops = int(data.parent[p]), hops + 1
    return False
