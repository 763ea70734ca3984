"""`halo-mcp patterns PATH... --json`: the exported-flags contract, every flagged span."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.traces.analytics import analyze
from engine.traces.dataset import Dataset

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _run(tmp_path: Path, server_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "patterns", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )


def test_patterns_json_is_exactly_the_contract_with_every_flagged_span(tmp_path: Path, server_env) -> None:
    source = FIXTURES / "analytics" / "patterns.jsonl"
    proc = _run(tmp_path, server_env, str(source), str(FIXTURES / "trail"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc) == ["patterns"] and doc["patterns"]
    for p in doc["patterns"]:
        assert list(p) == ["kind", "title", "traces_affected", "total_traces", "flagged"]
        assert p["total_traces"] == 28 and 1 <= p["traces_affected"] <= 28
        assert all(list(f) == ["trace_id", "span_id"] for f in p["flagged"])
        assert len({f["trace_id"] for f in p["flagged"]}) <= p["traces_affected"]
    # no example cap: the repeated-action pattern lists all three repeats, not three examples of many
    expected = analyze(Dataset.open([source, FIXTURES / "trail"]))
    assert [len(p["flagged"]) for p in doc["patterns"]] == [len(p.flagged) for p in expected.patterns]
    assert sum(len(p["flagged"]) for p in doc["patterns"]) > sum(min(3, len(p.flagged)) for p in expected.patterns)


def test_patterns_prints_text_without_json(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(FIXTURES / "trail"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("3 traces, 33 spans; 3 failure patterns")
    assert "[unsupported_answer] final answer given before any tool was used" in proc.stdout


def test_patterns_of_a_missing_path_fails_with_a_message(tmp_path: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(tmp_path / "nothing.jsonl"), "--json")
    assert proc.returncode == 1 and "does not exist" in proc.stderr and proc.stdout == ""
