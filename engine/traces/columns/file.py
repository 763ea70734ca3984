"""Reading cache files by the descriptor rule, and the torn-file check.

The index's chunks are Apache Arrow IPC files (`arrow_chunk`); its raw copies
are plain bytes. Both are read here or memory-mapped:

Small files are read, not mapped: CPython's `mmap` keeps a duplicated file
descriptor per mapping, and a folder of tens of thousands of one-trace files
would run out of descriptors (pyarrow's map closes its descriptor once read,
but reading a small file is faster than mapping it anyway). Files are written
without fsync (the index is a cache); their sizes are kept in the segment's
meta and checked here, so a file cut short by a crash raises `TornFileError`
and the segment is rebuilt.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

__all__ = ["SMALL_FILE_BYTES", "TornFileError", "read_buffer"]

# Cache files smaller than this are read into memory instead of mapped (no
# descriptor stays open for them); bigger ones are mapped.
SMALL_FILE_BYTES = 1 << 20


class TornFileError(OSError):
    """A cache file does not have the size its segment's meta recorded (cut short by a crash)."""


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
