"""`halo-mcp overview DATASET`: the overview tool's answer on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from halo_mcp.progress import PROGRESS_DELAY_ENV


def _run(tmp_path: Path, server_env, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "overview", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path, **env),
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


def test_a_file_of_no_trace_shape_is_explained_with_the_flag_a_cli_user_passes(tmp_path: Path, server_env) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text('{"title": "not a trace"}')
    proc = _run(tmp_path, server_env, str(notes))
    assert proc.returncode == 1
    assert "--shape" in proc.stderr and "pass one as `shape=`" not in proc.stderr


def test_indexing_a_new_dataset_shows_progress_on_stderr_only(tmp_path: Path, traces_dir: Path, server_env) -> None:
    # Progress shows once indexing outlasts PROGRESS_DELAY_S; 0 makes that every build, without timing the test.
    proc = _run(tmp_path, server_env, str(traces_dir), **{PROGRESS_DELAY_ENV: "0"})
    assert proc.returncode == 0, proc.stderr
    assert "indexing [" in proc.stderr and "100%" in proc.stderr and " MB" in proc.stderr
    assert proc.stdout.startswith("dataset: ") and "indexing" not in proc.stdout
