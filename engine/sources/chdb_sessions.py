"""chDB sessions: one per database directory, kept open a little while between the engine's statements.

chDB (embedded ClickHouse) lets one process hold a database directory, one
directory per process, and each session it closes leaves about 8 file
descriptors behind (its threads' `/proc` files). Opening a session per tool
call would lock other processes out only briefly but grow a long-running
server's descriptors by that much per call, until it can open no more.

So the engine's own sessions (`keep=True`, what `clickhouse.connect` asks for)
are parked after use and reused by the next statement on the same directory;
one unused for `CHDB_IDLE_CLOSE_S` is closed, which lets another process (a
loader, a second server) open the directory again. A writer's session
(`keep=False`: a test, a loader in this process) is closed when its block ends.
Opening another directory closes the parked one first (one directory per process).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import SourceError

__all__ = ["CHDB_IDLE_CLOSE_S", "chdb_session", "close_idle", "error_line"]

# Seconds an engine's chDB session stays open after its last use, for the next call to reuse.
CHDB_IDLE_CLOSE_S = 30.0

_held: dict[str, Any] = {}  # sessions in use in this process, by directory
_idle: dict[str, tuple[Any, threading.Timer]] = {}  # parked sessions and the timers that close them
_lock = threading.Lock()


@contextmanager
def chdb_session(path: Path | str, display: str | None = None, *, keep: bool = False) -> Iterator[Any]:
    """A chDB session on `path` for the block's length: the one in use or parked when there is one.

    A writer holding the directory shares its session with the engine instead of
    locking it out. `keep` parks the session afterwards instead of closing it.
    """
    key = os.path.realpath(path)
    with _lock:  # in use, parked or new: decided at once, so no second session opens the directory
        shared = _held.get(key)
        entry = None if shared is not None else _idle.pop(key, None)
        if entry is not None:
            entry[1].cancel()
            _held[key] = entry[0]
    if shared is not None:
        yield shared
        return
    if entry is None:
        close_idle()  # one directory per process
        opened = _open(key, display or f"chdb://{key}")
        with _lock:
            _held[key] = opened
    else:
        opened = entry[0]
    try:
        yield opened
    finally:
        with _lock:
            del _held[key]
            parked = keep and CHDB_IDLE_CLOSE_S > 0
            if parked:
                timer = threading.Timer(CHDB_IDLE_CLOSE_S, _expire, (key, opened))
                timer.daemon = True
                _idle[key] = (opened, timer)
                timer.start()
        if not parked:
            opened.close()


def close_idle() -> None:
    """Close every parked session (at exit, and before another directory is opened)."""
    with _lock:  # closed under the lock: nobody reopens a directory before its session is shut
        for session, timer in _idle.values():
            timer.cancel()
            session.close()
        _idle.clear()


def error_line(exc: BaseException) -> str:
    """An error as one line for a message: its type and the first line of its text (ClickHouse's run long)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:400] if text else ''}"


def _open(key: str, label: str) -> Any:
    from chdb import session as chdb  # the `clickhouse` extra

    try:
        return chdb.Session(key)  # type: ignore[no-untyped-call]
    except Exception as exc:
        reason = error_line(exc)
        if "lock" in reason.lower() or "already" in reason.lower():
            reason = f"{reason} (chDB opens a database directory in one process at a time, one directory per process)"
        raise SourceError(f"{label}: cannot open the chDB database: {reason}") from None


def _expire(key: str, session: Any) -> None:
    with _lock:
        entry = _idle.get(key)
        if entry is None or entry[0] is not session:
            return  # taken again, or closed already
        del _idle[key]
        session.close()


atexit.register(close_idle)
