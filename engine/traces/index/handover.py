"""Worker processes hand their pieces to the building process through files, not the result pipe.

A big file's build reads ranges in worker processes (`parse.parse_range`) and
each range's piece (~2.5 MB pickled per 8 MB of HALO lines) went back through
the pool's result pipe. The pipe holds 64 KB: a worker sat blocked until the
pool's result thread of the building process had been scheduled some forty
times to drain it, on a machine whose cores the workers keep busy. Written to
a file in memory (`/dev/shm` where there is one) the piece costs the worker one
write and the builder one read; a 1 GB HALO file built ~7 % faster, 7 of 8
interleaved runs against the pipe.

The directory is private to this process (mode 0700, made by `mkdtemp`): a
piece is unpickled, so nobody else may put a file there. A piece that cannot be
written (a small `/dev/shm`, as containers have) goes through the pipe as before.

The piece's arrays are pickled out of band (protocol 5): the file holds the
pickle stream, then each array's bytes at a 64-byte boundary. The builder maps
the file copy-on-write and the arrays are views of the worker's pages, not
copies: the copies had cost the builder 0.33 s of CPU per 1 GB of HALO lines
(new memory, faulted in page by page), while the workers wanted both cores.
The file is unlinked at once; its pages live until the piece's arrays go. So
that a build does not fill a small `/dev/shm`, a piece is copied instead when
mapping it would leave less than `HANDOVER_KEEP_FREE` of the file system free.
"""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import struct
import tempfile
from concurrent.futures import Future, wait
from typing import Any

from engine.traces.index.build import Piece
from engine.traces.index.parse import parse_range

__all__ = ["HANDOVER_BASE", "HANDOVER_KEEP_FREE", "Handover", "parse_range_handed", "received"]

# Where hand-over directories are made: memory where the system has a tmpfs for it, else the temp directory.
HANDOVER_BASE = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
# Share of the hand-over file system a build leaves free: past it, received pieces are copied, not mapped.
HANDOVER_KEEP_FREE = 0.25
# The file: a header of little-endian uint64 (the number of buffers, the stream's size, each buffer's size),
# the pickle stream, then the buffers, each at a multiple of _ALIGN bytes (numpy reads aligned data fastest).
_ALIGN = 64


class Handover:
    """A directory this build's workers write their pieces into; removed, with what is left in it, on `close`."""

    def __init__(self) -> None:
        _remove_orphans(HANDOVER_BASE)
        try:
            self.directory: str | None = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=HANDOVER_BASE)
        except OSError:  # no room, or the base went: the pieces come through the pipe
            self.directory = None

    def close(self, running: list[Future[Any]]) -> None:
        """Cancel the `running` tasks; remove the directory once those that started (and may write) are done."""
        for task in running:
            task.cancel()
        if self.directory is None:
            return
        wait(running)
        shutil.rmtree(self.directory, ignore_errors=True)


_PREFIX = "halo-pieces-"


def _remove_orphans(base: str) -> None:
    """Remove the hand-over directories of builds whose process is gone (killed mid-build: in memory until reboot)."""
    if not hasattr(os, "getuid"):  # no owners to tell apart, and no signal 0 to ask whether a process lives
        return
    try:
        names = [n for n in os.listdir(base) if n.startswith(_PREFIX)]
    except OSError:
        return
    uid = os.getuid()
    for name in names:
        pid = name[len(_PREFIX) :].partition("-")[0]
        path = os.path.join(base, name)
        try:
            if not pid.isdecimal() or os.lstat(path).st_uid != uid:
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its builder is gone
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive (maybe another user's: no right to signal it), or already removed
            continue


def parse_range_handed(
    directory: str | None, path: str, shape: str, start: int, end: int | None, source_raw: bool
) -> Piece | str:
    """`parse_range`'s piece, as the name of the file in `directory` that holds it (runs in workers).

    The piece itself when there is no directory or the file cannot be written.
    """
    piece = parse_range(path, shape, start, end, source_raw)
    if directory is None:
        return piece
    try:
        fd, name = tempfile.mkstemp(dir=directory)
    except OSError:
        return piece
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, piece)
    except OSError:  # full: what was written goes, the piece takes the pipe
        os.unlink(name)
        return piece
    return name


def _write(f: Any, piece: Piece) -> None:
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(piece, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    sizes = [len(stream), *map(len, raws)]
    f.write(struct.pack(f"<{len(sizes) + 1}Q", len(raws), *sizes))
    at = 8 * (len(sizes) + 1)
    for part in (stream, *raws):
        pad = -at % _ALIGN
        f.write(b"\0" * pad)
        f.write(part)
        at += pad + len(part)


def received(handed: Piece | str) -> Piece:
    """The piece a worker handed over: its arrays map the file (see above), which is removed at once."""
    if isinstance(handed, Piece):
        return handed
    try:
        with open(handed, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if _room_after(f.fileno(), size):
                data: Any = memoryview(mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY))
            else:
                data = memoryview(bytearray(size))
                f.readinto(data)
    finally:
        os.unlink(handed)
    (count,) = struct.unpack_from("<Q", data)
    sizes = struct.unpack_from(f"<{count + 1}Q", data, 8)
    parts, at = [], 8 * (count + 2)
    for n in sizes:
        at += -at % _ALIGN
        parts.append(data[at : at + n])
        at += n
    piece = pickle.loads(parts[0], buffers=parts[1:])
    if not isinstance(piece, Piece):
        raise TypeError(f"{handed} holds no piece")
    return piece


def _room_after(fd: int, size: int) -> bool:
    """Whether the file system keeps `HANDOVER_KEEP_FREE` of its space free with `size` more bytes held.

    False where there is no `fstatvfs` (Windows, which cannot remove a mapped file either).
    """
    fstatvfs = getattr(os, "fstatvfs", None)
    if fstatvfs is None:
        return False
    try:
        fs: os.statvfs_result = fstatvfs(fd)
    except OSError:
        return False
    return (fs.f_bavail * fs.f_frsize - size) >= HANDOVER_KEEP_FREE * fs.f_blocks * fs.f_frsize
