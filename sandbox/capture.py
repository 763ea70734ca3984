"""Async plumbing for the child's pipes: capped reads, full writes, waiting for exit.

Raw file descriptors and `anyio.wait_readable` instead of loop-bound process
objects, so a spare child started under one event loop serves a call on
another. Output past the cap is read and dropped, never left in the pipe: a
child blocked on a full pipe would only burn its wall-clock budget.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

import anyio

__all__ = ["CappedBuffer", "drain", "write_all", "wait_exit"]

_CHUNK = 1 << 16
_EXIT_POLL_S = 0.005


@dataclass
class CappedBuffer:
    """Keeps the first `cap` bytes, counts the rest."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


async def drain(fd: int, buffer: CappedBuffer) -> None:
    """Read `fd` until end of file into `buffer`."""
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        if not chunk:
            return
        buffer.feed(chunk)


async def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a pipe; a dead reader raises BrokenPipeError."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await anyio.wait_writable(fd)


async def wait_exit(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the child to exit (pidfd where the kernel has one, else polling)."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
    try:
        while (code := proc.poll()) is None:
            if pidfd is not None:
                await anyio.wait_readable(pidfd)
            else:
                await anyio.sleep(_EXIT_POLL_S)
        return code
    finally:
        if pidfd is not None:
            anyio.notify_closing(pidfd)
            os.close(pidfd)
