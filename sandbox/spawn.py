"""Starting children: the command line, the clean environment, and warm spares.

A child binds itself to its `View` (what it may read, its scratch directory)
before it imports anything, because a library may start a thread at import
and Landlock binds only threads created after it. It then imports numpy and
pandas before it reads its request, which is most of its start-up time. Spares
are children started ahead for the view of the last call (the same dataset,
most of the time) and parked after the imports; a call with another view
starts a child of its own. Each child serves exactly one call, so every call
still gets a fresh process; spares hold no request and no limits until a call
hands them one.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sandbox.paths import READ_WRITE_FILES, child_read_only, package_root

__all__ = ["View", "Child", "start_child", "SparePool", "SPARES", "child_env", "bwrap_prefix"]

# The setup file's name in a child's scratch directory; the child removes it at once.
SETUP_NAME = ".halo-setup.json"

_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from sandbox.child import main; main(int(sys.argv[2]), sys.argv[3])"
)

# Native libraries run single-threaded: a thread started at import would escape Landlock
# (it binds only threads created after it), and the CPU budget is per process anyway.
_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS",
)


def child_env() -> dict[str, str]:
    """Nothing from the server's environment (it may hold API keys).

    pyarrow's own allocator (jemalloc) reserves 1 GiB of address space on first use, which
    counts against the address-space limit: Arrow uses the C library's malloc instead.
    """
    env = {name: "1" for name in _THREAD_VARS}
    env.update(PATH="/usr/bin:/bin", LANG="C.UTF-8", LC_ALL="C.UTF-8", MALLOC_ARENA_MAX="2",
               ARROW_DEFAULT_MEMORY_POOL="system")
    return env


@dataclass(frozen=True)
class View:
    """What a child may reach, fixed before it imports: paths to read, files to write."""

    read_only: tuple[str, ...]
    read_write_files: tuple[str, ...] = READ_WRITE_FILES

    @classmethod
    def for_data(cls, data: Iterable[Path] = ()) -> View:
        """The interpreter, our packages and system libraries, plus `data` (files, index dirs)."""
        return cls(tuple(str(p) for p in child_read_only(data)))


@dataclass
class Child:
    """One started child, its view, its scratch directory and the parent's end of its message pipe."""

    proc: subprocess.Popen[bytes]
    message_fd: int
    view: View
    scratch: Path

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

    def discard(self) -> None:
        """Kill, reap, close and remove the scratch directory: for a spare nobody will use."""
        self.kill()
        self.proc.wait()
        self.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


_ROOT_SYMLINKS = ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")


def bwrap_prefix(bwrap: str, read_only: Iterable[str | Path], scratch: Path) -> list[str]:
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


def start_child(view: View, bwrap: str | None = None) -> Child:
    """Start a child in a new scratch directory, parked before its request; `bwrap` wraps it."""
    scratch = Path(tempfile.mkdtemp(prefix="halo-run-"))
    setup = {"scratch": str(scratch), "read_only": list(view.read_only),
             "read_write_files": list(view.read_write_files)}
    (scratch / SETUP_NAME).write_text(json.dumps(setup), encoding="utf-8")
    prefix = bwrap_prefix(bwrap, view.read_only, scratch) if bwrap else []
    read_end, write_end = os.pipe()
    command = [*prefix, sys.executable, "-I", "-u", "-c", _BOOTSTRAP,
               str(package_root()), str(write_end), str(scratch / SETUP_NAME)]
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(write_end,), start_new_session=True, env=child_env(), cwd="/",
        )
    except BaseException:
        os.close(read_end)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        os.close(write_end)
    return Child(proc, read_end, view, scratch)


class SparePool:
    """Warm, unused children of one view; thread-safe and independent of any event loop."""

    def __init__(self) -> None:
        self._spares: list[Child] = []
        self._lock = threading.Lock()

    def take(self, view: View | None = None) -> Child:
        """A live spare for `view` (default: no data) if there is one, else a child started now."""
        view = view or View.for_data()
        with self._lock:
            found = next((c for c in self._spares if c.view == view and c.alive), None)
            if found is not None:
                self._spares.remove(found)
                return found
        return start_child(view)

    def refill(self, wanted: int, view: View | None = None) -> None:
        """Start spares for `view` until `wanted` are parked; spares of other views go."""
        view = view or View.for_data()
        with self._lock:
            kept: list[Child] = []
            stale: list[Child] = []
            for child in self._spares:
                (kept if child.view == view and child.alive else stale).append(child)
            self._spares = kept
        for child in stale:
            child.discard()
        while True:
            with self._lock:
                if len(self._spares) >= wanted:
                    return
            child = start_child(view)
            with self._lock:
                self._spares.append(child)

    def close(self) -> None:
        """Let every spare go: end of stdin tells it to exit; its scratch directory is removed."""
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
            shutil.rmtree(child.scratch, ignore_errors=True)


SPARES = SparePool()
atexit.register(SPARES.close)
