"""What every trace tool shares: the dataset argument, descriptions, cursors, threads.

Handlers are async but the store is plain Python over numpy; heavy calls run in a
worker thread so one slow query does not stall every other caller of the server.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InvalidArgumentError
from engine.texts import load_text
from engine.tools.arguments import field_problems

if TYPE_CHECKING:
    from engine.tools.context import ToolContext
    from engine.traces.dataset import Dataset

__all__ = [
    "ToolArgs",
    "DATASET_DESCRIPTION",
    "dataset_field",
    "description",
    "open_dataset",
    "in_thread",
    "encode_cursor",
    "decode_cursor",
    "CursorState",
    "CursorOffset",
    "FIND_TRACES_HINT",
]

T = TypeVar("T")

DATASET_DESCRIPTION = "trace file, directory or glob; omit for the server's default dataset"
FIND_TRACES_HINT = 'use query(...) to list trace ids, or search(pattern="...") to find them by content'


class ToolArgs(BaseModel):
    """Base of every tool's arguments: a misspelt argument is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def dataset_field() -> Any:
    return Field(default=None, description=DATASET_DESCRIPTION)


@cache
def description(name: str) -> str:
    """The model-facing description of a tool, from `descriptions/<name>.md`."""
    return load_text("engine.tools", f"descriptions/{name}.md")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def open_dataset(ctx: ToolContext, dataset: str | None) -> Dataset:
    """The caller's dataset (opened, and indexed when needed, off the event loop)."""
    return await in_thread(ctx.open_dataset, dataset)


# Largest position a cursor may carry; no page of any tool reaches it.
MAX_CURSOR_OFFSET = 2**31

CursorOffset = Annotated[int, Field(ge=0, le=MAX_CURSOR_OFFSET, strict=True)]


class CursorState(BaseModel):
    """Base of a tool's cursor contents: every key known, every value typed (see `decode_cursor`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def encode_cursor(tool: str, state: dict[str, Any]) -> str:
    """An opaque cursor: the tool's name plus the state it needs to resume."""
    raw = orjson.dumps({"t": tool, **state})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(tool: str, cursor: str, fields: type[BaseModel]) -> dict[str, Any]:
    """The state inside a cursor this tool issued, checked against `fields`; anything else is refused.

    Cursors are not signed (a cursor from yesterday's server process must still
    work), so what one carries is validated like an argument: a forged or cut
    cursor is refused with a sentence, never fed to the store.
    """
    advice = f"pass the next_cursor of a previous {tool} answer unchanged, or omit cursor to start from the beginning"
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        state = None
    if not isinstance(state, dict) or state.get("t") != tool:
        raise InvalidArgumentError(f"cursor {cursor[:40]!r} was not issued by {tool}; {advice}")
    state.pop("t")
    try:
        return fields.model_validate(state).model_dump()
    except ValidationError as exc:
        raise InvalidArgumentError(
            f"cursor {cursor[:40]!r} is damaged ({field_problems(exc)}); {advice}"
        ) from None
