"""`halo-mcp overview DATASET`: the overview tool's answer on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, server_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "overview", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )


def test_overview_prints_the_text_and_json_on_request(tmp_path: Path, traces_dir: Path, server_env) -> None:
    text = _run(tmp_path, server_env, str(traces_dir))
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip()
    data = json.loads(_run(tmp_path, server_env, str(traces_dir), "--json").stdout)
    assert isinstance(data, dict) and data


def test_overview_of_a_missing_path_fails_with_a_message(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(tmp_path / "nothing.jsonl"))
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr
    assert proc.stdout == ""
