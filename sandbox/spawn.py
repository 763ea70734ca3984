"""Starting children: the command line, the clean environment, and warm spares.

A child imports numpy and pandas before it reads its request, which is most of
its start-up time. Spares are children started ahead and parked at that
point; each serves exactly one call, so every call still gets a fresh process.
Spares hold no request, no data and no limits until a call hands them one.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from sandbox.paths import package_root

__all__ = ["Child", "start_child", "SparePool", "SPARES", "child_env", "bwrap_prefix"]

_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sandbox.child import main; main(int(sys.argv[2]))"
)

# Native libraries run single-threaded: a thread started at import would escape Landlock
# (it binds only threads created after it), and the CPU budget is per process anyway.
_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS",
)


def child_env() -> dict[str, str]:
    """Nothing from the server's environment (it may hold API keys)."""
    env = {name: "1" for name in _THREAD_VARS}
    env.update(PATH="/usr/bin:/bin", LANG="C.UTF-8", LC_ALL="C.UTF-8", MALLOC_ARENA_MAX="2")
    return env


@dataclass
class Child:
    """One started child and the parent's end of its message pipe."""

    proc: subprocess.Popen[bytes]
    message_fd: int

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the child's process group (it is its own session), if not yet reaped."""
        if self.proc.poll() is None:
            for kill in (os.killpg, os.kill):
                try:
                    kill(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def close(self) -> None:
        """Close the parent's pipe ends (after the child has been reaped)."""
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        if self.message_fd >= 0:
            os.close(self.message_fd)
            self.message_fd = -1


_ROOT_SYMLINKS = ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")


def bwrap_prefix(bwrap: str, read_only: list[Path], scratch: Path) -> list[str]:
    """`bwrap --unshare-all` with only what the child needs mounted, read-only but scratch."""
    # No writable tmpfs anywhere (it would be RAM outside every limit): /dev is remounted
    # read-only after bwrap populated it, /tmp is not mounted at all.
    args = [bwrap, "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev"]
    for path in read_only:
        if not str(path).startswith("/dev/"):  # --dev provides null, urandom, ...
            args += ["--ro-bind", str(path), str(path)]
    for link in _ROOT_SYMLINKS:  # merged-/usr systems: the ELF loader is reached via /lib64
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
    args += ["--bind", str(scratch), str(scratch), "--remount-ro", "/dev", "--chdir", str(scratch), "--"]
    return args


def start_child(prefix: list[str] | None = None) -> Child:
    """Start a child, parked before its request; `prefix` wraps it (bwrap)."""
    read_end, write_end = os.pipe()
    command = [*(prefix or []), sys.executable, "-I", "-u", "-c", _BOOTSTRAP,
               str(package_root()), str(write_end)]
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(write_end,), start_new_session=True, env=child_env(), cwd="/",
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return Child(proc, read_end)


class SparePool:
    """Warm, unused children; thread-safe and independent of any event loop."""

    def __init__(self) -> None:
        self._spares: list[Child] = []
        self._lock = threading.Lock()

    def take(self) -> Child:
        """A live spare if there is one, else a child started now."""
        with self._lock:
            while self._spares:
                child = self._spares.pop()
                if child.alive:
                    return child
                child.proc.wait()
                child.close()
        return start_child()

    def refill(self, wanted: int) -> None:
        """Start spares until `wanted` are parked."""
        while True:
            with self._lock:
                if len(self._spares) >= wanted:
                    return
            child = start_child()
            with self._lock:
                self._spares.append(child)

    def close(self) -> None:
        """Let every spare go: end of stdin tells it to exit."""
        with self._lock:
            spares, self._spares = self._spares, []
        for child in spares:
            try:
                if child.proc.stdin is not None:
                    child.proc.stdin.close()
                child.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                child.kill()
                child.proc.wait()
            child.close()


SPARES = SparePool()
atexit.register(SPARES.close)
