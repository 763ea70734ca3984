"""FileReader: one trace file (or one byte range of it) as a stream of spans.

Two layouts exist whatever the shape: JSONL (one JSON value per line; records
are lines, so a range of a plain file can be read on its own) and a whole
document (pretty-printed JSON, a JSON list, or concatenated objects). Bad
records become `Malformed` items in file order and the read goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.errors import DatasetError
from engine.traces.model import Malformed, Span
from engine.traces.readers import _source
from engine.traces.readers._detect import (
    HEAD_BYTES,
    detect_shape,
    sniff_layout_is_lines,
)
from engine.traces.readers._locate import DocumentLocator
from engine.traces.readers._registry import shape_named
from engine.traces.readers._shape import SpansFromValue
from engine.traces.readers._source import (
    GZIP_MAGIC,
    BadRecord,
    Locate,
    Progress,
    is_gzip,
    iter_lines,
    last_newline_end,
    read_all,
    read_head,
    sample_of,
)
from engine.traces.readers._values import RECORD_ERRORS, ValueProblem

__all__ = ["FileReader", "RECORD_ERRORS"]

# Documents of a size in this range get their newlines indexed: below, counting in the text is
# cheaper than numpy's fixed costs; above, the index (a temporary byte per byte, 8 per line) is too big.
_INDEXED_BYTES = (16 << 10, 64 << 20)


def _complete_json(data: bytes) -> bool:
    """Whether an unterminated last line is a whole record already (a writer that ends without \\n)."""
    if not data.strip():
        return False
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


class FileReader:
    """Iterate a trace file's spans (and Malformed records) in file order.

    `start`/`end` are byte offsets (decompressed offsets for gzip); `first_line`
    is the line number at `start`. After iteration, `end` is the offset just past
    the last complete record consumed and `lines` the number of the last line
    consumed, so a later read of a grown file resumes with
    `FileReader(path, shape, start=reader.end, first_line=reader.lines + 1)`.
    An unterminated last line is consumed only if it is already a complete JSON
    value; otherwise it is left for the next read and is not an error.
    """

    def __init__(
        self,
        path: str | Path,
        shape: str | None = None,
        start: int = 0,
        end: int | None = None,
        first_line: int = 1,
        *,
        content: bytes | None = None,
        document: Any = None,
    ) -> None:
        self.path = path if isinstance(path, Path) else Path(path)
        # `content`: the whole plain (not gzip) file as the caller read it (a small file), read from
        # memory instead of being opened again; the reader then sees exactly the bytes the caller saw.
        # `document`: that content as orjson parsed it (`detect_document`), for a shape read by orjson.
        self._content = content
        self._parsed = document if content is not None else None
        if content is None and not self.path.is_file():
            what = "a directory, not a file" if self.path.is_dir() else "not found"
            raise DatasetError(f"trace file {self.path} is {what}")
        self.shape = shape or detect_shape(self.path, None if content is None else content[:HEAD_BYTES])
        self._shape = shape_named(self.shape)
        self.gzip = is_gzip(self.path) if content is None else content[:2] == GZIP_MAGIC
        if self.gzip and content is not None:
            raise ValueError("FileReader(content=...) takes plain content, not gzip")
        self.start = start
        self.first_line = first_line
        self.lines = first_line - 1
        if start > 0 or end is not None:
            self.line_based = True
        else:
            head = read_head(self.path, HEAD_BYTES) if content is None else content[:HEAD_BYTES]
            self.line_based = sniff_layout_is_lines(head.decode("utf-8", "replace"))
        # The shape's own JSONL path, where a plain (not gzip) line-based read can take it.
        self.fast_lines = self._shape.lines if self.line_based and not self.gzip else None
        self.end = start
        self._stop: int | None = None
        self._stream_error: tuple[int, str] | None = None
        self._cut: list[tuple[int, int]] = []
        if not self.gzip and self.line_based:
            self._stop = self.end = self._plain_stop(start, end)

    def _plain_stop(self, start: int, end: int | None) -> int:
        """Where a plain line-based read of [start, end) stops: after its last newline, or at
        `end` when what follows that newline is a complete record already."""
        content = self._content
        if content is not None:
            limit = len(content) if end is None else end
            stop = content.rfind(b"\n", start, limit) + 1 or start
            tail = content[stop:limit]
        else:
            limit = self.path.stat().st_size if end is None else end
            stop = last_newline_end(self.path, start, limit)
            tail = b""
            if stop < limit:
                with open(self.path, "rb") as f:
                    f.seek(stop)
                    tail = f.read(limit - stop)
        return limit if stop < limit and _complete_json(tail) else stop

    def __repr__(self) -> str:
        return f"FileReader({str(self.path)!r}, shape={self.shape!r}, start={self.start}, end={self.end})"

    def __iter__(self) -> Iterator[Span | Malformed]:
        if self.line_based:
            if self._shape.lines is not None:
                return self._fast_lines(self._shape.lines.span_from_line)
            return self._value_lines()
        return self._document()

    def _malformed(self, line: int, reason: str, data: bytes | str) -> Malformed:
        return Malformed(str(self.path), line, reason, sample_of(data))

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, line bytes); a gzip stream's complete unterminated tail included.

        `end` and `lines` are settled when the iteration ends or is abandoned.
        """
        progress = Progress(self.start)
        first = self.first_line
        try:
            for index, data in iter_lines(self.path, self.gzip, self.start, self._stop, progress, self._content):
                yield first + index, data
            lineno = first - 1 + progress.count
            if progress.tail and _complete_json(progress.tail):
                progress.end += len(progress.tail)
                lineno += 1
                progress.count += 1
                yield lineno, progress.tail
            self._stream_error = (lineno + 1, progress.error) if progress.error else None
        finally:
            self.end = max(self.end, progress.end)
            self.lines = self.first_line - 1 + progress.count
            self._cut = progress.cut

    def _stream_problem(self) -> Iterator[Malformed]:
        """Lines too long to read, and a corrupt or too big gzip stream (reported where the readable lines ended)."""
        for index, size in self._cut:
            yield self._malformed(
                self.first_line + index,
                f"line of {size:,} bytes not read: longer than {_source.MAX_LINE_BYTES:,} (MAX_LINE_BYTES)",
                b"",
            )
        if self._stream_error:
            line, reason = self._stream_error
            yield self._malformed(line, reason, b"")

    def _fast_lines(self, span_from_line: Callable[[bytes, int], Span]) -> Iterator[Span | Malformed]:
        for lineno, data in self._lines():
            try:
                yield span_from_line(data, lineno)
            except orjson.JSONDecodeError as exc:
                if data.strip():
                    yield self._malformed(lineno, f"invalid JSON: {exc}", data)
            except RECORD_ERRORS as exc:
                yield self._malformed(lineno, record_error_reason(exc), data)
        yield from self._stream_problem()

    def _value_lines(self) -> Iterator[Span | Malformed]:
        spans_from_value, loads = self._shape.spans_from_value, self._shape.loads
        for lineno, data in self._lines():
            try:
                value = loads(data)
            except (ValueError, RecursionError) as exc:  # orjson's and json's JSONDecodeError are ValueErrors
                if data.strip():
                    yield self._malformed(lineno, f"invalid JSON: {_json_problem(exc)}", data)
                continue
            yield from self._convert(spans_from_value, value, lineno, None, data)
        yield from self._stream_problem()

    def _convert(
        self, spans_from_value: SpansFromValue, value: Any, line: int, locate: Locate | None, data: bytes | str
    ) -> Iterator[Span | Malformed]:
        try:
            for item in spans_from_value(value, line, locate):
                if isinstance(item, BadRecord):
                    yield self._malformed(item.line, item.reason, item.sample)
                else:
                    yield item
        except RECORD_ERRORS as exc:
            yield self._malformed(line, record_error_reason(exc), data)

    def _document(self) -> Iterator[Span | Malformed]:
        """A whole document: one JSON value, or several concatenated ones."""
        cut: list[str] = []
        data = read_all(self.path, self.gzip, cut) if self._content is None else self._content
        for reason in cut:  # said first: what follows is a document cut short
            yield self._malformed(1, reason, b"")
        self.end = len(data)
        text = data.decode("utf-8", "replace").lstrip("\ufeff")
        # Newlines are counted in the bytes: decoding neither makes nor eats a b"\n". In a document
        # of middling size numpy finds them, faster; in ASCII text without a BOM their byte offsets
        # are character offsets, for the locator.
        indexed = _INDEXED_BYTES[0] <= len(data) <= _INDEXED_BYTES[1]
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) if indexed else None
        count = data.count(b"\n") if newlines is None else len(newlines)
        self.lines = self.first_line - 1 + count + (0 if data.endswith(b"\n") else 1)
        spans_from_value, loads = self._shape.spans_from_value, self._shape.loads
        offsets = newlines if len(text) == len(data) and text.isascii() else None
        locate = DocumentLocator(text, self.first_line, offsets)
        try:
            value = self._parsed if self._parsed is not None and loads is orjson.loads else loads(data)
        except (ValueError, RecursionError):
            pass
        else:
            yield from self._convert(spans_from_value, value, self.first_line, locate, text)
            return
        decoder = json.JSONDecoder()
        pos, n = 0, len(text)
        while True:
            while pos < n and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= n:
                return
            try:
                value, after = decoder.raw_decode(text, pos)
            except RecursionError as exc:
                yield self._malformed(locate.line_at(pos), f"invalid JSON document: {_json_problem(exc)}", text[pos:])
                return
            except json.JSONDecodeError as exc:
                where = locate.line_at(exc.pos)
                line_start = text.rfind("\n", 0, exc.pos) + 1
                yield self._malformed(
                    where, f"invalid JSON document (truncated or corrupt): {exc.msg}", text[line_start:].lstrip()
                )
                return
            yield from self._convert(spans_from_value, value, locate.line_at(pos), locate, text[pos:after])
            pos = after


def record_error_reason(exc: Exception) -> str:
    """The malformed-record reason for an error a shape reader raised on one record."""
    if isinstance(exc, ValueProblem):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"unreadable span ({_json_problem(exc)})"
    return f"unreadable span ({type(exc).__name__}: {exc})"


def _json_problem(exc: BaseException) -> str:
    """A parse error as a sentence (a RecursionError says how the value is odd, not where Python ran out)."""
    if isinstance(exc, RecursionError):
        return "values nested too deeply to read"
    return str(exc)
