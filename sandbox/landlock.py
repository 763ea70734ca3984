"""Landlock: the child may read only what it needs and write only its scratch dir.

Landlock is an unprivileged LSM (Linux >= 5.13). A ruleset lists the access
rights it *handles*; everything handled and not granted by a rule beneath some
path is denied, for root too. We handle every right the kernel's ABI knows, so
newer kernels deny more (TCP bind/connect from ABI 4, signals and abstract unix
sockets to outside the sandbox from ABI 6). Rules cannot be removed or widened
once applied, and they pass to every thread created afterwards; threads that
already exist are not bound, so `restrict` refuses when more than one runs.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sandbox.syscalls import ARCH, SyscallError, syscall

__all__ = ["abi_version", "restrict", "LandlockUnavailable"]

# Filesystem rights (include/uapi/linux/landlock.h), with the ABI that added them.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_LATEST = (1 << 16) - 1  # ABI >= 5
# Rights that make sense on a file (not a directory); others make add_rule fail.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

READ_ONLY = READ_FILE | READ_DIR
READ_WRITE = (
    READ_FILE | READ_DIR | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG
    | MAKE_SYM | REFER | TRUNCATE
)

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_O_PATH = getattr(os, "O_PATH", 0o10000000)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is packed: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockUnavailable(Exception):
    """Landlock cannot be applied here; the message says why (for the report)."""


def abi_version() -> int:
    """The kernel's Landlock ABI, or raise LandlockUnavailable saying why there is none."""
    if ARCH is None:
        raise LandlockUnavailable("not Linux on a known architecture")
    try:
        return syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except SyscallError as err:
        reason = {
            38: "kernel built without Landlock (ENOSYS; needs Linux >= 5.13)",
            95: "Landlock disabled at boot (EOPNOTSUPP; add landlock to the lsm= list)",
            1: "denied by the container's seccomp profile (EPERM)",
        }.get(err.errno or 0, str(err))
        raise LandlockUnavailable(reason) from None


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def restrict(
    *,
    read_only: Iterable[Path],
    read_write: Iterable[Path],
    read_write_files: Iterable[Path] = (),
) -> str:
    """Bind this process to the rules; return the report line. Needs no_new_privs set.

    `read_only` and `read_write` may name directories (rights apply beneath them)
    or files; missing paths are skipped (a rule cannot name what does not exist,
    and nothing can be created there either). `read_write_files` are single files
    such as /dev/null that may be written but not replaced.
    """
    abi = abi_version()
    threads = _thread_count()
    if threads != 1:
        raise LandlockUnavailable(
            f"{threads} threads were running at restriction time; Landlock would bind only one"
        )
    handled_fs = _FS_BY_ABI.get(abi, _FS_LATEST)
    attr = _RulesetAttr(handled_access_fs=handled_fs)
    size = 8
    parts = ["filesystem"]
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
        parts.append("TCP bind/connect denied")
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
        parts.append("signals and abstract sockets scoped")
    ruleset = syscall("landlock_create_ruleset", ctypes.byref(attr), size, 0)
    try:
        for path in read_only:
            _add_rule(ruleset, path, READ_ONLY & handled_fs)
        for path in read_write:
            _add_rule(ruleset, path, READ_WRITE & handled_fs)
        for path in read_write_files:
            _add_rule(ruleset, path, (READ_FILE | WRITE_FILE | TRUNCATE) & handled_fs)
        syscall("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)
    return f"active (ABI {abi}: " + ", ".join(parts) + ")"


def _add_rule(ruleset: int, path: Path, rights: int) -> None:
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        syscall("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)
