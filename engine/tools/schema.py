"""Compact JSON schemas for tool arguments: what a model needs, without pydantic's noise.

Every MCP client sends each tool's input schema to its model in every session,
and the engine's agents (small-context local models) pay for them on every
turn. pydantic's schemas carry what no model uses: a `title` per property
(its name again, capitalised), `anyOf: [X, {"type": "null"}]` plus
`"default": null` for each optional argument, and enums behind `$ref` in
`$defs`. `compact_schema` removes those and keeps every type, constraint,
default and description. The arguments are still validated by their pydantic
model (`registry.call_tool`), so a client that sends `null` is still accepted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compact_schema"]

_NULL = {"type": "null"}
_DEFS_PREFIX = "#/$defs/"


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without titles, nullable wrappers of optional arguments, or `$defs`.

    A schema whose `$defs` refer to themselves (recursive models) keeps its
    references; no argument model here is recursive, so that is a fallback only.
    """
    defs: dict[str, Any] = schema.get("$defs", {})
    try:
        compact: dict[str, Any] = _walk(schema, defs, ())
    except _Recursive:
        return {k: v for k, v in schema.items() if k != "title"}
    return compact


class _Recursive(Exception):
    """A `$ref` names a definition that is being expanded."""


def _walk(node: Any, defs: dict[str, Any], expanding: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_walk(item, defs, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX) and ref[len(_DEFS_PREFIX) :] in defs:
        name = ref[len(_DEFS_PREFIX) :]
        if name in expanding:
            raise _Recursive(name)
        inlined = _walk(defs[name], defs, (*expanding, name))
        rest = _walk({k: v for k, v in node.items() if k != "$ref"}, defs, expanding)
        return {**inlined, **rest}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _walk(sub, defs, expanding) for name, sub in value.items()}
        else:
            out[key] = _walk(value, defs, expanding)
    return _without_null(out)


def _without_null(node: dict[str, Any]) -> dict[str, Any]:
    """An optional argument's `anyOf: [X, null]` (with `default: null`) as plain X."""
    options = node.get("anyOf")
    if not isinstance(options, list) or _NULL not in options:
        return node
    rest = [o for o in options if o != _NULL]
    if len(rest) != 1 or not isinstance(rest[0], dict):
        return node
    merged = {**rest[0], **{k: v for k, v in node.items() if k != "anyOf"}}
    if "default" in merged and merged["default"] is None:
        del merged["default"]
    return merged
