"""The run_code child: import, load the data, lock itself down, run the code once.

Started by the parent as `python -I -u -c <bootstrap> <root> <message fd>` with a
clean environment, in its own session. Before any request it imports numpy and
pandas (so a spare child can wait here, warm). Then it reads one JSON request
from stdin, opens the already-built index, builds the frames the code uses,
applies every isolation layer it can, reports them on the message pipe, and
only then runs the code. stdout and stderr are the parent's pipes, captured
and capped there; the value or traceback goes back on the message pipe.
This module must not import pydantic or anyio: it is on every call's path.
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

__all__ = ["main", "CODE_FILENAME"]

CODE_FILENAME = "<run_code>"
_POLICY_LAYERS = ("rlimits", "landlock", "seccomp", "capabilities")


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
    """Close any writable descriptor a library left open: Landlock checks opens, not old fds."""
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd in keep:
            continue
        try:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY:
                os.close(fd)
        except OSError:
            pass


def _apply_layers(request: dict[str, Any]) -> dict[str, str]:
    """Apply every layer this kernel offers; each entry says active (what) or why not."""
    from sandbox import capabilities, landlock, rlimits, seccomp

    report: dict[str, str] = {}

    def attempt(layer: str, apply: Callable[[], str]) -> None:
        try:
            report[layer] = apply()
        except Exception as err:  # every failure is reported, the policy decides
            report[layer] = f"unavailable: {err}"

    nnp_error: str | None = None
    try:
        seccomp.set_no_new_privs()
    except Exception as err:
        nnp_error = f"unavailable: {err}"
    attempt("capabilities", capabilities.drop_all)
    attempt("rlimits", lambda: rlimits.apply(request["limits"]))
    if nnp_error:
        report["landlock"] = report["seccomp"] = nnp_error
        return report
    attempt("landlock", lambda: landlock.restrict(
        read_only=request["read_only"],
        read_write=[request["scratch"]],
        read_write_files=request["read_write_files"],
    ))
    attempt("seccomp", seccomp.install)
    return report


def _load_namespace(request: dict[str, Any]) -> dict[str, Any]:
    """Globals for the code: pd, np and, with a dataset, spans, traces and load_raw (alias raw)."""
    import numpy
    import pandas

    namespace: dict[str, Any] = {
        "__name__": "__main__", "__builtins__": builtins, "pd": pandas, "np": numpy,
    }
    spec = request.get("dataset")
    if spec is None:
        return namespace
    from sandbox.data import open_dataset, raw_loader

    dataset = open_dataset(spec)
    code = request["code"]
    # Building a frame costs time on big datasets: only build the ones the code names.
    if "spans" in code:
        namespace["spans"] = dataset.span_frame()
    if "traces" in code:
        namespace["traces"] = dataset.trace_frame()
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
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
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
    """Import what every call needs; a spare child waits, warm, right after this."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import sandbox.capabilities  # noqa: F401
    import sandbox.landlock  # noqa: F401
    import sandbox.rlimits  # noqa: F401
    import sandbox.seccomp  # noqa: F401
    import sandbox.data  # noqa: F401
    import engine.traces.dataset  # noqa: F401
    import engine.traces.frames  # noqa: F401


def main(message_fd: int) -> None:
    """Serve exactly one request, then exit without running user atexit hooks."""
    _warm_up()

    # "<length>\n<json>": a length, not end of file, ends the request, because a process
    # the parent forks meanwhile may hold a copy of the pipe's write end for a long time.
    header = sys.stdin.buffer.readline()
    if not header.strip():
        os._exit(0)  # a spare the parent no longer needs
    raw = sys.stdin.buffer.read(int(header))
    channel = _Channel(message_fd)
    request = json.loads(raw)
    scratch = request["scratch"]
    os.chdir(scratch)
    os.environ.update(HOME=scratch, TMPDIR=scratch)
    tempfile.tempdir = scratch
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        namespace = _load_namespace(request)
    except BaseException as err:
        channel.send({"type": "setup_error", "error": "".join(traceback.format_exception(err))})
        os._exit(1)
    _close_writable_fds({0, 1, 2, message_fd})
    protections = _apply_layers(request)
    missing = [
        layer for layer in _POLICY_LAYERS
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
