"""Reading spans' original JSON: from the source file (pread) or the index's raw copies (mmap).

Plain HALO lines are not copied into the index: a row holds (offset, size) in
the source file, read with `pread` through at most `OPEN_SOURCE_FILES` cached
descriptors (never mapped: a file truncated under a mapping would crash the
reader). Everything else points into the chunk's `.raw` file, read (small) or
mapped (big) when the segment was opened.
Offsets >= 0 are in the source; < 0 are `-(offset + 1)` in the raw copy.

Every read from the source is checked against what the index recorded: a
span's bytes are one whole line (a newline, or the file's start, before them;
a newline, or the end, after them; none inside, for a span read on its own). A file rewritten in a way the
fingerprint at open did not see (same stat, same sampled bytes) fails this
check where it matters; then `on_changed` drops the file's index and
`SourceChangedError` is raised: old bytes are never served.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from engine.errors import SourceChangedError
from engine.traces.columns.file import read_buffer
from engine.traces.index.tables import Part, SpanTable

__all__ = ["OPEN_SOURCE_FILES", "RawReader"]

# Source files kept open for reading raw spans (least recently used closed
# first), so a dataset of many files holds a bounded number of descriptors.
OPEN_SOURCE_FILES = 32
# Spans whose raw bytes are fetched together (one read when they sit close in a file).
_RAW_BATCH = 512
_READ_BLOCK = 8 << 20
_BOM = b"\xef\xbb\xbf"
_NEWLINE = 10


class RawReader:
    """Raw span bytes of a dataset's rows."""

    def __init__(
        self, spans: SpanTable, parts: list[Part], paths: list[str], on_changed: Callable[[int], None] | None = None
    ) -> None:
        self.spans = spans
        self._on_changed = on_changed
        self._parts = parts
        self._part_rows = np.asarray([p.row0 for p in parts], dtype=np.int64)
        self._paths = paths
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._raw_maps: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def _part_of(self, row: int) -> Part:
        return self._parts[int(np.searchsorted(self._part_rows, row, "right")) - 1]

    def raw_bytes(self, row: int) -> bytes:
        """The span's original JSON, as bytes (from the source file or the index's copy)."""
        offset = int(self.spans.raw_offset[row])
        size = int(self.spans.raw_size[row])
        if offset >= 0:
            return self._pread(int(self.spans.file[row]), offset, size)
        start = -offset - 1
        return self._raw_map(self._part_of(row))[start : start + size].tobytes()

    def raw(self, row: int) -> dict[str, Any]:
        """The span's original JSON, parsed."""
        value = orjson.loads(self.raw_bytes(row))
        return value if isinstance(value, dict) else {"value": value}

    def raw_text(self, row: int) -> str:
        return self.raw_bytes(row).decode("utf-8", "replace")

    def iter_raw(self, rows: np.ndarray) -> Iterator[tuple[int, bytes]]:
        """(row, raw bytes) for many rows, in order; neighbouring source spans are read in one go."""
        rows = np.asarray(rows, dtype=np.int64)
        for lo in range(0, len(rows), _RAW_BATCH):
            batch = rows[lo : lo + _RAW_BATCH]
            yield from zip(batch.tolist(), self.raw_batch(batch), strict=True)

    def raw_batch(self, rows: np.ndarray) -> list[bytes]:
        """Raw bytes of `rows` (a few thousand at most), reading a shared file region once when dense."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        offsets = np.asarray(self.spans.raw_offset)[rows]
        sizes = np.asarray(self.spans.raw_size)[rows].astype(np.int64)
        block = self.raw_block(rows)
        if block is not None:
            data, starts, sizes = block
            return [data[a : a + n] for a, n in zip(starts.tolist(), sizes.tolist(), strict=True)]
        parts = np.searchsorted(self._part_rows, rows, "right") - 1
        first_part = int(parts[0])
        if (parts == first_part).all():
            part = self._parts[first_part]
            if (offsets < 0).all():
                raw = self._raw_map(part)
                return [raw[a : a + n].tobytes() for a, n in zip((-offsets - 1).tolist(), sizes.tolist(), strict=True)]
        files = np.asarray(self.spans.file)[rows]
        return [
            self._pread(int(f), int(o), int(n)) if o >= 0 else self._raw_at(int(p), int(o), int(n))
            for p, f, o, n in zip(parts.tolist(), files.tolist(), offsets.tolist(), sizes.tolist(), strict=True)
        ]

    def raw_block(self, rows: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray] | None:
        """One read of the source region holding all `rows`' raw bytes: (data, start in data, size) per row.

        None unless the rows sit in one source file close together (the region
        may also hold bytes of other spans between them).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return None
        offsets = np.asarray(self.spans.raw_offset)[rows]
        if not (offsets >= 0).all():
            return None
        files = np.asarray(self.spans.file)[rows]
        if (files != files[0]).any():
            return None
        sizes = np.asarray(self.spans.raw_size)[rows].astype(np.int64)
        lo, hi = int(offsets.min()), int((offsets + sizes).max())
        if hi - lo > _READ_BLOCK or hi - lo > 4 * int(sizes.sum()) + 4096:
            return None
        file = int(files[0])
        before = min(lo, len(_BOM))  # the byte before (the whole BOM at the file's start)
        data = self._read(file, lo - before, hi - lo + before + 1)
        starts = offsets - lo + before
        if not _whole_lines(data, starts, sizes, lo - before, inside=False):
            self._changed(file, lo)
        return data, starts, sizes  # (the region and a byte around it: no copy of it)

    def _raw_at(self, part_index: int, offset: int, size: int) -> bytes:
        """Bytes of the index's raw copy of `part_index` (offset < 0, as stored)."""
        return self._raw_map(self._parts[part_index])[-offset - 1 : -offset - 1 + size].tobytes()

    def _pread(self, file: int, offset: int, size: int) -> bytes:
        """The bytes of one span in the source, checked to be still one whole line there."""
        before = min(offset, len(_BOM))  # the byte before (the whole BOM at the file's start)
        data = self._read(file, offset - before, size + before + 1)
        if not _whole_lines(data, np.asarray([before]), np.asarray([size]), offset - before):
            self._changed(file, offset)
        return data[before : before + size]

    def _changed(self, file: int, offset: int) -> None:
        if self._on_changed is not None:
            self._on_changed(file)
        raise SourceChangedError(
            f"{self._paths[file]} changed after it was indexed (the span indexed at byte {offset:,} is no "
            "longer there); its index was dropped: call again to read the file anew"
        )

    def _read(self, file: int, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset` (fewer only at the end of the file)."""
        # Tools call the store from worker threads: the lock keeps one thread from
        # closing a descriptor (evicting it) while another reads through it.
        with self._lock:
            fd = self._fds.get(file)
            if fd is None:
                fd = os.open(self._paths[file], os.O_RDONLY)
                self._fds[file] = fd
                if len(self._fds) > OPEN_SOURCE_FILES:
                    os.close(self._fds.popitem(last=False)[1])
            else:
                self._fds.move_to_end(file)
            data = os.pread(fd, size, offset)
        return data

    def _raw_map(self, part: Part) -> np.ndarray:
        key = id(part)
        array = self._raw_maps.get(key)
        if array is None:
            assert part.raw_path is not None
            source = part.raw if part.raw is not None else np.frombuffer(read_buffer(part.raw_path), np.uint8)
            array = self._raw_maps[key] = source
        return array


def _whole_lines(data: bytes, starts: np.ndarray, sizes: np.ndarray, base: int, inside: bool = True) -> bool:
    """Whether each [start, start + size) of `data` (read at file offset `base`) is one whole line.

    A line starts at the file's start (or after a UTF-8 BOM there) or after a
    newline, ends at a newline or at the end of the file, and (checked when
    `inside`) holds none. The edges alone are checked for a block of many rows
    (the scan for newlines inside would cost as much as the read): bytes that
    moved put some row's edge off a newline unless every line moved in step.
    """
    buf = np.frombuffer(data, np.uint8)
    starts = np.asarray(starts, np.int64)
    ends = starts + np.asarray(sizes, np.int64)
    if len(ends) and int(ends.max()) > len(buf):
        return False  # cut short: the file shrank
    at_end = ends == len(buf)  # only the last line of a file has nothing after it (one byte more was asked)
    after = buf[np.minimum(ends, len(buf) - 1)] if len(buf) else np.zeros(len(ends), np.uint8)
    if not ((after == _NEWLINE) | at_end).all():
        return False
    first = (starts + base) == 0
    bom = (starts + base == len(_BOM)) & (base == 0 and data[: len(_BOM)] == _BOM)
    prev = buf[np.maximum(starts - 1, 0)]
    if not (first | bom | (prev == _NEWLINE)).all():
        return False
    if not inside:
        return True
    # no newline inside a row: each run of back-to-back rows holds exactly its rows' separating newlines
    if len(starts) > 1 and not (np.diff(starts) > 0).all():
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
    cuts = np.flatnonzero(starts[1:] != ends[:-1] + 1) + 1
    firsts = np.concatenate(([0], cuts)) if len(starts) else cuts
    lasts = np.append(cuts - 1, len(starts) - 1) if len(starts) else cuts
    return all(
        data.count(b"\n", a, b) == n
        for a, b, n in zip(starts[firsts].tolist(), ends[lasts].tolist(), (lasts - firsts).tolist(), strict=True)
    )
