"""What a trace shape declares about itself, once, in its own reader module.

Every reader module ends with `SHAPE = Shape(...)`: its name (what `--shape`
accepts), the summary the help and the errors show, how detection recognises it
(`claims` on one parsed record, `sniff` on the key names of a head too big to
parse, `priority` to order the tests), and how it is read (`spans_from_value`,
optionally its own `loads`, and `lines` when it has a faster per-line path for
JSONL). `readers/_registry.py` lists the modules; nothing else names a shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from engine.traces.model import Span
from engine.traces.readers._source import BadRecord, Locate

__all__ = ["FastLines", "Shape", "SpansFromValue"]

# One parsed JSON value (a line, a document) -> its spans, and the records it could not read.
SpansFromValue = Callable[[Any, int, "Locate | None"], Iterator["Span | BadRecord"]]


@dataclass(frozen=True)
class FastLines:
    """A shape's own path for plain JSONL, faster than `spans_from_value` per parsed line.

    `span_from_line(data, line)` reads one line (raising `orjson.JSONDecodeError`
    or a record error); `fields_from_object(obj, raw, line)` gives one record's
    `Span` fields as a tuple; `columns_from_lines(lines, first_line)` a block of
    lines as columns, or None when a line in it needs the per-line path (so bad
    lines are reported alike); `block_lines` is the block size it is given.
    A span read this way keeps its line's bytes as they are for `raw`, so the
    index points at the source file instead of copying them.
    """

    span_from_line: Callable[[bytes, int], Span]
    fields_from_object: Callable[[dict[str, Any], bytes, int], tuple[Any, ...]]
    columns_from_lines: Callable[[list[bytes], int], list[Any] | None]
    block_lines: int


@dataclass(frozen=True)
class Shape:
    """One trace file shape, as its reader module declares it.

    `claims(record)` says whether one JSON object is a record (or a document) of
    this shape; detection asks the shapes in ascending `priority`, so a shape
    whose records also satisfy a looser test goes first. `sniff` matches key
    names that give the shape away in the head of a document too big to parse.
    """

    name: str
    summary: str
    claims: Callable[[dict[str, Any]], bool]
    sniff: re.Pattern[str]
    priority: int
    spans_from_value: SpansFromValue
    loads: Callable[[bytes], Any] = orjson.loads
    lines: FastLines | None = None
    # A shape whose records keep no attribute dict: one record's flat attributes, or None
    # when the record is not of this shape (what the span views show as its attributes).
    attributes: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None

    def describe(self) -> str:
        """`name` (summary): how the help and the errors list it."""
        return f"`{self.name}` ({self.summary})"
