"""Bytes in, lines out: how every reader gets at a file's content.

A file is plain or gzip-compressed (by magic bytes, whatever its name). Plain
files are read in blocks between two byte offsets, so the index can split a big
JSONL file at newlines and read the parts in parallel; a line that is not yet
terminated (a file still being written) is left for the next read. gzip files
are read from the start, in decompressed offsets, and are never split.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

__all__ = [
    "BLOCK_SIZE",
    "SAMPLE_CHARS",
    "GZIP_MAGIC",
    "BadRecord",
    "Locate",
    "DocumentLocator",
    "is_gzip",
    "gzip_blocks",
    "GzipCorrupt",
    "last_newline_end",
    "iter_lines",
    "Progress",
    "read_all",
    "read_head",
    "sample_of",
]

# Read size for plain files; large enough that Python's per-block cost vanishes.
BLOCK_SIZE = 4 << 20
# Longest excerpt of a bad record kept in a `Malformed.sample`.
SAMPLE_CHARS = 200
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
# Compressed bytes read per step from a gzip file: small enough that the lines before
# a corrupt spot are delivered before the error is.
GZIP_CHUNK = 1 << 14


# locate(key, id_value, default_line) -> the line where `"key": id_value` appears in a document.
Locate = Callable[[str, Any, int], int]


class BadRecord(NamedTuple):
    """A record a shape reader could not turn into a span; becomes a `Malformed`."""

    reason: str
    sample: str
    line: int


def sample_of(data: bytes | str) -> str:
    """The first `SAMPLE_CHARS` characters of a record, for an error message."""
    if isinstance(data, bytes):
        data = data[: SAMPLE_CHARS * 4].decode("utf-8", "replace")
    return data[:SAMPLE_CHARS]


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


class GzipCorrupt(Exception):
    """A gzip stream that is not cut short but broken."""


def gzip_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed blocks (at most BLOCK_SIZE each) of a gzip file, several members allowed.

    A stream cut short (a file still being written) just ends; a corrupt one
    raises GzipCorrupt after the blocks that did decompress.
    """
    inflater = zlib.decompressobj(wbits=47)
    with open(path, "rb") as f:
        while chunk := f.read(GZIP_CHUNK):
            while chunk:
                try:
                    out = inflater.decompress(chunk, BLOCK_SIZE)
                except zlib.error as exc:
                    raise GzipCorrupt(str(exc)) from None
                if out:
                    yield out
                if inflater.eof:
                    chunk = inflater.unused_data  # the next member, if any
                    inflater = zlib.decompressobj(wbits=47)
                else:
                    chunk = inflater.unconsumed_tail


def read_head(path: Path, size: int) -> bytes:
    """Up to `size` bytes from the start of the (decompressed) content."""
    if not is_gzip(path):
        with open(path, "rb") as f:
            return f.read(size)
    out = bytearray()
    try:
        for block in gzip_blocks(path):
            out += block
            if len(out) >= size:
                break
    except GzipCorrupt:
        pass  # judge what decompressed
    return bytes(out[:size])


def read_all(path: Path, gz: bool) -> bytes:
    """The whole (decompressed) content; a broken gzip stream gives what it has."""
    if not gz:
        return path.read_bytes()
    out = bytearray()
    try:
        for block in gzip_blocks(path):
            out += block
    except GzipCorrupt:
        pass
    return bytes(out)


def last_newline_end(path: Path, start: int, end: int) -> int:
    """Offset just past the last b"\\n" in [start, end), or `start` when there is none."""
    with open(path, "rb") as f:
        pos = end
        while pos > start:
            step = min(1 << 16, pos - start)
            f.seek(pos - step)
            block = f.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                return pos - step + i + 1
            pos -= step
    return start


class Progress:
    """How far a line iteration got: `end` offset past the last full line, and any stream error."""

    __slots__ = ("end", "count", "error", "tail")

    def __init__(self, end: int) -> None:
        self.end = end
        self.count = 0  # lines yielded
        self.error: str | None = None
        # gzip only: bytes after the last newline at the end of the stream.
        self.tail = b""


def iter_lines(path: Path, gz: bool, start: int, end: int | None, progress: Progress) -> Iterator[bytes]:
    """Yield complete lines (without b"\\n") of [start, end), advancing `progress.end`.

    Plain files: [start, end) is read whole; bytes after its last newline are
    yielded as a last line (the caller chose `end` knowing that record is
    complete). gzip: offsets are in the decompressed stream, `end` is ignored, the
    bytes after the last newline go to `progress.tail` for the caller to judge; a
    cut-off stream (still being written) ends quietly, a corrupt one sets
    `progress.error`.
    """
    if gz:
        yield from _gzip_lines(path, start, progress)
        return
    assert end is not None
    with open(path, "rb") as f:
        if start == 0 and f.read(3) == BOM:
            start = 3  # a UTF-8 byte order mark is not part of the first record
        f.seek(start)
        progress.end = start
        carry = yield from _complete_lines(_file_blocks(f, end - start), start, progress)
        if carry:
            progress.end, progress.count = progress.end + len(carry), progress.count + 1
            yield carry


def _file_blocks(f: Any, left: int) -> Iterator[bytes]:
    while left > 0:
        block = f.read(min(BLOCK_SIZE, left))
        if not block:
            return
        left -= len(block)
        yield block


def _complete_lines(blocks: Iterable[bytes], pos: int, progress: Progress) -> Generator[bytes, None, bytes]:
    """Yield the complete lines of `blocks` (a stream starting at offset `pos`),
    advancing `progress` after each block; return the bytes after the last newline."""
    carry = b""
    for block in blocks:
        if carry:
            block = carry + block
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
            continue
        carry = block[cut + 1 :]
        lines = block[:cut].split(b"\n")
        yield from lines
        progress.count += len(lines)
        pos += cut + 1
        progress.end = pos
    return carry


def _gzip_lines(path: Path, start: int, progress: Progress) -> Iterator[bytes]:
    blocks = gzip_blocks(path)
    try:
        first = next(blocks, b"")
        if start == 0 and first[:3] == BOM:
            start = 3
        progress.tail = yield from _complete_lines(_skip(itertools.chain([first], blocks), start), start, progress)
    except GzipCorrupt as exc:
        progress.error = f"corrupt gzip stream after decompressed byte {progress.end}: {exc}"


def _skip(blocks: Iterable[bytes], skip: int) -> Iterator[bytes]:
    """Drop the first `skip` bytes of a block stream (what an earlier read consumed)."""
    for block in blocks:
        if skip:
            if len(block) <= skip:
                skip -= len(block)
                continue
            block, skip = block[skip:], 0
        yield block


class DocumentLocator:
    """Line numbers inside a whole JSON document, found by searching for span ids.

    Spans are met in document order, so each search starts where the previous
    one matched and newlines are counted incrementally: linear in the document.
    """

    def __init__(self, text: str, first_line: int = 1) -> None:
        self.text = text
        self.first_line = first_line
        self._pos = 0
        self._line = first_line

    def line_at(self, pos: int) -> int:
        """The line of character offset `pos`."""
        if pos < self._pos:
            self._pos, self._line = 0, self.first_line
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def __call__(self, key: str, value: Any, default: int) -> int:
        """The line where `"key": value` (an id as the source spells it) next appears, else `default`."""
        if value is None or value == "":
            return default
        needle = orjson.dumps(value).decode() if isinstance(value, str) else str(value)
        for start in (self._pos, 0):
            hits = [i for sep in (": ", ":") if (i := self._find(f'"{key}"{sep}{needle}', start)) >= 0]
            if hits:
                return self.line_at(min(hits))
        return default

    def _find(self, needle: str, start: int) -> int:
        """str.find, skipping numeric matches that are the prefix of a longer number."""
        text = self.text
        while (at := text.find(needle, start)) >= 0:
            end = at + len(needle)
            if not (needle[-1].isdigit() and end < len(text) and text[end].isdigit()):
                return at
            start = at + 1
        return -1
