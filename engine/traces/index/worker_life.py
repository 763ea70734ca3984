"""Build workers die with the process that started them.

A `kill -9` of `halo-mcp index` (or of the server) gives its pool no chance to
stop its workers: they would wait on their queue forever. Each worker, as it
starts, asks Linux to kill it when its parent dies (`prctl(PR_SET_PDEATHSIG)`,
through libc), and also runs a watchdog thread that exits it once its parent
is gone (any POSIX system; also the case the parent died before the prctl).

PR_SET_PDEATHSIG fires when the parent *thread* that started the worker ends:
a `Builder`'s pool lives within one build call, in the thread making it, so
that thread outlives its workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

__all__ = ["PARENT_POLL_SECONDS", "die_with_parent"]

# How often a worker's watchdog checks that its parent still lives.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when process `parent_pid` dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no libc to ask: the watchdog below still ends the worker
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the signal was asked for
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watchdog", daemon=True).start()


def _watch(parent_pid: int) -> None:
    stop = threading.Event()
    while not stop.wait(PARENT_POLL_SECONDS):
        if os.getppid() != parent_pid:
            os._exit(1)
