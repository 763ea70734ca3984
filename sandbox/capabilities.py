"""Drop every Linux capability the child holds (it runs as root in containers).

Landlock binds root too, but capabilities such as CAP_SYS_RESOURCE (raise a
hard rlimit again), CAP_KILL or CAP_SYS_ADMIN would let code undo or step
around other layers. With no exec possible, clearing the effective, permitted
and inheritable sets is final: nothing can regain them.
"""

from __future__ import annotations

import ctypes

from sandbox.syscalls import ARCH, SyscallError, syscall

__all__ = ["drop_all", "CapabilitiesUnavailable"]

_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class CapabilitiesUnavailable(Exception):
    """Capabilities could not be dropped; the message says why."""


def _permitted() -> int:
    """The permitted set from /proc (read before Landlock closes /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return 0


def drop_all() -> str:
    """Clear all capability sets of this thread; return the report line."""
    if ARCH is None:
        raise CapabilitiesUnavailable("not Linux")
    held = _permitted()
    header = _Header(version=_VERSION_3, pid=0)
    data = (_Data * 2)()
    try:
        syscall("capset", ctypes.byref(header), data)
    except SyscallError as err:
        raise CapabilitiesUnavailable(f"capset failed: {err}") from None
    if _permitted() != 0:
        raise CapabilitiesUnavailable("capabilities still held after capset")
    return "active (all dropped)" if held else "active (none held)"
