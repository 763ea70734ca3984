"""Append-only, fsync'd, size-rotated JSONL files: where received requests land.

Every file is created fresh (`O_EXCL`) and only ever appended to, one whole line
per `os.write`, and fsync'd before the export is acknowledged, so what the sender
was told is stored survives a crash of this process or of the machine. A
restarted receiver never reopens an old file: if the last one ends in a line cut
short (the machine went down mid-write), that line stays the last, the index
reports it as one malformed record, and nothing is appended after it. The index
reads the file being written as it grows (only the new tail is parsed).

Names sort by creation time: `otlp-<UTC time>-<pid>-<n>.jsonl`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from halo_mcp.receiver.limits import ROTATE_BYTES

__all__ = ["SinkError", "JsonlSink", "file_stamp"]

logger = logging.getLogger(__name__)


class SinkError(OSError):
    """A line could not be stored (disk full, directory gone): the export is answered 503."""


class JsonlSink:
    """Appends lines to the current file of `directory`, thread-safe, rotating by size."""

    def __init__(self, directory: Path, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._count = 0
        self.current: Path | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def append(self, line: bytes) -> Path:
        """Store one line (a newline is added) durably; returns the file it went to."""
        data = line + b"\n"
        with self._lock:
            try:
                if self._fd is None or (self._size and self._size + len(data) > self.rotate_bytes):
                    self._open_next()
                assert self._fd is not None and self.current is not None
                _write_all(self._fd, data)
                os.fsync(self._fd)
            except OSError as exc:
                # The file may now end in a partial line: never append after it.
                self._close()
                raise SinkError(f"could not store the spans in {self.directory}: {exc.strerror or exc}") from None
            self._size += len(data)
            return self.current

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open_next(self) -> None:
        self._close()
        self._count += 1
        path = self.directory / f"otlp-{file_stamp(time.time_ns())}Z-{os.getpid()}-{self._count}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._size = 0
        self.current = path
        _fsync_directory(self.directory)  # the new name survives a crash too
        logger.info("writing received spans to %s", path)

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def file_stamp(now_ns: int) -> str:
    """UTC time to the microsecond, as file names sort: from one reading of the clock, never rounded up.

    (Seconds and fraction read apart, or a fraction rounded to 1.000000, named
    a file a second earlier than the one before it.)
    """
    seconds, ns = divmod(now_ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{ns // 1000:06d}"
