"""Which kernel layers this host offers, found out in the parent before spawning.

The child's own report is the authority (it is what actually got applied);
this probe lets run_code refuse early with a clear message, and lets the
server log at start-up what protection model calls will get.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from sandbox.layers import LAYERS
from sandbox.policy import is_active

__all__ = ["protections_available", "bwrap_usable", "bwrap_choice"]


@functools.cache
def protections_available() -> dict[str, str]:
    """Layer -> "available (...)" or "unavailable: why", for the kernel layers (`sandbox.layers`)."""
    return {layer.name: layer.probe() for layer in LAYERS}


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


def bwrap_choice(setting: str) -> tuple[str | None, str]:
    """(bwrap path to wrap with or None, the report line) for a policy's `bwrap` setting."""
    if setting == "never":
        return None, "off (HALO_SANDBOX_BWRAP=never)"
    if setting == "auto" and is_active(protections_available()["landlock"]):
        return None, "off (Landlock isolates the filesystem; HALO_SANDBOX_BWRAP=always adds it)"
    if shutil.which("bwrap") is None:
        return None, "unavailable: bwrap not installed"
    path = bwrap_usable()
    if path is None:
        return None, "unavailable: bwrap cannot create namespaces here (user namespaces denied?)"
    return path, "active (--unshare-all: own mount, network, PID, IPC and UTS namespaces)"
