"""`halo-mcp compare BASELINE [CANDIDATE] [--json]`: a real subprocess, the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "compare"
RUNS = FIXTURES / "runs"
PATTERN_KEYS = {
    "kind", "title", "subject", "failure_class", "baseline", "baseline_total", "candidate", "candidate_total",
    "difference", "low", "high", "p_value", "test", "detectable", "verdict",
}  # fmt: skip


def _run(tmp_path: Path, server_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "compare", *args],
        capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=120,
    )  # fmt: skip


def test_compare_json_holds_every_pattern_with_its_counts_interval_test_and_verdict(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(RUNS / "before.jsonl"), str(RUNS / "after.jsonl"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"baseline", "candidate", "baseline_traces", "candidate_traces", "small_sample", "sample", "patterns",
            "success", "tools", "runs", "tests", "notes"} <= set(doc)  # fmt: skip
    assert all(PATTERN_KEYS <= set(p) for p in doc["patterns"])
    verdicts = {p["title"]: p["verdict"] for p in doc["patterns"]}
    assert verdicts == {"error family rate limited on 2 span names": "resolved", "root: boom": "unchanged"}
    assert {m["metric"] for m in doc["runs"]} == {"latency_ms", "tokens", "cost"}
    assert set(doc["runs"][0]["delta"]) == {"p50", "p90", "p99"}
    assert set(doc["success"]) == {"final_answer", "turn_limit"}


def test_compare_splits_one_dataset_by_time_and_prints_text(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(RUNS), "--after", "2026-04-24T00:00:00Z")
    assert proc.returncode == 0, proc.stderr
    assert "(60 traces) → candidate" in proc.stdout
    assert "1. RESOLVED [error_signature] error family rate limited" in proc.stdout


def test_compare_splits_by_service_version(tmp_path: Path, server_env) -> None:
    proc = _run(
        tmp_path, server_env, str(RUNS), "--attribute", "service.version",
        "--baseline-value", "0.1.0", "--candidate-value", "0.2.0", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["patterns"][0]["verdict"] == "resolved"


def test_compare_without_a_candidate_or_split_exits_1_with_a_sentence(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(RUNS))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("halo-mcp: compare needs a candidate dataset")
