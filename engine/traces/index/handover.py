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
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from concurrent.futures import Future, wait
from typing import Any

from engine.traces.index.build import Piece
from engine.traces.index.parse import parse_range

__all__ = ["HANDOVER_BASE", "Handover", "parse_range_handed", "received"]

# Where hand-over directories are made: memory where the system has a tmpfs for it, else the temp directory.
HANDOVER_BASE = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


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
            pickle.dump(piece, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # full: what was written goes, the piece takes the pipe
        os.unlink(name)
        return piece
    return name


def received(handed: Piece | str) -> Piece:
    """The piece a worker handed over (its file is removed once read)."""
    if isinstance(handed, Piece):
        return handed
    try:
        with open(handed, "rb") as f:
            data = f.read()
    finally:
        os.unlink(handed)
    piece = pickle.loads(data)
    if not isinstance(piece, Piece):
        raise TypeError(f"{handed} holds no piece")
    return piece
