"""Reading a file's byte ranges into pieces: the work the build's worker processes do.

`parse_range` reads lines [start, end) of a plain line-based file (one worker
task); `iter_pieces` reads a file sequentially (gzip, whole documents) and hands
its spans over in bounded pieces; `split_at_newlines` cuts a big file into
ranges for the workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import orjson

from engine.traces.index.build import Piece, PieceBuilder
from engine.traces.index.gc_pause import gc_paused
from engine.traces.model import Malformed, Span
from engine.traces.readers import _source
from engine.traces.readers._file import RECORD_ERRORS, record_error_reason
from engine.traces.readers._file import _json_problem as json_problem
from engine.traces.readers._registry import shape_named
from engine.traces.readers._shape import FastLines, Shape
from engine.traces.readers._source import BOM, BadRecord
from engine.traces.readers._values import ValueProblem

__all__ = ["PIECE_SPANS", "parse_range", "iter_pieces", "split_at_newlines"]

# A sequential read (gzip, nested JSON) hands over its spans in pieces this big,
# so the Python objects of a whole file never exist at once.
PIECE_SPANS = 50_000

# `split_at_newlines` reads this much at each cut to find the next newline (more while a line goes on).
# Lines are short next to it; a bigger read costs fresh memory at every cut before any worker starts
# (1 MB reads: 16-26 ms for the 128 cuts of 1 GB in a new process, once 0.25 s, against ~2 ms).
SPLIT_READ_BYTES = 64 << 10


def parse_range(
    path: str, shape: str, start: int, end: int | None, source_raw: bool, content: bytes | None = None
) -> Piece:
    """Read the spans of lines [start, end) of a plain file into a piece (runs in workers).

    Line numbers are relative to `start` (the caller rebases them). With
    `source_raw` the rows point at the spans' bytes in the source file.
    `content` is the whole file when the caller has read it (a small file): it is not read again.
    """
    from engine.traces.readers import FileReader

    reader = FileReader(Path(path), shape=shape, start=start, end=end, first_line=1, content=content)
    # Plain JSONL of a shape without a line path of its own: read line by line from the range's bytes.
    value_lines = reader.line_based and not reader.gzip and reader.fast_lines is None
    if not source_raw and not value_lines:
        builder = PieceBuilder()
        builder.add_all(reader)
        return builder.finish(lines=reader.lines, end=reader.end)
    if content is not None:
        data = content[start:] if end is None else content[start:end]
    else:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
    skip = 3 if start == 0 and data[:3] == BOM else 0
    if reader.fast_lines is not None:
        # The reader settled where the range's last complete record ends (`reader.end`).
        lines = _split_lines(data[skip : reader.end - start])
        builder = PieceBuilder(data, start, _line_starts(lines, skip))
        _fast_lines_into(builder, reader.fast_lines, str(reader.path), lines)
        with gc_paused():
            piece = builder.finish(lines=len(lines), end=reader.end)
        return piece
    if source_raw:
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        builder = PieceBuilder(data, start, np.concatenate([[0], newlines + 1]).astype(np.int64))
    else:
        builder = PieceBuilder()
    if value_lines:
        lines = _split_lines(data[skip : reader.end - start])
        if max(map(len, lines), default=0) <= _source.MAX_LINE_BYTES:  # else the reader reports the long ones
            with gc_paused():
                _value_lines_into(builder, shape_named(reader.shape), str(reader.path), lines)
                return builder.finish(lines=len(lines), end=reader.end)
    builder.add_all(reader)
    return builder.finish(lines=reader.lines, end=reader.end)


def _split_lines(data: bytes) -> list[bytes]:
    """The lines of `data` without their newlines (no empty last line after a final newline)."""
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines


def _line_starts(lines: list[bytes], skip: int) -> np.ndarray:
    """Offsets of the lines (and of what follows the last) in bytes that hold `skip` bytes, then `lines`.

    The first line starts at 0: the skipped bytes (a BOM) count as part of it.
    """
    starts = np.empty(len(lines) + 1, dtype=np.int64)
    starts[0] = 0
    np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) + 1, out=starts[1:])
    starts[1:] += skip
    return starts


def _fast_lines_into(builder: PieceBuilder, fast: FastLines, path: str, lines: list[bytes]) -> None:
    """JSONL lines straight into `builder` by the shape's own path, a block of columns at a
    time (no `Span`, no generators).

    Gives exactly what `FileReader` + `PieceBuilder.add_all` give for the same
    lines (same spans, same malformed lines and reasons).
    """
    with gc_paused():
        for lo in range(0, len(lines), fast.block_lines):
            block = lines[lo : lo + fast.block_lines]
            if not any(block):
                continue  # blank lines only (a run of them is skipped at memory speed)
            columns = fast.columns_from_lines(block, lo + 1)
            if columns is not None:
                builder.add_columns(columns)
            else:  # a block with a line that is not a clean span: line by line, reporting the bad ones
                _line_by_line(builder, fast, path, block, lo + 1)


def _line_by_line(builder: PieceBuilder, fast: FastLines, path: str, lines: list[bytes], first_line: int) -> None:
    loads, fields, append = orjson.loads, fast.fields_from_object, builder.rows.append
    decode_error = orjson.JSONDecodeError
    for lineno, line in enumerate(lines, first_line):
        if not line:
            continue  # blank: no record (and no costly decode error)
        try:
            obj = loads(line)
        except decode_error as exc:
            if line.strip():
                builder.add_malformed(Malformed(path, lineno, f"invalid JSON: {exc}", ""))
            continue
        try:
            if type(obj) is not dict:
                raise ValueProblem(f"expected a JSON object per line, got {type(obj).__name__}")
            append(fields(obj, line, lineno))
        except RECORD_ERRORS as exc:
            builder.add_malformed(Malformed(path, lineno, record_error_reason(exc), ""))


def _value_lines_into(builder: PieceBuilder, shape: Shape, path: str, lines: list[bytes]) -> None:
    """JSONL lines of a shape without a line path of its own: its `loads` and `spans_from_value` per line.

    Gives what `FileReader` gives for the same lines (same spans, same malformed
    lines and reasons) without its generator layers, which cost as much as the
    reading of a short span does.
    """
    loads, spans_from_value, add, bad = shape.loads, shape.spans_from_value, builder.add, builder.add_malformed
    for lineno, line in enumerate(lines, 1):
        if not line:
            continue  # blank: no record
        try:
            value = loads(line)
        except (ValueError, RecursionError) as exc:  # orjson's and json's JSONDecodeError are ValueErrors
            if line.strip():
                bad(Malformed(path, lineno, f"invalid JSON: {json_problem(exc)}", ""))
            continue
        try:
            for item in spans_from_value(value, lineno, None):
                if isinstance(item, BadRecord):
                    bad(Malformed(path, item.line, item.reason, ""))
                else:
                    add(item)
        except RECORD_ERRORS as exc:
            bad(Malformed(path, lineno, record_error_reason(exc), ""))


def iter_pieces(path: str, shape: str, start: int, first_line: int) -> Iterator[Piece]:
    """One sequential read, cut into pieces of `PIECE_SPANS` spans (absolute line numbers).

    Only the last piece carries `lines` (all lines read), so rebasing is a no-op.
    """
    from engine.traces.readers import FileReader

    reader = FileReader(Path(path), shape=shape, start=start, first_line=first_line)
    builder = PieceBuilder()
    for item in reader:
        if isinstance(item, Span):
            builder.add(item)
            if len(builder) >= PIECE_SPANS:
                yield builder.finish(lines=0, end=reader.end)
                builder = PieceBuilder()
        else:
            builder.add_malformed(item)
    yield builder.finish(lines=reader.lines - (first_line - 1), end=reader.end)


def split_at_newlines(path: Path, start: int, size: int, step: int) -> list[tuple[int, int | None]]:
    """[start, size) cut into ranges of about `step` bytes, each ending just after a newline."""
    cuts = [start]
    with open(path, "rb") as f:
        pos = start + step
        while pos < size:
            f.seek(pos)
            block = f.read(SPLIT_READ_BYTES)
            i = block.find(b"\n")
            while i < 0 and block:
                pos += len(block)
                block = f.read(SPLIT_READ_BYTES)
                i = block.find(b"\n")
            if i < 0:
                break
            cut = pos + i + 1
            if cut >= size:
                break
            cuts.append(cut)
            pos = cut + step
    return [*pairwise(cuts), (cuts[-1], None)]
