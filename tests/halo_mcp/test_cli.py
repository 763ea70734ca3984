"""`halo-mcp` itself: --version, a reader of stdout that goes away, a dataset that is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from halo_mcp import __version__
from halo_mcp.cli import BROKEN_PIPE_EXIT


def _halo(tmp_path: Path, server_env, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", *args],
        capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=120, **kw,
    )  # fmt: skip


def test_version_prints_the_installed_version(tmp_path: Path, server_env) -> None:
    proc = _halo(tmp_path, server_env, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"halo-mcp {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ("config", "claude-code", "--dataset", "{traces}"),
        ("overview", "{traces}"),
        ("index", "--no-progress", "{traces}"),
        ("prune",),
    ],
    ids=["config", "overview", "index", "prune"],
)
def test_a_closed_stdout_ends_the_command_quietly(tmp_path: Path, traces_dir: Path, server_env, args) -> None:
    """`halo-mcp … | head`: the reader is gone before the command writes (a pipe whose read end is closed)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "halo_mcp", *(a.format(traces=traces_dir) for a in args)],
            stdout=write, stderr=subprocess.PIPE, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == BROKEN_PIPE_EXIT


def test_serve_refuses_to_start_on_a_dataset_that_does_not_exist(tmp_path: Path, server_env) -> None:
    missing = tmp_path / "no-such-traces"
    proc = _halo(tmp_path, server_env, "serve", "--stdio", str(missing), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert f"dataset {str(missing)!r} does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
