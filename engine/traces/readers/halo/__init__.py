"""HALO / inference.net flat JSONL: one span object per line.

Read two ways that give the same values: `block` turns a block of lines into
span columns for the index build (decoded by msgspec in `decode`), and `spans`
holds the rules for one span, which the block path falls back to for a line
it cannot take whole and which every other caller (views, pretty-printed
files) uses.
"""

from __future__ import annotations

import re

from engine.traces.readers._shape import FastLines, Shape
from engine.traces.readers.halo.block import BLOCK_LINES, columns_from_lines
from engine.traces.readers.halo.spans import fields_from_object, looks_like_halo, span_from_line, spans_from_value

__all__ = ["SHAPE"]

SHAPE = Shape(
    name="halo",
    summary="HALO / inference.net flat JSONL, one span per line",
    claims=looks_like_halo,
    sniff=re.compile(r'"parent_span_id"\s*:'),
    priority=50,
    spans_from_value=spans_from_value,
    lines=FastLines(span_from_line, fields_from_object, columns_from_lines, BLOCK_LINES),
)
