"""A hard time bound for user regexes: risky patterns run in a child process that is killed.

Python's `re` cannot be interrupted, and the store checks its clock only between
spans, so one pattern that backtracks catastrophically (`(a+)+$`, `(x|xy)*z`,
`.*.*.*=`) on one long span would hold a worker thread for hours. Patterns are
classified from their parse tree: one with no nested, alternating or repeated
unbounded repetition and no backreference runs in-process (linear enough);
any other runs in a spawned child with a hard deadline, and is stopped with an
InvalidPatternError that says why.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any, TypeVar

from pydantic import BaseModel

from engine.errors import InvalidPatternError

__all__ = ["risky", "guarded", "child_main", "CHILD_STARTUP_S"]

# Time a child needs to start and reopen the (already built) index.
CHILD_STARTUP_S = 5.0

M = TypeVar("M", bound=BaseModel)

try:  # the parser is private; if it moves, every pattern is treated as risky
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _sre = None


def risky(pattern: str) -> bool:
    """Whether `pattern` may backtrack super-linearly (nested / alternated / several
    unbounded repeats, or backreferences). Unparseable means risky."""
    if _sre is None:
        return True
    try:
        tree = _sre.parse(pattern)
    except Exception:  # noqa: BLE001 - compile errors are explained elsewhere
        return True
    unbounded = [0]
    return _walk(tree, inside_repeat=False, unbounded=unbounded) or unbounded[0] >= 2


def _walk(items: Any, *, inside_repeat: bool, unbounded: list[int]) -> bool:
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, body = av
            many = high == _sre.MAXREPEAT or high > 100
            if many:
                unbounded[0] += 1
            if many and inside_repeat:
                return True
            if many and _has(body, (_sre.BRANCH,)):
                return True
            if _walk(body, inside_repeat=inside_repeat or many, unbounded=unbounded):
                return True
        elif op == _sre.SUBPATTERN:
            if _walk(av[-1], inside_repeat=inside_repeat, unbounded=unbounded):
                return True
        elif op == _sre.BRANCH:
            for branch in av[1]:
                if _walk(branch, inside_repeat=inside_repeat, unbounded=unbounded):
                    return True
        elif op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
            return True
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            if _walk(av[1], inside_repeat=inside_repeat, unbounded=unbounded):
                return True
    return False


def _has(items: Any, ops: tuple[Any, ...]) -> bool:
    for op, av in items:
        if op in ops:
            return True
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and _has(av[2], ops):
            return True
        if op == _sre.SUBPATTERN and _has(av[-1], ops):
            return True
    return False


def guarded(ds: Any, pattern: str, limit_s: float, fn: str, result: type[M], /, *args: Any, **kwargs: Any) -> M:
    """`store.<fn>(ds, *args, **kwargs)`, in a child killed after `limit_s` (plus start-up)
    when `pattern` is risky; in this process otherwise."""
    from engine.traces import store

    if pattern:
        store.compile_pattern(pattern)  # a bad pattern is explained here, without a child
    if not risky(pattern):
        return getattr(store, fn)(ds, *args, **kwargs)
    request = pickle.dumps((ds.snapshot(), fn, args, kwargs))
    # A plain interpreter, not multiprocessing: nothing of the caller's __main__ is
    # re-imported, and the child's stdout is a pipe (never an MCP stdio stream).
    child = subprocess.Popen(
        [sys.executable, "-c", "from engine.tools.regex_guard import child_main; child_main()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = child.communicate(request, timeout=limit_s + CHILD_STARTUP_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise InvalidPatternError(
            f"the pattern {pattern!r} ran past its time limit ({limit_s:g}s) and was stopped: it can "
            "backtrack catastrophically (nested or repeated quantifiers such as (a+)+ or .*.*). "
            "Use a simpler pattern: a literal phrase, or one quantifier, e.g. 'rate limit' or 'Error: .{0,80}'"
        ) from None
    try:
        ok, payload = pickle.loads(out)
    except Exception:  # noqa: BLE001 - the child died without answering
        raise InvalidPatternError(
            f"the search for {pattern!r} stopped unexpectedly (exit {child.returncode}); try a simpler pattern"
        ) from None
    if not ok:
        raise payload
    return result.model_validate(payload)


def child_main() -> None:
    """The child: read (dataset spec, function, arguments) pickled on stdin, answer on stdout."""
    from engine.errors import HaloError
    from engine.traces import store
    from engine.traces.dataset import Dataset

    spec, fn, args, kwargs = pickle.loads(sys.stdin.buffer.read())
    try:
        ds = Dataset.open_snapshot(spec)
        answer: tuple[bool, Any] = (True, getattr(store, fn)(ds, *args, **kwargs).model_dump())
    except HaloError as exc:
        answer = (False, exc)
    sys.stdout.buffer.write(pickle.dumps(answer))
    sys.stdout.buffer.flush()
