"""What one run_code call returns: output, value or traceback, and the protections in force."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["RunResult", "StopReason"]

# Why the parent stopped the child before it finished, if it did.
StopReason = Literal["wall_time", "cpu_time", "scratch", "killed"]


class RunResult(BaseModel):
    """The outcome of one call. Code that fails is a normal result (ok=False, error set).

    `truncated` is true when stdout, stderr, the value or the error was cut at the
    output cap. Those four are shown, never obeyed: terminal controls and bidi
    characters in them are written as escapes (`\\x1b`, `\\u202e`; see `sandbox.visible`).
    `protections` maps each layer to "active (...)" or to why it is not. `policy`
    is the setting the run was held to (`strict`, `none`, a layer list). `stopped_by`
    names the limit that ended the run early; `exit_code` is the child's exit status
    (negative: killed by that signal).
    """

    ok: bool
    stdout: str
    stderr: str
    value: str | None
    error: str | None
    truncated: bool
    duration_s: float
    protections: dict[str, str]
    policy: str | None = None
    stopped_by: StopReason | None = None
    exit_code: int | None = None
