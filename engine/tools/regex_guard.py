"""A hard time bound for every user regex that touches trace data.

Patterns RE2 can run (`engine.traces.user_regex`) are searched in a worker
thread: RE2 is linear in the text and releases the GIL, and the store's time
budget (checked between spans) cuts the search and says so. Patterns that need
a backtracking engine (lookaround, backreferences, ...) are never run in this
process: each runs in a child interpreter that is killed at a hard deadline,
and dies with this process (a parent-death signal and a CPU-time limit), so it
can neither stall the server nor outlive it. Waiting for the child is async,
so a cancelled call (the client went away) kills its child at once.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from engine.errors import InvalidPatternError
from engine.tools.common import in_thread

__all__ = ["guarded", "child_main", "CHILD_STARTUP_S"]

# Time a child needs to start and reopen the (already built) index.
CHILD_STARTUP_S = 5.0

M = TypeVar("M", bound=BaseModel)

_CHILD = "from engine.tools.regex_guard import child_main; child_main()"
_PR_SET_PDEATHSIG = 1


async def guarded(ds: Any, pattern: str, limit_s: float, fn: str, result: type[M], /, *args: Any, **kwargs: Any) -> M:
    """`store.<fn>(ds, *args, **kwargs)`: in a worker thread when `pattern` is empty or
    RE2 runs it; else in a child killed after `limit_s` (plus start-up)."""
    from engine.traces import store
    from engine.traces.user_regex import needs_backtracking

    if not pattern or not needs_backtracking(pattern):  # a bad pattern is explained here
        return await in_thread(getattr(store, fn), ds, *args, **kwargs)
    request = pickle.dumps((ds.snapshot(), fn, args, kwargs))
    deadline = limit_s + CHILD_STARTUP_S
    ok, payload = await _in_child(request, pattern, deadline, limit_s)
    if not ok:
        raise payload
    return result.model_validate(payload)


async def _in_child(request: bytes, pattern: str, deadline: float, limit_s: float) -> tuple[bool, Any]:
    """The child's answer, or InvalidPatternError when it ran past `deadline` or died."""
    # A plain interpreter, not multiprocessing: nothing of the caller's __main__ is
    # re-imported, and the child's stdout is a pipe (never an MCP stdio stream).
    argv = [sys.executable, "-c", _CHILD, str(os.getpid()), str(math.ceil(deadline) + 1)]
    process = await anyio.open_process(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    try:
        with anyio.move_on_after(deadline) as scope:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(request)
            await process.stdin.aclose()
            async for chunk in process.stdout:
                out += chunk
            await process.wait()
    finally:
        if process.returncode is None:  # timed out or cancelled: the child goes too
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
    if scope.cancelled_caught:
        raise InvalidPatternError(
            f"the pattern {pattern!r} ran past its time limit ({limit_s:g}s) and was stopped: lookaround and "
            "backreferences need a backtracking engine, and this one can backtrack catastrophically. Use a "
            "simpler pattern without them: a literal phrase, or one quantifier, e.g. 'rate limit' or 'Error: .{0,80}'"
        )
    try:
        answer: tuple[bool, Any] = pickle.loads(bytes(out))
    except Exception:  # the child died without answering
        raise InvalidPatternError(
            f"the search for {pattern!r} stopped unexpectedly (exit {process.returncode}); try a simpler pattern"
        ) from None
    return answer


def _bind_to_parent(parent: int, cpu_s: int) -> None:
    """Die with the parent (Linux parent-death signal), and after `cpu_s` of CPU time in any case."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)


def child_main() -> None:
    """The child: read (dataset spec, function, arguments) pickled on stdin, answer on stdout."""
    _bind_to_parent(int(sys.argv[1]), int(sys.argv[2]))
    from engine.errors import HaloError
    from engine.traces import store
    from engine.traces.dataset import Dataset
    from engine.traces.user_regex import allow_backtracking

    spec, fn, args, kwargs = pickle.loads(sys.stdin.buffer.read())
    try:
        ds = Dataset.open_snapshot(spec)
        with allow_backtracking():
            answer: tuple[bool, Any] = (True, getattr(store, fn)(ds, *args, **kwargs).model_dump())
    except HaloError as exc:
        answer = (False, exc)
    sys.stdout.buffer.write(pickle.dumps(answer))
    sys.stdout.buffer.flush()
