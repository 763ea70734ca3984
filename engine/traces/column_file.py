"""Column files: named numpy arrays back to back in one file, memory-mapped back.

A chunk of the index is one such file plus a JSON directory (dtype, shape,
offset per array) kept in the segment's meta, so opening a chunk is one `mmap`
and its arrays are views made on first use.
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ColumnWriter", "write_column_file", "MappedColumns", "read_column_file"]

# Arrays in a column file start at multiples of this, so every dtype is aligned.
_ALIGN = 64


class ColumnWriter:
    """Writes named arrays back to back into one file, one at a time; `close()` gives the directory.

    The directory (dtype, shape, offset per name) is kept in the segment's meta;
    the caller makes the file visible atomically (a fresh name, then meta.json).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "wb")
        self._offset = 0
        self.directory: dict[str, Any] = {}

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        pad = -self._offset % _ALIGN
        if pad:
            self._f.write(b"\0" * pad)
            self._offset += pad
        self.directory[name] = [array.dtype.str, list(array.shape), self._offset]
        if array.nbytes:
            self._f.write(memoryview(array).cast("B"))
        self._offset += array.nbytes

    def add_all(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            self.add(name, array)

    def close(self) -> dict[str, Any]:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        return self.directory

    def abort(self) -> None:
        self._f.close()
        self.path.unlink(missing_ok=True)


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


def read_column_file(path: Path, directory: dict[str, Any]) -> MappedColumns:
    """Memory-map a column file; its arrays are read-only views made when first used."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    return MappedColumns(buf, directory)
