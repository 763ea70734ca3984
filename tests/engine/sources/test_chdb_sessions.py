"""The engine's chDB sessions are reused between calls and released when idle.

Each chDB session leaves ~8 descriptors behind when it closes, so a session per
call would grow a long-running server until it can open no more files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.otel_clickhouse import exporter_rows, filled_chdb, insert_rows

from engine.sources import chdb_sessions, clickhouse, pushdown
from engine.sources.base import SourceURL

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"
# What another process runs to open the directory: exit 0 when it could.
OPEN_ELSEWHERE = "import sys; from chdb import session; session.Session(sys.argv[1]).close()"


@pytest.fixture
def chdb_dir(tmp_path: Path) -> Path:
    filled_chdb(tmp_path / "db", exporter_rows([FIXTURES / "realistic_traces.jsonl"]))
    return tmp_path / "db"


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _opens_elsewhere(path: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", OPEN_ELSEWHERE, str(path)], capture_output=True, timeout=60)
    return done.returncode == 0


def test_twenty_calls_reuse_one_session_and_leave_no_descriptors_behind(chdb_dir: Path) -> None:
    url = SourceURL.parse(f"chdb://{chdb_dir}?database=otel")
    pushdown.overview(url)
    before = _descriptors()
    for _ in range(20):
        assert pushdown.overview(url).spans == 58
    # A session per call left ~8 each (160 here); one parked session leaves none.
    assert _descriptors() - before < 20


def test_a_parked_session_is_released_after_its_idle_time(chdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = SourceURL.parse(f"chdb://{chdb_dir}?database=otel")
    pushdown.overview(url)
    assert not _opens_elsewhere(chdb_dir)  # parked: this process still holds the directory
    monkeypatch.setattr(chdb_sessions, "CHDB_IDLE_CLOSE_S", 0.2)
    pushdown.overview(url)  # parked again, now for 0.2 s
    time.sleep(1.0)
    assert _opens_elsewhere(chdb_dir)


def test_a_writer_in_this_process_shares_the_parked_session(chdb_dir: Path) -> None:
    url = SourceURL.parse(f"chdb://{chdb_dir}?database=otel")
    assert pushdown.overview(url).spans == 58
    with clickhouse.chdb_session(chdb_dir) as session:  # the engine's parked session, taken over
        insert_rows(session, exporter_rows([FIXTURES / "tiny_traces.jsonl"]))
    assert pushdown.overview(url).spans > 58
