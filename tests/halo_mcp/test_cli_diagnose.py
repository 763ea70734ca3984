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


def test_without_a_model_the_report_is_the_labelled_deterministic_one(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    proc = _run(tmp_path, server_env, str(traces_dir), "-p", "What fails?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Diagnosis: What fails?")
    assert "Produced without a model" in proc.stdout
    assert "run " in proc.stderr  # progress went to stderr
    saved = Path(proc.stderr.split("report saved to ", 1)[1].splitlines()[0])
    assert saved.is_relative_to(tmp_path / "runs") and saved.read_text().startswith("# Diagnosis: What fails?")


def test_a_scripted_model_run_shows_progress_and_writes_the_report_file(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
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


def test_diagnose_repo_gives_the_agents_the_code_and_checks_a_path_line_citation(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    from support.fake_harness import PROMPT_LINE_3, make_harness

    harness = make_harness(tmp_path / "agent")
    finding = {"title": "One search per question", "category": "instruction_violation", "impact": "high",
               "traces_affected": 1, "total_traces": 1, "evidence": [],
               "code": [{"path": "prompts/system.md", "line": 3, "quote": PROMPT_LINE_3}]}  # fmt: skip
    with ScriptedLLM() as llm:
        llm.script(reply.call("read_file", {"path": "prompts/system.md"}),
                   reply.call("final_report", {"summary": "s", "findings": [finding]}))  # fmt: skip
        proc = _run(tmp_path, server_env, str(traces_dir / "tiny.jsonl"), "-p", "Why?", "--model", "m",
                    "--repo", str(harness), OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="test")  # fmt: skip
        tools, results = llm.requests[0].tool_names, llm.requests[1].tool_results
    assert proc.returncode == 0, proc.stderr
    assert "git_blame" in tools and f"3| {PROMPT_LINE_3}" in results[0]
    assert f"✓ `prompts/system.md:3`: “{PROMPT_LINE_3}”" in proc.stdout


def test_diagnose_repo_that_is_no_directory_is_named_in_a_sentence(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    proc = _run(tmp_path, server_env, str(traces_dir), "-p", "Why?", "--repo", str(tmp_path / "missing"))
    assert proc.returncode != 0 and "is not a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_the_server_takes_its_repository_from_halo_mcp_repo(tmp_path: Path, monkeypatch) -> None:
    import argparse

    from engine.llm import LLMConfig
    from halo_mcp.settings import add_engine_arguments, diagnose_config_factory

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    monkeypatch.setenv("HALO_MCP_REPO", str(tmp_path))
    assert diagnose_config_factory(parser.parse_args([]), LLMConfig())().repo == tmp_path
    flag = parser.parse_args(["--repo", str(tmp_path / ".")])
    assert diagnose_config_factory(flag, LLMConfig())().repo == tmp_path / "."


def test_diagnose_telemetry_writes_spans_that_overview_reads_back(tmp_path: Path, traces_dir: Path, server_env) -> None:
    import json

    telemetry = tmp_path / "own.jsonl"
    with ScriptedLLM() as llm:
        llm.script(reply.call("overview", {}), reply.call("final_report", {"summary": "s", "findings": []}),
                   reply.call("final_report", {"summary": "s", "findings": []}))  # fmt: skip
        proc = _run(tmp_path, server_env, str(traces_dir / "tiny.jsonl"), "-p", "Why?", "--model", "m",
                    "--telemetry", str(telemetry), OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="test")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    overview = subprocess.run([sys.executable, "-m", "halo_mcp", "overview", str(telemetry), "--json"],
                              capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path,
                              timeout=120)  # fmt: skip
    assert overview.returncode == 0, overview.stderr
    assert '"halo-mcp-diagnose"' in overview.stdout and json.loads(overview.stdout)


def test_diagnose_baseline_leads_the_report_with_what_changed(tmp_path: Path, fixtures: Path, server_env) -> None:
    runs = fixtures / "compare" / "runs"
    proc = _run(
        tmp_path, server_env, str(runs / "after.jsonl"), "--baseline", str(runs / "before.jsonl"), "-p", "What changed?"
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("## What changed") < out.index("## Summary")
    assert "**RESOLVED** [error_signature] error family rate limited on 2 span names: 12/60 (20%) → 0/60 (0%)" in out


def test_a_telemetry_collector_without_a_port_is_refused_by_name(tmp_path: Path, traces_dir: Path, server_env) -> None:
    proc = _run(tmp_path, server_env, str(traces_dir), "--telemetry", "otlp://localhost")
    assert proc.returncode == 2 and "needs a host and a port: otlp://127.0.0.1:4318" in proc.stderr


def test_diagnose_html_then_report_html_and_view_write_self_contained_pages(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    page = tmp_path / "report.html"
    proc = _run(tmp_path, server_env, str(traces_dir / "realistic.jsonl"), "-q", "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    assert "Evidence traces" in html and "default-src &#x27;none&#x27;" in html and 'src="http' not in html
    run_id = Path(proc.stderr.split("report saved to ", 1)[1].splitlines()[0]).parent.name
    env = server_env(tmp_path)
    later = tmp_path / "later.html"
    report = subprocess.run([sys.executable, "-m", "halo_mcp", "report", run_id, "--html", str(later)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "Evidence traces" in later.read_text() and run_id in later.read_text()
    trace = tmp_path / "trace.html"
    tiny = str(traces_dir / "tiny.jsonl")
    view = subprocess.run([sys.executable, "-m", "halo_mcp", "view", tiny, "t-bbbb", "--html", str(trace)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert view.returncode == 0, view.stderr
    assert "t-bbbb" in trace.read_text()
    missing = subprocess.run([sys.executable, "-m", "halo_mcp", "view", str(traces_dir / "tiny.jsonl"), "no-such"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert missing.returncode == 1 and "no-such" in missing.stderr and "Traceback" not in missing.stderr
