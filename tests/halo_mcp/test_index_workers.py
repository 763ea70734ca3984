"""kill -9 of `halo-mcp index` takes its build workers with it (issue 16: 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from support.halo_lines import span

from engine.traces.index.segments import PARALLEL_MIN_BYTES

# Generous: the workers' watchdog polls every second; PR_SET_PDEATHSIG is at once.
_GONE_WITHIN_SECONDS = 30.0


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (it waits only to be reaped)


def _big_file(path: Path) -> None:
    template = orjson.dumps(span("TRACE", "SPAN", attributes={"pad": "p" * 300})) + b"\n"
    with open(path, "wb") as f:
        n = 0
        while n < 6 * PARALLEL_MIN_BYTES:
            block = b"".join(template.replace(b"TRACE", b"t%09d" % i).replace(b"SPAN", b"s%09d" % i)
                             for i in range(n // len(template), n // len(template) + 10_000))  # fmt: skip
            f.write(block)
            n += len(block)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2, reason="needs /proc and 2 CPUs")
def test_kill_9_of_index_leaves_no_worker_running(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    _big_file(path)
    env = {**os.environ, "HALO_MCP_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "index", str(path), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers = {c for c in _children(proc.pid) if _alive(c)}
            time.sleep(0.01)
        assert len(workers) >= 2, "the build finished before its workers were seen: make the file bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + _GONE_WITHIN_SECONDS
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:  # never leave an orphan behind a failed test
            if _alive(w):
                os.kill(w, signal.SIGKILL)
