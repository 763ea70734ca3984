"""Column files: named numpy arrays back to back in one file, read or memory-mapped back.

A chunk of the index is one such file plus a JSON directory (dtype, shape,
offset per array) kept in the segment's meta, so opening a chunk is one read
(small files) or one `mmap` (big ones) and its arrays are views made on first use.

Small files are read, not mapped: CPython's `mmap` keeps a duplicated file
descriptor per mapping, and a folder of tens of thousands of one-trace files
would run out of descriptors. Files are written without fsync (the index is a
cache); their sizes are kept in the segment's meta and checked here, so a file
cut short by a crash raises `TornFileError` and the segment is rebuilt.
"""

from __future__ import annotations

import math
import mmap
import os
import queue
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SMALL_FILE_BYTES",
    "TornFileError",
    "ColumnWriter",
    "write_column_file",
    "MappedColumns",
    "read_column_file",
    "read_buffer",
]

# Arrays in a column file start at multiples of this, so every dtype is aligned.
_ALIGN = 64
# Cache files smaller than this are read into memory instead of mapped (no
# descriptor stays open for them); bigger ones are mapped (one descriptor each).
SMALL_FILE_BYTES = 1 << 20
# Arrays a ColumnWriter holds while its thread writes earlier ones.
_QUEUED = 4


class TornFileError(OSError):
    """A cache file does not have the size its segment's meta recorded (cut short by a crash)."""


class ColumnWriter:
    """Writes named arrays back to back into one file, one at a time; `close()` gives the directory.

    The directory (dtype, shape, offset per name) is kept in the segment's meta;
    the caller makes the file visible atomically (a fresh name, then meta.json).
    The bytes are written by a thread (a file write releases the GIL), so the
    caller computes the next array meanwhile; at most `_QUEUED` wait in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "wb")
        self._offset = 0
        self.directory: dict[str, Any] = {}
        self._queue: queue.Queue[memoryview | bytes | None] = queue.Queue(_QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="column-writer", daemon=True)
        self._thread.start()

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        pad = -self._offset % _ALIGN
        if pad:
            self._put(b"\0" * pad)
            self._offset += pad
        self.directory[name] = [array.dtype.str, list(array.shape), self._offset]
        if array.nbytes:
            self._put(array.data.cast("B"))  # memoryview(array); numpy's stubs give ndarray no buffer before 3.12
        self._offset += array.nbytes

    def add_all(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            self.add(name, array)

    @property
    def size(self) -> int:
        """Bytes written so far (the file's size once closed)."""
        return self._offset

    def close(self) -> dict[str, Any]:
        # No fsync: the index is a cache; a file torn by a crash is caught by its
        # recorded size (`read_buffer`) and rebuilt.
        self._finish()
        if self._error is not None:
            raise self._error
        return self.directory

    def abort(self) -> None:
        self._finish()
        self.path.unlink(missing_ok=True)

    def _put(self, data: memoryview | bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def _write(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._f.write(data)
                except BaseException as exc:  # raised in the caller's thread by the next add or close
                    self._error = exc

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._f.close()


def write_column_file(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write `arrays` into `path`; return the directory to keep in meta."""
    writer = ColumnWriter(path)
    writer.add_all(arrays)
    return writer.close()


class MappedColumns(Mapping[str, np.ndarray]):
    """The arrays of a memory-mapped column file, each made into a numpy view on first access.

    A chunk has about a hundred arrays and a query touches a few, so opening a
    dataset of many files does not build views nobody reads.
    """

    def __init__(self, buffer: Any, directory: dict[str, Any]) -> None:
        self._buffer = buffer
        self._directory = directory
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None:
            dtype, shape, offset = self._directory[name]
            count = math.prod(shape)
            array = np.frombuffer(self._buffer, dtype=np.dtype(dtype), count=count, offset=offset)
            if len(shape) != 1:
                array = array.reshape(shape)
            self._arrays[name] = array
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self._directory)

    def __len__(self) -> int:
        return len(self._directory)


def read_buffer(path: Path, size: int | None = None) -> bytes | mmap.mmap:
    """The bytes of a cache file: read when small, mapped read-only when big.

    `size` is the size recorded when the file was written: a file of another
    size raises `TornFileError` (FileNotFoundError when it is gone).
    """
    with open(path, "rb") as f:
        actual = os.fstat(f.fileno()).st_size
        if size is not None and actual != size:
            raise TornFileError(f"{path}: {actual} bytes, {size} expected")
        if actual < SMALL_FILE_BYTES:
            data = f.read()
            if len(data) != actual:
                raise TornFileError(f"{path}: read {len(data)} bytes of {actual}")
            return data
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def read_column_file(path: Path, directory: dict[str, Any], size: int | None = None) -> MappedColumns:
    """Read or map a column file (see `read_buffer`); its arrays are read-only views made when first used."""
    return MappedColumns(read_buffer(path, size), directory)
