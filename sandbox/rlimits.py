"""Kernel resource limits on the child: memory, CPU time, file size, open files.

Set after the data is loaded, so the CPU budget is the user's code's own:
the soft CPU limit sends SIGXCPU (fatal, no core), the hard limit one second
later SIGKILL in case the code catches SIGXCPU. Soft and hard are set equal
otherwise, and capabilities are dropped, so nothing can raise them again.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from typing import Any

__all__ = ["apply", "RlimitsUnavailable"]


class RlimitsUnavailable(Exception):
    """A required limit could not be set; the message says which and why."""


def _address_space_now(status_fd: int | None) -> int | None:
    """VmSize from /proc/self/status, read through a descriptor opened before Landlock."""
    if status_fd is None:
        return None
    try:
        text = os.pread(status_fd, 1 << 16, 0).decode("ascii", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return None


def _set_data_limit(memory: int) -> bool:
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    except (ValueError, OSError):
        return False
    return True


def apply(limits: dict[str, Any], status_fd: int | None = None) -> str:
    """Set the limits from a Limits dump; return the report line or raise saying what failed.

    `status_fd` is an open /proc/self/status: with it, a dataset that already
    fills the memory limit is named as the reason instead of failing later.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_soft = math.ceil(usage.ru_utime + usage.ru_stime + limits["cpu_s"])
    memory = int(limits["memory_bytes"])
    in_use = _address_space_now(status_fd)
    if in_use is not None and in_use >= memory:
        raise RlimitsUnavailable(
            f"the loaded data already uses {in_use >> 20} MiB of address space, "
            f"more than the {memory >> 20} MiB memory limit"
        )
    wanted = [
        ("memory", getattr(resource, "RLIMIT_AS", None), memory, memory),
        ("cpu", resource.RLIMIT_CPU, cpu_soft, cpu_soft + 1),
        ("file size", resource.RLIMIT_FSIZE, limits["scratch_bytes"], limits["scratch_bytes"]),
        ("open files", resource.RLIMIT_NOFILE, limits["open_files"], limits["open_files"]),
        ("core dumps", resource.RLIMIT_CORE, 0, 0),
    ]
    failed: list[str] = []
    for label, which, soft, hard in wanted:
        try:
            if which is None:
                raise ValueError(f"not supported on {sys.platform}")
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError) as err:
            # macOS refuses RLIMIT_AS; RLIMIT_DATA is the nearest it offers.
            if label == "memory" and _set_data_limit(memory):
                continue
            failed.append(f"{label}: {err}")
    if failed:
        raise RlimitsUnavailable("could not set " + "; ".join(failed))
    return (
        f"active (address space {memory >> 20} MiB, CPU {limits['cpu_s']} s, "
        f"file size {limits['scratch_bytes'] >> 20} MiB, {limits['open_files']} open files, no core dumps)"
    )
