"""The kernel isolation layers of the run_code child: one declaration each, one list.

A layer is three things: `probe()` in the parent (is it offered here? "available
(...)" or "unavailable: why", for early refusals and the server's start-up line),
`apply(child)` in the child (enforce it; the line it returns, "active (...)", is
the layer's report, and an exception is its report as "unavailable: ..."), and a
`stage` that says when the child applies it. The policy (`sandbox.policy`), the
probe (`sandbox.probe`) and the child (`sandbox.child`) all read `LAYERS`; a new
layer is its own module plus one entry here.

The order is part of the security model. `BEFORE_IMPORTS` layers bind only the
calling thread and the threads it creates later, so they are applied while the
child is one thread, before numpy/pandas/pyarrow start any; Landlock and the
seccomp filter need no_new_privs first (`needs_no_new_privs`: without it they
are reported unavailable). `AFTER_LOAD` layers come once the data is loaded: the
rlimits so the CPU and memory budget is the code's own, then the filter with
TSYNC on every thread, last, because it forbids what loading still needs.

This module is imported by the child before lock-down: the standard library
only, the layer modules imported when a layer is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["LAYERS", "LAYER_NAMES", "BEFORE_IMPORTS", "AFTER_LOAD", "Layer", "ChildState", "Stage"]

Stage = Literal["before_imports", "after_load"]
BEFORE_IMPORTS: Stage = "before_imports"
AFTER_LOAD: Stage = "after_load"


@dataclass
class ChildState:
    """What a layer may need when the child applies it: the setup file (before imports;
    what may be read and written) and, after the load, the request and /proc/self/status."""

    setup: dict[str, Any]
    request: dict[str, Any] | None = None
    status_fd: int | None = None


@dataclass(frozen=True)
class Layer:
    """One kernel layer: its policy name, when it applies, how it is probed and applied."""

    name: str
    stage: Stage
    probe: Callable[[], str]
    apply: Callable[[ChildState], str]
    needs_no_new_privs: bool = False


def _probe_capabilities() -> str:
    return "available" if sys.platform.startswith("linux") else "unavailable: not Linux"


def _apply_capabilities(child: ChildState) -> str:
    from sandbox import capabilities

    return capabilities.drop_all()


def _probe_landlock() -> str:
    from sandbox import landlock

    try:
        return f"available (ABI {landlock.abi_version()})"
    except landlock.LandlockUnavailable as err:
        return f"unavailable: {err}"


def _apply_landlock(child: ChildState) -> str:
    from sandbox import landlock

    return landlock.restrict(
        read_only=child.setup["read_only"],
        read_write=[child.setup["scratch"]],
        read_write_files=child.setup["read_write_files"],
    )


def _probe_rlimits() -> str:
    return "available" if sys.platform != "win32" else "unavailable: not POSIX"


def _apply_rlimits(child: ChildState) -> str:
    from sandbox import rlimits

    assert child.request is not None, "rlimits apply after the request is read"
    return rlimits.apply(child.request["limits"], child.status_fd)


def _probe_seccomp() -> str:
    from sandbox import seccomp

    try:
        seccomp.available()
    except seccomp.SeccompUnavailable as err:
        return f"unavailable: {err}"
    return "available"


def _apply_seccomp(child: ChildState) -> str:
    from sandbox import seccomp

    return seccomp.install()


# In the order the child applies them.
LAYERS: tuple[Layer, ...] = (
    Layer("capabilities", BEFORE_IMPORTS, _probe_capabilities, _apply_capabilities),
    Layer("landlock", BEFORE_IMPORTS, _probe_landlock, _apply_landlock, needs_no_new_privs=True),
    Layer("rlimits", AFTER_LOAD, _probe_rlimits, _apply_rlimits),
    Layer("seccomp", AFTER_LOAD, _probe_seccomp, _apply_seccomp, needs_no_new_privs=True),
)
LAYER_NAMES: tuple[str, ...] = tuple(layer.name for layer in LAYERS)
