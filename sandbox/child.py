"""The run_code child: lock itself down, import, load the data, run the code once.

Started by the parent as `python -I -u -c <bootstrap> <root> <message fd> <setup file>`
with a clean environment, in its own session and its own scratch directory. The
setup file (in the scratch directory, removed at once) says what the child may
read and write. Before it imports numpy, pandas or anything else that may start
a thread, the child binds itself to that view: no_new_privs, no capabilities,
Landlock. Those three bind only the calling thread and the threads it creates
later, so they must come first; `import pyarrow` (pulled in by pandas) starts
jemalloc's background thread, which would otherwise escape them. The Python
installation is readable under Landlock, so the imports work after it.

Then it imports (a spare child waits here, warm), reads one JSON request from
stdin, opens the already-built index, builds the frames the code uses, sets the
rlimits (so the CPU budget is the code's own) and the seccomp filter (TSYNC:
every thread), reports each layer on the message pipe, and only then runs the
code. stdout and stderr are the parent's pipes, captured and capped there; the
value or traceback goes back on the message pipe. This module must not import
pydantic or anyio: it is on every call's path.
"""

from __future__ import annotations

import ast
import builtins
import fcntl
import json
import linecache
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

from sandbox.layers import AFTER_LOAD, BEFORE_IMPORTS, LAYER_NAMES, LAYERS, ChildState, Stage

__all__ = ["main", "CODE_FILENAME"]

CODE_FILENAME = "<run_code>"


class _Channel:
    """JSON lines to the parent on an inherited pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


def _cap(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _close_writable_fds(keep: set[int]) -> None:
    """Close any writable descriptor left open before Landlock: it checks opens, not old fds
    (what the child opens later is checked, so this runs once, before the restriction)."""
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd in keep:
            continue
        try:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY:
                os.close(fd)
        except OSError:
            pass


def _no_new_privs() -> str | None:
    """Set no_new_privs (Landlock and the filter need it); None, or why it failed."""
    from sandbox import seccomp

    try:
        seccomp.set_no_new_privs()
    except Exception as err:  # without it neither Landlock nor a filter can be applied
        return f"unavailable: {err}"
    return None


def _apply_stage(stage: Stage, child: ChildState, report: dict[str, str], no_new_privs: str | None) -> None:
    """Apply the layers of one stage, in `LAYERS` order; each reports active or why not."""
    for layer in LAYERS:
        if layer.stage != stage:
            continue
        if layer.needs_no_new_privs and no_new_privs is not None:
            report[layer.name] = no_new_privs
        else:
            report[layer.name] = _attempt(lambda: layer.apply(child))  # noqa: B023 (called at once)


def _attempt(apply: Callable[[], str]) -> str:
    try:
        return apply()
    except Exception as err:  # every failure is reported, the policy decides
        return f"unavailable: {err}"


def _load_namespace(request: dict[str, Any]) -> dict[str, Any]:
    """Globals for the code: pd, np, `sql` when given, and with a dataset spans, traces and load_raw (alias raw)."""
    import numpy
    import pandas

    namespace: dict[str, Any] = {
        "__name__": "__main__", "__builtins__": builtins, "pd": pandas, "np": numpy,
    }
    answer = request.get("sql")
    if answer is not None:  # rows a bounded SELECT returned, run by the server (engine.sources.bounded_sql)
        namespace["sql"] = pandas.DataFrame(answer["rows"], columns=answer["columns"])
    spec = request.get("dataset")
    if spec is None:
        return namespace
    from engine.traces.frames import span_frame, trace_frame
    from sandbox.data import open_dataset, raw_loader

    dataset = open_dataset(spec)
    code = request["code"]
    # Building a frame costs time on big datasets: only build the ones the code names.
    if "spans" in code:
        namespace["spans"] = span_frame(dataset)
    if "traces" in code:
        namespace["traces"] = trace_frame(dataset)
    namespace["load_raw"] = namespace["raw"] = raw_loader(dataset)
    return namespace


def _user_traceback(err: BaseException) -> str:
    """The traceback from the first frame of the user's code on (harness frames cut)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CODE_FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb))


def _run(code: str, namespace: dict[str, Any], cap: int) -> dict[str, Any]:
    """Run the code; show the value of a last expression like a REPL would."""
    linecache.cache[CODE_FILENAME] = (len(code), None, code.splitlines(True), CODE_FILENAME)
    try:
        tree = ast.parse(code, CODE_FILENAME, "exec")
        last = None
        final = tree.body[-1] if tree.body else None
        if isinstance(final, ast.Expr):
            tree.body.pop()
            last = ast.Expression(final.value)
        body = compile(tree, CODE_FILENAME, "exec", dont_inherit=True)
        exec(body, namespace)
        value = None
        if last is not None:
            value = eval(compile(last, CODE_FILENAME, "eval", dont_inherit=True), namespace)
        shown, truncated = (None, False) if value is None else _cap(repr(value), cap)
        return {"ok": True, "value": shown, "error": None, "truncated": truncated}
    except SystemExit as err:
        if err.code in (None, 0):
            return {"ok": True, "value": None, "error": None, "truncated": False}
        error, truncated = _cap(f"SystemExit: {err.code}", cap)
        return {"ok": False, "value": None, "error": error, "truncated": truncated}
    except BaseException as err:  # the code's failure is a normal result
        error, truncated = _cap(_user_traceback(err), cap)
        return {"ok": False, "value": None, "error": error, "truncated": truncated}


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _warm_up() -> None:
    """Import what every call needs (after lock-down); a spare child waits, warm, right after this."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import engine.traces.dataset
    import engine.traces.frames  # noqa: F401
    import sandbox.data
    import sandbox.rlimits
    import sandbox.seccomp  # noqa: F401


def _enter(setup_path: str) -> dict[str, Any]:
    """Read and remove the setup file; move into the scratch directory."""
    with open(setup_path, encoding="utf-8") as file:
        setup: dict[str, Any] = json.load(file)
    os.unlink(setup_path)
    scratch = setup["scratch"]
    os.chdir(scratch)
    os.environ.update(HOME=scratch, TMPDIR=scratch)
    tempfile.tempdir = scratch
    return setup


def _open_status() -> int | None:
    """/proc/self/status, kept open: Landlock closes /proc, the memory check reads it later."""
    try:
        return os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def main(message_fd: int, setup_path: str) -> None:
    """Serve exactly one request, then exit without running user atexit hooks."""
    setup = _enter(setup_path)
    status_fd = _open_status()
    # Landlock checks opens, not descriptors already open: none but ours may be writable.
    _close_writable_fds({0, 1, 2, message_fd})
    # The per-thread layers, while this is the only thread; then the imports.
    child = ChildState(setup=setup, status_fd=status_fd)
    protections: dict[str, str] = {}
    no_new_privs = _no_new_privs()
    _apply_stage(BEFORE_IMPORTS, child, protections, no_new_privs)
    _warm_up()

    # "<length>\n<json>": a length, not end of file, ends the request, because a process
    # the parent forks meanwhile may hold a copy of the pipe's write end for a long time.
    header = sys.stdin.buffer.readline()
    if not header.strip():
        os._exit(0)  # a spare the parent no longer needs
    raw = sys.stdin.buffer.read(int(header))
    channel = _Channel(message_fd)
    request = json.loads(raw)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        namespace = _load_namespace(request)
    except BaseException as err:
        channel.send({"type": "setup_error", "error": _setup_error(err)})
        os._exit(1)
    # The per-process layers, once the data is loaded: rlimits, then seccomp on every thread.
    child.request = request
    _apply_stage(AFTER_LOAD, child, protections, no_new_privs)
    missing = [
        layer for layer in LAYER_NAMES
        if layer in request["required"] and not protections.get(layer, "").startswith("active")
    ]
    if missing:
        channel.send({"type": "refused", "protections": protections, "missing": missing})
        os._exit(0)
    channel.send({"type": "ready", "protections": protections})
    result = _run(request["code"], namespace, request["limits"]["output_bytes"])
    _flush()
    channel.send({"type": "result", **result})
    os._exit(0)


def _setup_error(err: BaseException) -> str:
    """Our own errors are sentences for the model; anything else is a bug: its traceback."""
    from engine.errors import HaloError

    if isinstance(err, HaloError):
        return str(err)
    return "".join(traceback.format_exception(err))
