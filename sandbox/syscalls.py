"""Raw Linux system calls through ctypes, and the syscall numbers per architecture.

The isolation layers (Landlock, seccomp, capabilities) have no wrapper in the
standard library, and adding a compiled dependency for three syscalls is not
worth it. Numbers differ per architecture, so each layer looks them up here and
declines to run on an architecture it does not know (rather than guess).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

__all__ = ["Arch", "ARCH", "libc", "syscall", "SyscallError"]


@dataclass(frozen=True)
class Arch:
    """One CPU architecture: its seccomp audit tag and the syscall numbers we use."""

    name: str
    audit_arch: int
    numbers: dict[str, int]
    # Syscall numbers at or above this are another ABI sharing the audit tag (x86 x32).
    foreign_bit: int | None = None


_COMMON_NEW = {  # numbers allocated after 4.x are the same on every architecture
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "mount_setattr": 442, "memfd_secret": 447, "landlock_create_ruleset": 444,
    "landlock_add_rule": 445, "landlock_restrict_self": 446, "quotactl_fd": 443,
    "fchmodat2": 452, "setxattrat": 463, "removexattrat": 466, "file_setattr": 469,
}

X86_64 = Arch(
    name="x86_64",
    audit_arch=0xC000003E,
    foreign_bit=0x40000000,
    numbers={
        "socket": 41, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
        "kill": 62, "ptrace": 101, "syslog": 103, "capset": 126, "rt_sigqueueinfo": 129,
        "uselib": 134, "personality": 135, "pivot_root": 155, "prctl": 157, "setrlimit": 160,
        "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167,
        "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173, "init_module": 175,
        "delete_module": 176, "tkill": 200, "tgkill": 234, "kexec_load": 246, "add_key": 248,
        "request_key": 249, "keyctl": 250, "unshare": 272, "rt_tgsigqueueinfo": 297,
        "perf_event_open": 298, "prlimit64": 302, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "finit_module": 313, "seccomp": 317, "kexec_file_load": 320,
        "bpf": 321, "execveat": 322, "userfaultfd": 323, "shmget": 29, "semget": 64,
        "msgget": 68, "mq_open": 240, "memfd_create": 319, "ioctl": 16,
        # metadata: modes, owners, times, extended attributes, device nodes, watches
        "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94, "utime": 132,
        "mknod": 133, "quotactl": 179, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
        "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "utimes": 235,
        "inotify_init": 253, "inotify_add_watch": 254, "mknodat": 259, "fchownat": 260,
        "futimesat": 261, "fchmodat": 268, "utimensat": 280, "inotify_init1": 294,
        "fanotify_init": 300, "fanotify_mark": 301, **_COMMON_NEW,
    },
)

AARCH64 = Arch(  # asm-generic numbering; there is no fork, vfork, iopl or ioperm
    name="aarch64",
    audit_arch=0xC00000B7,
    numbers={
        "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "acct": 89, "capset": 91,
        "personality": 92, "unshare": 97, "kexec_load": 104, "init_module": 105,
        "delete_module": 106, "syslog": 116, "ptrace": 117, "kill": 129, "tkill": 130,
        "tgkill": 131, "rt_sigqueueinfo": 138, "reboot": 142, "setrlimit": 164, "prctl": 167,
        "socket": 198, "socketpair": 199, "add_key": 217, "request_key": 218, "keyctl": 219,
        "clone": 220, "execve": 221, "swapon": 224, "swapoff": 225, "rt_tgsigqueueinfo": 240,
        "perf_event_open": 241, "prlimit64": 261, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
        "process_vm_writev": 271, "finit_module": 273, "seccomp": 277, "bpf": 280,
        "execveat": 281, "userfaultfd": 282, "kexec_file_load": 294, "mq_open": 180,
        "msgget": 186, "semget": 190, "shmget": 194, "memfd_create": 279, "ioctl": 29,
        # metadata (asm-generic has only the *at and f* forms)
        "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15,
        "fremovexattr": 16, "inotify_init1": 26, "inotify_add_watch": 27, "mknodat": 33,
        "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55, "quotactl": 60,
        "utimensat": 88, "fanotify_init": 262, "fanotify_mark": 263, **_COMMON_NEW,
    },
)


def _detect_arch() -> Arch | None:
    if not sys.platform.startswith("linux"):
        return None
    machine = platform.machine().lower()
    # A 32-bit Python on a 64-bit kernel would issue 32-bit syscalls: not ours to filter.
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    return {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}.get(machine)


ARCH: Arch | None = _detect_arch()


class SyscallError(OSError):
    """A raw syscall failed; carries errno like any OSError."""


def libc() -> ctypes.CDLL:
    """The C library, loaded with errno capture so failures can be explained."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


_LIBC: ctypes.CDLL | None = None


if TYPE_CHECKING:
    # What a raw syscall takes: integers, or pointers in any of ctypes' forms (byref, arrays).
    SyscallArg = int | ctypes._Pointer[Any] | ctypes._CArgObject | ctypes.Array[Any] | ctypes.c_void_p | None


def syscall(name: str, *args: SyscallArg) -> int:
    """Call syscall `name` with integer / pointer arguments; raise SyscallError on -1."""
    global _LIBC
    if ARCH is None or name not in ARCH.numbers:
        raise SyscallError(0, f"syscall {name} is not known on this platform")
    if _LIBC is None:
        _LIBC = libc()
        _LIBC.syscall.restype = ctypes.c_long
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = _LIBC.syscall(ctypes.c_long(ARCH.numbers[name]), *converted)
    if result == -1:
        err = ctypes.get_errno()
        raise SyscallError(err, f"{name}: {os.strerror(err)}")
    return int(result)
