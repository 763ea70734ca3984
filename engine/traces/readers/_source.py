"""Bytes in, lines out: how every reader gets at a file's content.

A file is plain or gzip-compressed (by magic bytes, whatever its name). Plain
files are read in blocks between two byte offsets, so the index can split a big
JSONL file at newlines and read the parts in parallel; a line that is not yet
terminated (a file still being written) is left for the next read. gzip files
are read from the start, in decompressed offsets, and are never split.
"""

from __future__ import annotations

import itertools
import os
import re
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "BLOCK_SIZE",
    "SAMPLE_CHARS",
    "GZIP_MAGIC",
    "BadRecord",
    "Locate",
    "is_gzip",
    "gzip_blocks",
    "GzipCorrupt",
    "GzipTooBig",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_GZIP_RATIO",
    "MAX_LINE_BYTES",
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
# Bounds on what one file may cost, each overridable by $HALO_MCP_<NAME> (a
# number of bytes, or a ratio): a 4 MB gzip file holding 4 GiB of newlines, or
# one 4 GiB line, must not hang a build.
LIMIT_ENV_PREFIX = "HALO_MCP_"


def _limit(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(LIMIT_ENV_PREFIX + name, default)))
    except ValueError:
        return default


# Decompressed bytes read from one gzip file at most; past it the rest is cut (and said).
MAX_DECOMPRESSED_BYTES = _limit("MAX_DECOMPRESSED_BYTES", 16 << 30)
# A gzip stream inflating more than this many times its compressed size is a bomb
# (JSON traces compress 5-30x; newlines 1000x), checked past GZIP_RATIO_GRACE_BYTES.
MAX_GZIP_RATIO = _limit("MAX_GZIP_RATIO", 200)
GZIP_RATIO_GRACE_BYTES = _limit("GZIP_RATIO_GRACE_BYTES", 64 << 20)
# A line (one record) longer than this is dropped unread and reported as malformed.
MAX_LINE_BYTES = _limit("MAX_LINE_BYTES", 256 << 20)


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


class GzipTooBig(GzipCorrupt):
    """A gzip stream that decompresses past `MAX_DECOMPRESSED_BYTES` (or `MAX_GZIP_RATIO`): a bomb, read no further."""


def gzip_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed blocks (at most BLOCK_SIZE each) of a gzip file, several members allowed.

    A stream cut short (a file still being written) just ends; a corrupt one
    raises GzipCorrupt after the blocks that did decompress; one that inflates
    past the bounds raises GzipTooBig there.
    """
    inflater = zlib.decompressobj(wbits=47)
    limit, ratio = MAX_DECOMPRESSED_BYTES, MAX_GZIP_RATIO
    total = read = 0
    with open(path, "rb") as f:
        while chunk := f.read(GZIP_CHUNK):
            read += len(chunk)
            while chunk:
                try:
                    out = inflater.decompress(chunk, BLOCK_SIZE)
                except zlib.error as exc:
                    raise GzipCorrupt(str(exc)) from None
                if total > limit or (total > GZIP_RATIO_GRACE_BYTES and total > ratio * read):
                    raise GzipTooBig(_too_big(total, limit, ratio))
                total += len(out)
                if out:
                    yield out
                if inflater.eof:
                    chunk = inflater.unused_data  # the next member, if any
                    inflater = zlib.decompressobj(wbits=47)
                else:
                    chunk = inflater.unconsumed_tail


def _too_big(total: int, limit: int, ratio: int) -> str:
    why = (
        f"more than {limit:,} bytes (MAX_DECOMPRESSED_BYTES)" if total > limit
        else f"more than {ratio} times its compressed size (MAX_GZIP_RATIO)"
    )  # fmt: skip
    return (
        f"gzip content cut after {total:,} decompressed bytes: it inflates to {why}; "
        f"set ${LIMIT_ENV_PREFIX}MAX_DECOMPRESSED_BYTES or ${LIMIT_ENV_PREFIX}MAX_GZIP_RATIO to read more"
    )


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


def read_all(path: Path, gz: bool, cut: list[str] | None = None) -> bytes:
    """The whole (decompressed) content; a broken gzip stream gives what it has.

    A gzip stream past the bounds (`GzipTooBig`) gives what it has too, and says so in `cut`.
    """
    if not gz:
        return path.read_bytes()
    out = bytearray()
    try:
        for block in gzip_blocks(path):
            out += block
    except GzipTooBig as exc:
        if cut is not None:
            cut.append(str(exc))
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

    __slots__ = ("end", "count", "error", "tail", "cut")

    def __init__(self, end: int) -> None:
        self.end = end
        self.count = 0  # lines read (blank ones too)
        self.error: str | None = None
        # gzip only: bytes after the last newline at the end of the stream.
        self.tail = b""
        # (line index, bytes) of the lines longer than MAX_LINE_BYTES, dropped unread
        self.cut: list[tuple[int, int]] = []


def iter_lines(
    path: Path, gz: bool, start: int, end: int | None, progress: Progress, content: bytes | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield (line index, line) for the non-blank complete lines (without b"\n") of [start, end).

    The index counts every line from 0 (blank ones are counted, not yielded:
    a run of them is skipped at memory speed). Lines longer than
    `MAX_LINE_BYTES` are dropped and noted in `progress.cut`.
    Plain files: [start, end) is read whole; bytes after its last newline are
    yielded as a last line (the caller chose `end` knowing that record is
    complete). gzip: offsets are in the decompressed stream, `end` is ignored, the
    bytes after the last newline go to `progress.tail` for the caller to judge; a
    cut-off stream (still being written) ends quietly, a corrupt one, or one that
    decompresses past `MAX_DECOMPRESSED_BYTES`, sets `progress.error`.
    `content`, the whole plain file already read, is split instead of the file.
    """
    if gz:
        yield from _gzip_lines(path, start, progress)
        return
    assert end is not None
    if content is not None:
        if start == 0 and content[:3] == BOM:
            start = 3
        yield from _plain_lines([content[start:end]] if end > start else [], start, progress)
        return
    with open(path, "rb") as f:
        if start == 0 and f.read(3) == BOM:
            start = 3  # a UTF-8 byte order mark is not part of the first record
        f.seek(start)
        yield from _plain_lines(_file_blocks(f, end - start), start, progress)


def _plain_lines(blocks: Iterable[bytes], start: int, progress: Progress) -> Iterator[tuple[int, bytes]]:
    """`iter_lines` of a plain range's blocks, the bytes after its last newline yielded as a last line."""
    progress.end = start
    carry = yield from _complete_lines(blocks, start, progress)
    if carry is not None:
        progress.end += carry[1] if carry[0] is None else len(carry[0])
        if carry[0] is None:
            progress.cut.append((progress.count, carry[1]))
        else:
            yield progress.count, carry[0]
        progress.count += 1


def _file_blocks(f: Any, left: int) -> Iterator[bytes]:
    while left > 0:
        block = f.read(min(BLOCK_SIZE, left))
        if not block:
            return
        left -= len(block)
        yield block


_NON_BLANK = re.compile(rb"[^\n]+")

# What `_complete_lines` returns: the bytes after the last newline (None, length: an over-long line dropped).
Carry = tuple[bytes | None, int] | None


def _complete_lines(
    blocks: Iterable[bytes], pos: int, progress: Progress
) -> Generator[tuple[int, bytes], None, Carry]:
    """Yield (index, line) for the non-blank complete lines of `blocks` (a stream starting at offset `pos`),
    advancing `progress` after each block; return what follows the last newline.

    A line growing past MAX_LINE_BYTES is no longer kept: its bytes are counted
    until its newline and it is noted in `progress.cut`, so one 4 GiB line costs
    no memory and no quadratic joining.
    """
    carry = b""
    dropped = 0  # > 0: bytes so far of an over-long line being skipped
    limit = MAX_LINE_BYTES
    for block in blocks:
        cut = block.rfind(b"\n")
        if dropped:
            if cut < 0:
                dropped += len(block)
                continue
            first = block.find(b"\n")
            progress.cut.append((progress.count, dropped + first))
            progress.count += 1
            progress.end = pos = pos + dropped + first + 1
            dropped = 0
            block = block[first + 1 :]
            cut -= first + 1
            if cut < 0:
                carry = block
                continue
        elif carry:
            block = carry + block
            cut = cut + len(carry) if cut >= 0 else -1
        if cut < 0:
            if len(block) > limit:
                dropped, carry = len(block), b""
            else:
                carry = block
            continue
        carry = block[cut + 1 :]
        text = block[:cut]
        base = progress.count
        if b"\n\n" in text or (text[:1] == b"\n"):
            # blank runs: only the non-blank lines are made objects; indexes by counting newlines (C speed)
            index, at = base, 0
            for m in _NON_BLANK.finditer(text):
                index += text.count(b"\n", at, m.start())
                at = m.start()
                yield from _checked(index, m.group(), progress, limit)
            total = text.count(b"\n") + 1
        else:
            lines = text.split(b"\n")
            total = len(lines)
            for i, line in enumerate(lines, base):
                if line:
                    yield from _checked(i, line, progress, limit)
        progress.count = base + total
        pos += cut + 1
        progress.end = pos
        if len(carry) > limit:
            dropped, carry = len(carry), b""
    if dropped:
        return None, dropped
    return (carry, len(carry)) if carry else None


def _checked(index: int, line: bytes, progress: Progress, limit: int) -> Iterator[tuple[int, bytes]]:
    if len(line) > limit:
        progress.cut.append((index, len(line)))
    else:
        yield index, line


def _gzip_lines(path: Path, start: int, progress: Progress) -> Iterator[tuple[int, bytes]]:
    blocks = gzip_blocks(path)
    try:
        first = next(blocks, b"")
        if start == 0 and first[:3] == BOM:
            start = 3
        carry = yield from _complete_lines(_skip(itertools.chain([first], blocks), start), start, progress)
        if carry is not None and carry[0] is None:
            progress.cut.append((progress.count, carry[1]))
            progress.count += 1
        elif carry is not None:
            progress.tail = carry[0] or b""
    except GzipTooBig as exc:
        progress.error = str(exc)
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
