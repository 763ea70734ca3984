"""A file's pages allocated ahead of its write, on a thread, while what goes into it is still computed.

A chunk's spans file is written whole at the end of finalize (Arrow writes a
record batch at once). The write is a copy into the page cache, but the first
write of a page the kernel has to allocate costs far more than a rewrite: on
the bench VM 256 MB took 0.44-0.63 s written new and 0.03 s written again
(pages a VM guest has not touched yet are backed by the host on first touch).
Finalize computes the file's columns for ~0.7 s before it writes them, so
`ReservedFile` writes zeros into the file as each column is added, on a thread
of its own (the write releases the GIL), and the final write goes over them.

Nothing here is needed for correctness: a reservation that fails or lags is
cut short (`stop`), and the write covers the rest as any write would.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

__all__ = ["RESERVE_BLOCK_BYTES", "RESERVE_FROM_BYTES", "ReservedFile"]

# Zeros are written in blocks of this size.
RESERVE_BLOCK_BYTES = 8 << 20
# A file is reserved once this much is announced: smaller ones (a folder's packs, built in
# workers beside each other) are written before the zeros get far, by a process whose other
# core is busy anyway (a folder's build took 1 % longer with them reserved).
RESERVE_FROM_BYTES = 32 << 20
_ZEROS = memoryview(bytes(RESERVE_BLOCK_BYTES))


class ReservedFile:
    """Zeros written ahead into `path` (created), one block per `RESERVE_BLOCK_BYTES` announced by `grow`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._block = RESERVE_BLOCK_BYTES
        self._announced = 0
        self._submitted = 0
        self._file: BinaryIO | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._blocks: list[Future[None]] = []
        self._failed = False

    def grow(self, nbytes: int) -> None:
        """`nbytes` more will be written into the file: reserve them (whole blocks, on the thread)."""
        self._announced += nbytes
        if self._announced < RESERVE_FROM_BYTES:
            return
        while self._announced - self._submitted >= self._block:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="reserve")
            self._blocks.append(self._thread.submit(self._write_block))
            self._submitted += self._block

    def stop(self) -> int:
        """Cancel the blocks not begun, wait for the one being written; the bytes reserved (0: none, or it failed)."""
        for block in self._blocks:
            block.cancel()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._file is not None:
            size = self._file.tell()
            self._file.close()
            self._file = None
            return 0 if self._failed else size
        return 0

    def _write_block(self) -> None:
        if self._failed:
            return
        try:
            if self._file is None:
                self._file = open(self.path, "wb", buffering=0)  # closed by `stop`
            self._file.write(_ZEROS if self._block == len(_ZEROS) else bytes(self._block))
        except OSError:  # a full disk: the real write will say so
            self._failed = True
            try:
                os.unlink(self.path)
            except OSError:
                pass
