"""seccomp: no new processes, no sockets, no way to loosen the other layers.

A classic-BPF program, assembled here, runs on every syscall of the child:
- another architecture's syscall ABI (i386 `int 0x80`, x32) kills the process
  or fails, so nobody can reach an unfiltered syscall table;
- fork, vfork, execve, execveat, and clone without CLONE_THREAD (or with
  namespace flags) fail with EPERM; threads stay allowed; clone3 reports ENOSYS
  so the C library falls back to clone, whose flags the filter can read;
- socket and socketpair fail, for every address family (a unix socket could
  reach a daemon on the host, e.g. the Docker socket);
- kill and tgkill may only target the child itself; other signal senders,
  ptrace, process_vm_*, io_uring (which would bypass this filter), mounts,
  namespaces, modules, keyrings, bpf, SysV/POSIX IPC objects that outlive the
  process, memory files (memfd: RAM outside the address-space limit), raising
  rlimits (setrlimit, prlimit64 with a new limit) and capset fail with EPERM;
- nothing changes a file's metadata, anywhere: Landlock checks opens, writes,
  creations and removals, but not chmod, chown, utime/utimensat, set/remove
  xattr, nor the ioctls that set inode flags (chattr), fsxattr, fs-verity,
  encryption policies or labels; and fchmod, fsetxattr, FS_IOC_SETFLAGS work on
  a descriptor opened read-only. A filter cannot read a path, so these fail with
  EPERM outright, in the scratch directory too (code there has no need of them;
  `shutil.copy` copies the mode and fails: `shutil.copyfile` does not). Device
  nodes (mknod), inotify / fanotify watches (they would report when the server
  reads its files) and quota calls fail the same way.
The filter is installed with TSYNC (every thread), after no_new_privs; it can
only ever be tightened, never removed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from sandbox.syscalls import ARCH, Arch, SyscallError, syscall

__all__ = ["build_filter", "install", "available", "SeccompUnavailable"]

# BPF opcodes (linux/bpf_common.h), seccomp return actions (linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

_SET_MODE_FILTER = 1
_GET_ACTION_AVAIL = 2
_FLAG_TSYNC = 1
_PR_SET_NO_NEW_PRIVS = 38

# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6]  (little-endian words)
_NR = 0
_ARCH = 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 20 + 8 * i


CLONE_THREAD = 0x00010000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

DENIED = (
    "fork", "vfork", "execve", "execveat", "socket", "socketpair", "tkill",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    "ptrace", "process_vm_readv", "process_vm_writev", "setrlimit", "capset",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns", "mount",
    "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "bpf", "perf_event_open", "userfaultfd", "keyctl",
    "add_key", "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "iopl", "ioperm", "personality",
    "syslog", "name_to_handle_at", "open_by_handle_at", "uselib", "acct",
    "shmget", "semget", "msgget", "mq_open", "memfd_create", "memfd_secret",
)
# Calls that change metadata (or watch files); a filter cannot tell scratch paths apart.
METADATA_DENIED = (
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "setxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
    "file_setattr", "mknod", "mknodat", "inotify_init", "inotify_init1", "inotify_add_watch",
    "fanotify_init", "fanotify_mark", "quotactl", "quotactl_fd",
)
# ioctl requests that set inode metadata (linux/fs.h, linux/fsverity.h, linux/fscrypt.h);
# the kernel reads the request as a 32-bit number, so the low word is what counts.
IOCTL_DENIED = {
    "FS_IOC_SETFLAGS": 0x40086602, "FS_IOC32_SETFLAGS": 0x40046602,
    "FS_IOC_SETVERSION": 0x40087602, "FS_IOC32_SETVERSION": 0x40047602,
    "FS_IOC_FSSETXATTR": 0x401C5820, "FS_IOC_ENABLE_VERITY": 0x40806685,
    "FS_IOC_SET_ENCRYPTION_POLICY": 0x800C6613, "FS_IOC_SETFSLABEL": 0x41009432,
}


class SeccompUnavailable(Exception):
    """seccomp filtering cannot be applied here; the message says why."""


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _ret(action: int) -> bytes:
    return _insn(_RET, 0, 0, action)


def _eperm() -> bytes:
    return _ret(RET_ERRNO | errno.EPERM)


def _guarded(nr: int, block: list[bytes]) -> list[bytes]:
    """`if syscall == nr: <block>`; the block must end in a return on every path."""
    return [_insn(_JEQ, 0, len(block), nr), *block]


def build_filter(arch: Arch, pid: int) -> bytes:
    """The filter program for `arch`, letting signals reach only process `pid`."""
    nums = arch.numbers
    prog: list[bytes] = [
        _insn(_LD_W_ABS, 0, 0, _ARCH),
        _insn(_JEQ, 1, 0, arch.audit_arch),
        _ret(RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _NR),
    ]
    if arch.foreign_bit is not None:
        prog += [_insn(_JGE, 0, 1, arch.foreign_bit), _eperm()]
    for name in (*DENIED, *METADATA_DENIED):
        if name in nums:
            prog += _guarded(nums[name], [_eperm()])
    requests = list(IOCTL_DENIED.values())
    ioctl_block = [_insn(_LD_W_ABS, 0, 0, _arg_lo(1))]
    for i, request in enumerate(requests):  # a match jumps to the EPERM at the end
        ioctl_block.append(_insn(_JEQ, len(requests) - i, 0, request))
    ioctl_block += [_ret(RET_ALLOW), _eperm()]
    prog += _guarded(nums["ioctl"], ioctl_block)
    prog += _guarded(nums["clone3"], [_ret(RET_ERRNO | errno.ENOSYS)])
    prog += _guarded(nums["clone"], [
        _insn(_LD_W_ABS, 0, 0, _arg_lo(0)),
        _insn(_JSET, 2, 0, CLONE_NAMESPACES),
        _insn(_JSET, 0, 1, CLONE_THREAD),
        _ret(RET_ALLOW),
        _eperm(),
    ])
    for name in ("kill", "tgkill"):  # first argument is the target process id
        prog += _guarded(nums[name], [
            _insn(_LD_W_ABS, 0, 0, _arg_lo(0)),
            _insn(_JEQ, 0, 1, pid),
            _ret(RET_ALLOW),
            _eperm(),
        ])
    prog += _guarded(nums["prlimit64"], [  # reading limits (new_limit NULL) is fine
        _insn(_LD_W_ABS, 0, 0, _arg_lo(2)),
        _insn(_JEQ, 0, 3, 0),
        _insn(_LD_W_ABS, 0, 0, _arg_hi(2)),
        _insn(_JEQ, 0, 1, 0),
        _ret(RET_ALLOW),
        _eperm(),
    ])
    prog.append(_ret(RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def available() -> None:
    """Raise SeccompUnavailable (saying why) unless filters with errno returns work here."""
    if ARCH is None:
        raise SeccompUnavailable("not Linux on a known architecture (x86_64, aarch64)")
    action = ctypes.c_uint32(RET_ERRNO)
    try:
        syscall("seccomp", _GET_ACTION_AVAIL, 0, ctypes.byref(action))
    except SyscallError as err:
        raise SeccompUnavailable(f"seccomp filters unavailable: {err}") from None


def set_no_new_privs() -> None:
    """Required before an unprivileged filter or Landlock; also blocks setuid gains."""
    try:
        syscall("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except SyscallError as err:
        raise SeccompUnavailable(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {err}") from None


def install() -> str:
    """Install the filter on every thread of this process; return the report line."""
    available()
    assert ARCH is not None
    program = build_filter(ARCH, os.getpid())
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len=len(program) // 8, filter=ctypes.cast(buffer, ctypes.c_void_p))
    try:
        result = syscall("seccomp", _SET_MODE_FILTER, _FLAG_TSYNC, ctypes.byref(fprog))
    except SyscallError as err:
        raise SeccompUnavailable(f"installing the filter failed: {err}") from None
    if result != 0:  # TSYNC: the id of a thread that could not be synchronised
        raise SeccompUnavailable(f"thread {result} could not take the filter")
    return (
        f"active ({ARCH.name}: no fork/exec/new processes, no sockets, "
        "no ptrace/io_uring/mount/namespaces, no metadata changes, signals to self only)"
    )
