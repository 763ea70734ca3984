"""Each escape a model's code might try must fail closed, in a real child process."""

from __future__ import annotations

import os
import platform
import selectors
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from sandbox import Limits, run_code
from sandbox.result import RunResult

pytestmark = pytest.mark.anyio


async def run(code: str, limits: Limits) -> RunResult:
    return await run_code(code, dataset=None, limits=limits)


def assert_denied(result: RunResult, error_type: str = "PermissionError") -> None:
    assert not result.ok, result
    assert result.error is not None and error_type in result.error, result.error


# Landlock answers EACCES; under bwrap the path may be absent or on a read-only mount.
FS_DENIED = ("PermissionError", "Read-only file system", "FileNotFoundError")


def assert_fs_denied(result: RunResult) -> None:
    assert not result.ok, result
    assert result.error is not None and any(e in result.error for e in FS_DENIED), result.error


async def test_reading_etc_passwd_is_denied(limits: Limits) -> None:
    assert_fs_denied(await run("open('/etc/passwd').read()", limits))


async def test_listing_the_home_directory_is_denied(limits: Limits) -> None:
    assert_fs_denied(await run(f"import os; os.listdir({str(Path.home())!r})", limits))


async def test_reading_the_servers_environment_through_proc_is_denied(limits: Limits) -> None:
    assert_fs_denied(await run("import os; open(f'/proc/{os.getppid()}/environ').read()", limits))


async def test_the_servers_environment_is_not_inherited(
    limits: Limits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALO_TEST_SECRET", "s3cret")
    result = await run("import os; sorted(os.environ)", limits)
    assert result.ok and result.value is not None
    assert "HALO_TEST_SECRET" not in result.value and "s3cret" not in result.value


async def test_writing_into_the_python_installation_is_denied(limits: Limits) -> None:
    assert_fs_denied(await run("import numpy; open(numpy.__file__, 'a').write('#')", limits))


async def test_writing_outside_scratch_is_denied(limits: Limits, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    assert_fs_denied(await run(f"open({str(target)!r}, 'w').write('x')", limits))
    assert not target.exists()


async def test_writing_to_proc_self_mem_is_denied(limits: Limits) -> None:
    assert_fs_denied(await run("open('/proc/self/mem', 'wb')", limits))


async def test_connecting_to_a_socket_on_localhost_is_denied(limits: Limits) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        result = await run(code, limits)
        assert_denied(result)
        with selectors.DefaultSelector() as waiting:  # not select.select: descriptors past 1,024
            waiting.register(server, selectors.EVENT_READ)
            assert waiting.select(0) == [], "the listener saw a connection attempt"


async def test_unix_sockets_are_denied(limits: Limits) -> None:
    assert_denied(await run("import socket; socket.socket(socket.AF_UNIX)", limits))


async def test_fork_is_denied(limits: Limits) -> None:
    assert_denied(await run("import os; os.fork()", limits))


async def test_subprocess_is_denied(limits: Limits) -> None:
    assert_denied(await run("import subprocess; subprocess.run(['true'])", limits))


async def test_posix_spawn_is_denied(limits: Limits) -> None:
    assert_denied(await run("import os; os.posix_spawn('/bin/true', ['true'], {})", limits))


async def test_multiprocessing_is_denied(limits: Limits) -> None:
    code = "import multiprocessing as mp; p = mp.get_context('fork').Process(target=print); p.start()"
    assert_denied(await run(code, limits))


async def test_allocating_8_gib_fails_with_memory_error(limits: Limits) -> None:
    assert_denied(await run("b = bytearray(8 << 30)", limits), "MemoryError")


async def test_numpy_allocating_8_gib_fails_with_memory_error(limits: Limits) -> None:
    assert_denied(await run("import numpy as np; a = np.ones(1 << 30)", limits), "MemoryError")


async def test_spinning_forever_is_stopped_by_the_cpu_limit() -> None:
    limits = Limits(wall_s=20, cpu_s=1)
    result = await run("while True: pass", limits)
    assert not result.ok
    assert result.stopped_by == "cpu_time"
    assert result.error is not None and "CPU limit" in result.error


async def test_sleeping_forever_is_stopped_by_the_wall_clock() -> None:
    limits = Limits(wall_s=1.5, cpu_s=5)
    result = await run("import time; print('before', flush=True); time.sleep(3600)", limits)
    assert not result.ok
    assert result.stopped_by == "wall_time"
    assert result.stdout == "before\n"
    assert result.error is not None and "wall-clock limit" in result.error


async def test_a_caught_sigxcpu_still_ends_at_the_hard_cpu_limit() -> None:
    limits = Limits(wall_s=20, cpu_s=1)
    code = "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass"
    result = await run(code, limits)
    assert not result.ok and result.exit_code == -signal.SIGKILL


async def test_printing_50_mib_is_cut_at_the_output_cap(limits: Limits) -> None:
    result = await run("import sys\nfor _ in range(50): sys.stdout.write('x' * (1 << 20))\n7", limits)
    assert result.ok and result.value == "7"
    assert result.truncated
    assert len(result.stdout) == limits.output_bytes


async def test_filling_the_scratch_directory_is_stopped() -> None:
    limits = Limits(wall_s=20, scratch_bytes=8 << 20)
    code = (
        "import itertools\n"
        "for i in itertools.count():\n"
        "    with open(f'f{i}', 'wb') as f: f.write(b'x' * (4 << 20))\n"
    )
    result = await run(code, limits)
    assert not result.ok and result.stopped_by == "scratch"


async def test_a_file_bigger_than_the_scratch_cap_cannot_be_written() -> None:
    limits = Limits(scratch_bytes=1 << 20)
    assert_denied(await run("open('big', 'wb').write(b'x' * (2 << 20))", limits), "File too large")


async def test_descriptors_of_the_server_are_not_inherited(limits: Limits, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("secret")
    fd = os.open(tmp_path / "secret", os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        result = await run(f"import os; os.read({fd}, 100)", limits)
    finally:
        os.close(fd)
    assert_denied(result, "Bad file descriptor")


# --- ctypes tricks that try to undo the filters ---------------------------------

LIBC = "import ctypes, ctypes.util; libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
X86_64 = platform.machine() == "x86_64"


async def test_raw_fork_syscall_through_ctypes_is_denied(limits: Limits) -> None:
    nr = 57 if X86_64 else 220  # fork; clone(SIGCHLD) on aarch64
    args = "" if X86_64 else ", 17, 0, 0, 0, 0"
    result = await run(LIBC + f"r = libc.syscall({nr}{args}); (r, ctypes.get_errno())", limits)
    assert result.ok and result.value == "(-1, 1)"


async def test_raw_clone_without_clone_thread_is_denied(limits: Limits) -> None:
    nr = 56 if X86_64 else 220
    result = await run(LIBC + f"r = libc.syscall({nr}, 17, 0, 0, 0, 0); (r, ctypes.get_errno())", limits)
    assert result.ok and result.value == "(-1, 1)"


async def test_clone3_reports_enosys_so_libc_falls_back_to_clone(limits: Limits) -> None:
    result = await run(LIBC + "r = libc.syscall(435, 0, 0); (r, ctypes.get_errno())", limits)
    assert result.ok and result.value == "(-1, 38)"


@pytest.mark.skipif(not X86_64, reason="x32 syscall numbers exist only on x86_64")
async def test_the_x32_syscall_abi_is_denied(limits: Limits) -> None:
    result = await run(LIBC + "r = libc.syscall(0x40000000 | 57); (r, ctypes.get_errno())", limits)
    assert result.ok and result.value == "(-1, 1)"


@pytest.mark.skipif(not X86_64, reason="int 0x80 is the i386 entry on x86_64")
async def test_a_32_bit_syscall_through_int_0x80_kills_the_child(limits: Limits) -> None:
    # mov eax, 2 (i386 fork); int 0x80; ret
    code = (
        "import ctypes, mmap\n"
        "page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "page.write(bytes([0xb8, 2, 0, 0, 0, 0xcd, 0x80, 0xc3]))\n"
        "address = ctypes.addressof(ctypes.c_char.from_buffer(page))\n"
        "ctypes.CFUNCTYPE(ctypes.c_int)(address)()\n"
    )
    result = await run(code, limits)
    assert not result.ok
    assert result.exit_code in (-signal.SIGSYS, -signal.SIGSEGV)


async def test_raising_the_memory_limit_again_is_denied(limits: Limits) -> None:
    code = "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))"
    assert_denied(await run(code, limits), "ValueError")


async def test_raising_a_limit_through_raw_prlimit64_is_denied(limits: Limits) -> None:
    nr = 302 if X86_64 else 261
    code = LIBC + (
        "import resource\n"
        "new = (ctypes.c_uint64 * 2)(2**64 - 1, 2**64 - 1)\n"
        f"r = libc.syscall({nr}, 0, resource.RLIMIT_AS, ctypes.byref(new), None)\n"
        "(r, ctypes.get_errno(), resource.getrlimit(resource.RLIMIT_AS)[0] == 1 << 30)"
    )
    result = await run(code, limits)
    assert result.ok and result.value == "(-1, 1, True)"


async def test_the_child_holds_no_capabilities_and_cannot_regain_them(limits: Limits) -> None:
    capget, capset = (125, 126) if X86_64 else (90, 91)
    code = LIBC + (
        "header = (ctypes.c_uint32 * 2)(0x20080522, 0)\n"
        "held = (ctypes.c_uint32 * 6)()\n"
        f"libc.syscall({capget}, ctypes.byref(header), ctypes.byref(held))\n"
        "sys_resource = 1 << 24\n"  # CAP_SYS_RESOURCE in effective and permitted
        "wanted = (ctypes.c_uint32 * 6)(sys_resource, sys_resource, 0, 0, 0, 0)\n"
        f"r = libc.syscall({capset}, ctypes.byref(header), ctypes.byref(wanted))\n"
        "(list(held), r, ctypes.get_errno())"
    )
    result = await run(code, limits)
    assert result.ok and result.value == "([0, 0, 0, 0, 0, 0], -1, 1)"


async def test_no_new_privs_and_the_seccomp_filter_cannot_be_switched_off(limits: Limits) -> None:
    code = LIBC + (
        "r = libc.prctl(38, 0, 0, 0, 0); e = ctypes.get_errno()\n"  # PR_SET_NO_NEW_PRIVS 0
        "(r, e, libc.prctl(39, 0, 0, 0, 0), libc.prctl(21, 0, 0, 0, 0))"  # GET_NO_NEW_PRIVS, GET_SECCOMP
    )
    result = await run(code, limits)
    assert result.ok and result.value == "(-1, 22, 1, 2)"


async def test_a_new_permissive_landlock_ruleset_does_not_widen_access(limits: Limits) -> None:
    code = LIBC + (
        "import os\n"
        "attr = (ctypes.c_uint64 * 1)(1 << 2)\n"  # handles READ_FILE only, no rules: deny-all
        "fd = libc.syscall(444, ctypes.byref(attr), 8, 0)\n"
        "rule_fd = os.open('/', os.O_PATH)\n"
        "class Rule(ctypes.Structure):\n"
        "    _pack_ = 1\n"
        "    _fields_ = [('access', ctypes.c_uint64), ('fd', ctypes.c_int32)]\n"
        "libc.syscall(445, fd, 1, ctypes.byref(Rule(1 << 2, rule_fd)), 0)\n"
        "libc.syscall(446, fd, 0)\n"
        "open('/etc/passwd').read()\n"
    )
    assert_fs_denied(await run(code, limits))


async def test_signals_to_the_server_or_to_every_process_are_denied(limits: Limits) -> None:
    code = (
        "import os\n"
        "denied = []\n"
        "for pid in (os.getppid(), -1, 1):\n"
        "    try: os.kill(pid, 0)\n"
        "    except PermissionError: denied.append(pid)\n"
        "os.kill(os.getpid(), 0)\n"
        "len(denied)"
    )
    result = await run(code, limits)
    assert result.ok and result.value == "3"


async def test_ptrace_of_another_process_is_denied(limits: Limits) -> None:
    nr = 101 if X86_64 else 117
    # PTRACE_SEIZE (0x4206) on a sleeper of our own: even if it got through, nothing stops.
    with subprocess.Popen(["sleep", "60"]) as sleeper:
        try:
            code = LIBC + f"r = libc.syscall({nr}, 0x4206, {sleeper.pid}, 0, 0); (r, ctypes.get_errno())"
            result = await run(code, limits)
        finally:
            sleeper.kill()
    assert result.ok and result.value == "(-1, 1)"


async def test_io_uring_which_would_bypass_the_filter_is_denied(limits: Limits) -> None:
    code = LIBC + "params = ctypes.create_string_buffer(120)\n"
    code += "r = libc.syscall(425, 4, params); (r, ctypes.get_errno())"
    result = await run(code, limits)
    assert result.ok and result.value == "(-1, 1)"


async def test_new_namespaces_are_denied(limits: Limits) -> None:
    nr = 272 if X86_64 else 97
    code = LIBC + f"r = libc.syscall({nr}, 0x10000000); (r, ctypes.get_errno())"  # CLONE_NEWUSER
    result = await run(code, limits)
    assert result.ok and result.value == "(-1, 1)"


async def test_memory_files_outside_the_address_space_limit_are_denied(limits: Limits) -> None:
    assert_denied(await run("import os; os.memfd_create('ram')", limits))


async def test_unlinked_files_still_count_against_the_scratch_cap() -> None:
    limits = Limits(wall_s=20, scratch_bytes=8 << 20)
    code = (
        "import os, time\n"
        "held = []\n"
        "for i in range(64):\n"
        "    f = open(f'f{i}', 'wb'); f.write(b'x' * (4 << 20)); f.flush(); os.unlink(f'f{i}'); held.append(f)\n"
        "    time.sleep(0.05)\n"
    )
    result = await run(code, limits)
    assert not result.ok and result.stopped_by == "scratch"


# --- metadata: Landlock checks opens and writes, not modes, owners, times or xattrs ---

# Each call, on a path `p` the code was never given; seccomp must answer EPERM.
METADATA_BY_PATH = {
    "chmod": "os.chmod(p, 0o777)",
    "chown": "st = os.stat(p); os.chown(p, st.st_uid, st.st_gid)",
    "lchown": "st = os.lstat(p); os.lchown(p, st.st_uid, st.st_gid)",
    "utime": "os.utime(p, (0, 0))",
    "utime now": "os.utime(p)",
    "setxattr": "os.setxattr(p, 'user.halo', b'x')",
    "removexattr": "os.removexattr(p, 'user.kept')",
    "chmod, fchmodat form": "os.chmod(os.path.basename(p), 0o777, dir_fd=os.open(os.path.dirname(p), os.O_PATH))",
}


@pytest.mark.parametrize("call", sorted(METADATA_BY_PATH))
@pytest.mark.parametrize("target", ["file", "directory"])
async def test_metadata_of_paths_outside_cannot_be_changed(
    limits: Limits, tmp_path: Path, call: str, target: str
) -> None:
    folder = tmp_path / "outside"
    folder.mkdir()
    path = folder / "never-given.txt" if target == "file" else folder
    if target == "file":
        path.write_text("x")
    os.setxattr(path, "user.kept", b"1")
    before = os.stat(path)
    result = await run(f"import os\np = {str(path)!r}\n{METADATA_BY_PATH[call]}", limits)
    assert_denied(result)
    after = os.stat(path)
    assert (after.st_mode, after.st_mtime_ns, after.st_atime_ns) == (
        before.st_mode, before.st_mtime_ns, before.st_atime_ns)
    assert os.listxattr(path) == ["user.kept"]


# The same changes through a descriptor the code may open (read-only: numpy's own file).
# Each would be a no-op if it got through, so a failing test harms nothing.
METADATA_BY_FD = {
    "fchmod": "os.chmod(fd, os.fstat(fd).st_mode & 0o7777)",
    "futimens": "st = os.fstat(fd); os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))",
    "fchown": "st = os.fstat(fd); os.fchown(fd, st.st_uid, st.st_gid)",
    "fremovexattr": "os.removexattr(fd, 'user.halo-absent')",
    "chattr (FS_IOC_SETFLAGS)": (
        "import array, fcntl\nflags = array.array('l', [0])\n"
        "fcntl.ioctl(fd, 0x80086601, flags)\nfcntl.ioctl(fd, 0x40086602, flags)"
    ),
}


@pytest.mark.parametrize("call", sorted(METADATA_BY_FD))
async def test_metadata_cannot_be_changed_through_a_read_only_descriptor(limits: Limits, call: str) -> None:
    code = f"import os, numpy\nfd = os.open(numpy.__file__, os.O_RDONLY)\n{METADATA_BY_FD[call]}"
    assert_denied(await run(code, limits))


async def test_device_nodes_and_fifos_cannot_be_made_even_in_scratch(limits: Limits) -> None:
    assert_denied(await run("import os; os.mkfifo('fifo')", limits))
    assert_denied(await run("import os, stat; os.mknod('node', stat.S_IFREG | 0o600)", limits))


async def test_files_outside_cannot_be_watched_with_inotify(limits: Limits) -> None:
    nr = 294 if X86_64 else 26  # inotify_init1
    result = await run(LIBC + f"r = libc.syscall({nr}, 0); (r, ctypes.get_errno())", limits)
    assert result.ok and result.value == "(-1, 1)"


async def test_files_outside_cannot_be_linked_renamed_or_truncated(limits: Limits, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    for call in ("link", "rename"):
        # Landlock answers EXDEV to a link or rename across its rules (mv then copies: denied).
        result = await run(f"import os; os.{call}({str(outside)!r}, 'taken')", limits)
        assert not result.ok and result.error is not None
        assert "Invalid cross-device link" in result.error or "PermissionError" in result.error
    assert_fs_denied(await run(f"import os; os.truncate({str(outside)!r}, 0)", limits))
    code = "import os, numpy; os.truncate(numpy.__file__, os.path.getsize(numpy.__file__))"
    assert_fs_denied(await run(code, limits))
    assert outside.read_text() == "keep"
