"""`halo-mcp index PATH... [--json]`: builds the index, reports counts, explains bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HALO_MCP_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "index", *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip


def test_index_json_reports_counts_and_a_second_run_reuses_the_index(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    shutil.copy(FIXTURES / "halo" / "medium_traces.jsonl", traces)
    (traces / "broken.jsonl").write_bytes(
        (FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes() + b"{oops\n"
    )
    first = _run(tmp_path, str(traces), "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert (data["files"], data["traces"], data["spans"], data["malformed"]) == (2, 503, 2006, 1)
    assert data["seconds"] >= 0 and data["built"] == 2
    [sample] = data["quality"]["malformed_samples"]
    assert sample.startswith(str((traces / "broken.jsonl").resolve()) + ":7: ")
    assert "%" in first.stderr  # the progress bar
    again = json.loads(_run(tmp_path, str(traces), "--json").stdout)
    assert again["built"] == 0 and again["spans"] == 2006


def test_index_prints_a_text_summary_with_data_quality_notes(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes((FIXTURES / "halo" / "tiny_traces.jsonl").read_bytes() + b"not json\n")
    proc = _run(tmp_path, str(path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 files, 3 traces, 6 spans")
    assert "1 malformed lines, e.g. " in proc.stdout and "t.jsonl:7:" in proc.stdout
    assert proc.stderr == ""


def test_index_of_a_missing_path_fails_with_a_message_and_no_output(tmp_path: Path) -> None:
    proc = _run(tmp_path, str(tmp_path / "nothing.jsonl"), "--json")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and proc.stdout == ""


def test_many_skipped_files_get_a_total_and_a_short_list(tmp_path: Path) -> None:
    from halo_mcp.commands.index import SKIPPED_SHOWN

    traces = tmp_path / "traces"
    traces.mkdir()
    shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", traces)
    for n in range(148):
        (traces / f"package{n:03}.json").write_text('{"name": "not-a-trace", "version": "1.0.0"}')
    proc = _run(tmp_path, str(traces), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "148 files skipped: they hold no trace shape, e.g." in lines
    assert sum("package" in line for line in lines) == SKIPPED_SHOWN
    assert f"  … and {148 - SKIPPED_SHOWN} more" in lines
    assert max(map(len, lines)) < len(str(traces)) + 150
