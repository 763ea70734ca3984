"""A read-only or full cache: a warning and a temporary index, or a sentence naming the cache (issue 16: 9)."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.halo_lines import jsonl, span

from engine.errors import CacheUnusableError
from engine.traces.dataset import Dataset


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def _mounted(target: Path, *how: tuple[str, ...]) -> Iterator[None]:
    """Mount steps on `target` (skip the test where mounting is not allowed); unmounted after."""
    if not all(_mount(*step) for step in how):
        subprocess.run(["umount", str(target)], capture_output=True)
        pytest.skip("cannot mount here (needs root and mount rights)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], capture_output=True, check=True)


def _index(cache: Path, *paths: Path) -> subprocess.CompletedProcess:
    env = {"HALO_MCP_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "index", *map(str, paths), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_a_read_only_cache_with_a_stale_entry_indexes_in_a_temporary_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    assert _index(cache, path).returncode == 0
    with open(path, "ab") as f:
        f.write(jsonl(span("t2", "b")))  # stale now: the index must be written again
    with _mounted(cache, ("--bind", str(cache), str(cache)), ("-o", "remount,bind,ro", str(cache))):
        proc = _index(cache, path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("1 files, 2 traces, 2 spans")
    assert f"the index cache {cache} cannot be written (Read-only file system)" in proc.stderr
    assert "--cache-dir" in proc.stderr


def test_a_full_cache_disk_indexes_in_a_temporary_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(*[span(f"t{i}", "a", attributes={"x": "y" * 200}) for i in range(20_000)]))
    with _mounted(cache, ("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(cache))):
        proc = _index(cache, path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("1 files, 20,000 traces")
    assert "cannot be written (No space left on device)" in proc.stderr and "--cache-dir" in proc.stderr


def test_an_unusable_cache_falls_back_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    with caplog.at_level(logging.WARNING):
        ds = Dataset.open([path], cache_dir=blocker / "cache")
    assert ds.n_spans == 1
    assert not ds.cache_root.is_relative_to(blocker)
    assert f"the index cache {blocker / 'cache'} cannot be written" in caplog.text and "--cache-dir" in caplog.text


def test_when_no_directory_can_be_written_the_error_names_the_cache_and_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.traces.index import unwritable as cache_fallback

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(cache_fallback, "_temporary", None)
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))  # where temporary directories are made
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a")))
    with pytest.raises(CacheUnusableError) as err:
        Dataset.open([path], cache_dir=blocker / "cache")
    text = str(err.value)
    assert f"the index cache {blocker / 'cache'} cannot be written" in text and "--cache-dir" in text
    assert "Errno" not in text
