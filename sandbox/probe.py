"""Which kernel layers this host offers, found out in the parent before spawning.

The child's own report is the authority (it is what actually got applied);
this probe lets run_code refuse early with a clear message, and lets the
server log at start-up what protection model calls will get.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys

__all__ = ["protections_available", "bwrap_usable"]


@functools.cache
def protections_available() -> dict[str, str]:
    """Layer -> "available (...)" or "unavailable: why", for the kernel layers."""
    from sandbox import landlock, seccomp

    report = {"rlimits": "available" if sys.platform != "win32" else "unavailable: not POSIX"}
    try:
        report["landlock"] = f"available (ABI {landlock.abi_version()})"
    except landlock.LandlockUnavailable as err:
        report["landlock"] = f"unavailable: {err}"
    try:
        seccomp.available()
        report["seccomp"] = "available"
    except seccomp.SeccompUnavailable as err:
        report["seccomp"] = f"unavailable: {err}"
    report["capabilities"] = (
        "available" if sys.platform.startswith("linux") else "unavailable: not Linux"
    )
    return report


@functools.cache
def bwrap_usable() -> str | None:
    """The bwrap path when `bwrap --unshare-all` really works here, else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def bwrap_status(use_bwrap: bool) -> str:
    if not use_bwrap:
        return "off (disabled by the policy)"
    if shutil.which("bwrap") is None:
        return "unavailable: bwrap not installed"
    if bwrap_usable() is None:
        return "unavailable: bwrap cannot create namespaces here (user namespaces denied?)"
    return "active (--unshare-all: no network, own PID/IPC/UTS namespaces)"
