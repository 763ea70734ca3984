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


def test_a_finding_of_a_saved_diagnose_run_is_checked_against_the_candidate(tmp_path: Path, server_env) -> None:
    diagnosed = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "diagnose", str(RUNS / "before.jsonl")],
        capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert diagnosed.returncode == 0, diagnosed.stderr
    [run_id] = [p.name for p in (tmp_path / "runs").iterdir()]  # server_env's HALO_MCP_RUNS_DIR
    first = diagnosed.stdout.index("### 1. ")
    assert "rate limited" in diagnosed.stdout[first : diagnosed.stdout.index("### 2. ")]
    args = (str(RUNS / "before.jsonl"), str(RUNS / "after.jsonl"), "--run-id", run_id, "--json")
    fixed = json.loads(_run(tmp_path, server_env, *args, "--finding", "1").stdout)["finding"]
    kept = json.loads(_run(tmp_path, server_env, *args, "--finding", "2").stdout)["finding"]
    assert (fixed["still_occurs"], fixed["patterns"][0]["verdict"]) == (False, "resolved")
    assert kept["still_occurs"] and "still occurs, in up to 3 of 60 candidate traces" in kept["summary"]
    missing = _run(tmp_path, server_env, *args, "--finding", "7")
    assert missing.returncode == 1 and f"run {run_id} has no finding 7; its findings are 1-2" in missing.stderr
