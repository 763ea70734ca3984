"""Tool arguments as the model sent them: screened, and refused in sentences.

Two kinds of value pass JSON-schema validation and then fail deep inside as
raw Python text: integers past 64 bits (`Integer exceeds 64-bit range` from
orjson, numpy overflows) and strings holding a NUL character (`embedded null
byte` from every path call). `screen_arguments` refuses both up front, naming
the argument. `explain_validation` renders a pydantic `ValidationError` as one
short sentence per field: what is wrong and what is allowed, never a dump.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidArgumentError

__all__ = ["INT64_MIN", "INT64_MAX", "MAX_EXPLAINED_ERRORS", "screen_arguments", "explain_validation", "field_problems"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Fields explained in one refusal; the model fixes those and hears about the rest next time.
MAX_EXPLAINED_ERRORS = 5
# Characters of a rejected value quoted back.
QUOTED_CHARS = 40


def _where(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "arguments"


def _offending(value: Any, path: tuple[Any, ...]) -> str | None:
    """A sentence about the first value under `value` no tool can take, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return (
            f"{_where(path)} is {value:.3g}, outside the 64-bit integer range "
            f"({INT64_MIN:,} to {INT64_MAX:,}); pass a number the argument's description allows"
        )
    if isinstance(value, str):
        if "\x00" in value:
            return (
                f"{_where(path)} holds a NUL character (\\u0000), which no path, id, name or pattern here "
                "can contain; remove it"
            )
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _offending(key, path) if isinstance(key, str) else None
            found = found or _offending(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _offending(item, (*path, i))
            if found:
                return found
    return None


def screen_arguments(tool: str, arguments: Any) -> None:
    """Raise InvalidArgumentError for an argument holding a too-large integer or a NUL character."""
    problem = _offending(arguments, ())
    if problem:
        raise InvalidArgumentError(f"invalid arguments for {tool}: {problem}")


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"


def _problem(err: Any, model: type[BaseModel] | None) -> str:
    """One field's error as a phrase: what is wrong, and what is allowed."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    where = _where(err["loc"])
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        takes = ", ".join(model.model_fields) if model is not None else ""
        return f"{where}: not an argument of this tool" + (f" (it takes: {takes})" if takes else "")
    wanted = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "finite_number": "a finite number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "an object",
        "model_type": "an object",
    }.get(kind)
    if wanted:
        return f"{where} must be {wanted}, not {_quote(got)}"
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        bound = next(iter(ctx.values()), "?")
        words = {
            "less_than_equal": "at most",
            "less_than": "below",
            "greater_than_equal": "at least",
            "greater_than": "above",
        }
        return f"{where} must be {words[kind]} {bound}, not {_quote(got)}"
    if kind == "literal_error":
        return f"{where} must be one of {ctx.get('expected', '?')}, not {_quote(got)}"
    if kind in ("string_too_short", "too_short"):
        return f"{where} is too short (at least {ctx.get('min_length', 1)})"
    if kind in ("string_too_long", "too_long"):
        return f"{where} is too long (at most {ctx.get('max_length', '?')})"
    message = str(err.get("msg") or kind).removeprefix("Value error, ")
    return f"{where}: {message[:1].lower()}{message[1:]}"


def field_problems(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The fields of `exc` as '; '-joined phrases, the first MAX_EXPLAINED_ERRORS of them."""
    errors = exc.errors()
    problems = [_problem(err, model) for err in errors[:MAX_EXPLAINED_ERRORS]]
    if len(errors) > MAX_EXPLAINED_ERRORS:
        problems.append(f"and {len(errors) - MAX_EXPLAINED_ERRORS} more")
    return "; ".join(problems)


def explain_validation(tool: str, exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """`exc` as the sentence a model reads: 'invalid arguments for TOOL: FIELD must be …; …'."""
    return f"invalid arguments for {tool}: {field_problems(exc, model)}"
