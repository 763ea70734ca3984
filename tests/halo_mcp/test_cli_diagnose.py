"""`halo-mcp diagnose DATASET -p QUESTION`: progress on stderr, the report on stdout or -o."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.scripted_llm import ScriptedLLM, reply


def _run(tmp_path: Path, server_env, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "diagnose", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path, **env),
        cwd=tmp_path,
        timeout=180,
    )


def test_without_a_model_the_report_is_the_labelled_deterministic_one(tmp_path: Path, traces_dir: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(traces_dir), "-p", "What fails?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Diagnosis: What fails?")
    assert "Produced without a model" in proc.stdout
    assert "run " in proc.stderr  # progress went to stderr
    saved = Path(proc.stderr.split("report saved to ", 1)[1].splitlines()[0])
    assert saved.is_relative_to(tmp_path / "runs") and saved.read_text().startswith("# Diagnosis: What fails?")


def test_a_scripted_model_run_shows_progress_and_writes_the_report_file(tmp_path: Path, traces_dir: Path, server_env) -> None:
    final = {"summary": "Tool calls fail.", "findings": []}
    out = tmp_path / "report.md"
    with ScriptedLLM() as llm:
        llm.script(reply.call("overview", {}), reply.call("final_report", final))
        proc = _run(
            tmp_path,
            server_env,
            str(traces_dir / "tiny.jsonl"),
            "-p",
            "Why?",
            "-o",
            str(out),
            "--model",
            "scripted-model",
            OPENAI_BASE_URL=llm.base_url,
            OPENAI_API_KEY="test",
        )
        models = {r.model for r in llm.requests}
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "turn 1" in proc.stderr
    assert out.read_text().startswith("# Diagnosis: Why?")
    assert models == {"scripted-model"}
