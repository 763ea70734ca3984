"""run_code: let a model compute over the dataset with Python, pandas and numpy, safely.

Each call runs in a fresh child process of the server's own Python, locked
down by the kernel layers available (rlimits, Landlock, seccomp, dropped
capabilities) and watched by the parent (wall clock, output caps, scratch
size). See sandbox/README.md for what applies where.

Imports are lazy so the child, which imports `sandbox.child`, does not pay for
pydantic and anyio on every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["run_code", "Limits", "Policy", "RunResult", "protections_available"]

if TYPE_CHECKING:
    from sandbox.limits import Limits
    from sandbox.policy import Policy
    from sandbox.probe import protections_available
    from sandbox.result import RunResult
    from sandbox.runner import run_code

_WHERE = {
    "run_code": "sandbox.runner",
    "Limits": "sandbox.limits",
    "Policy": "sandbox.policy",
    "RunResult": "sandbox.result",
    "protections_available": "sandbox.probe",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
