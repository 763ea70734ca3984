"""`halo-mcp config`: the printed/written client config starts a working server."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters


def _config(tmp_path: Path, server_env, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "config", *args, "--project-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**server_env(tmp_path), "HOME": str(tmp_path / "home"), **env},
        cwd=tmp_path,
        timeout=60,
    )


def _json_block(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("\n{") + 1 :] if not stdout.startswith("{") else stdout)


def test_claude_code_config_prints_the_command_and_the_json(tmp_path: Path, traces_dir: Path, server_env) -> None:
    proc = _config(tmp_path, server_env, "claude-code", "--dataset", str(traces_dir))
    assert proc.returncode == 0, proc.stderr
    assert "claude mcp add --scope project" in proc.stdout
    entry = _json_block(proc.stdout)["mcpServers"]["halo"]
    assert entry["type"] == "stdio"
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-3:] == ["serve", "--stdio", str(traces_dir.resolve())]


def test_an_api_key_is_referenced_never_written(tmp_path: Path, traces_dir: Path, server_env) -> None:
    for client, ref in (("claude-code", "${OPENAI_API_KEY:-}"), ("cursor", "${env:OPENAI_API_KEY}")):
        proc = _config(tmp_path, server_env, client, "--dataset", str(traces_dir), OPENAI_API_KEY="sk-do-not-leak")
        assert "sk-do-not-leak" not in proc.stdout
        assert _json_block(proc.stdout)["mcpServers"]["halo"]["env"]["OPENAI_API_KEY"] == ref


def test_write_merges_into_an_existing_config_and_keeps_other_servers(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    existing = {"mcpServers": {"other": {"command": "other-server"}}, "note": "kept"}
    (tmp_path / ".mcp.json").write_text(json.dumps(existing))
    proc = _config(tmp_path, server_env, "claude-code", "--dataset", str(traces_dir), "--write")
    assert proc.returncode == 0, proc.stderr
    written = json.loads((tmp_path / ".mcp.json").read_text())
    assert written["note"] == "kept"
    assert set(written["mcpServers"]) == {"other", "halo"}
    proc = _config(tmp_path, server_env, "cursor", "--dataset", str(traces_dir), "--write")
    assert json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]["halo"]["args"][-1] == str(
        traces_dir.resolve()
    )


def test_a_broken_config_file_is_reported_not_overwritten(tmp_path: Path, server_env) -> None:
    (tmp_path / ".mcp.json").write_text("{ not json")
    proc = _config(tmp_path, server_env, "claude-code", "--write")
    assert proc.returncode == 1
    assert (tmp_path / ".mcp.json").read_text() == "{ not json"


@pytest.mark.anyio
async def test_the_written_entry_starts_a_working_server(tmp_path: Path, traces_dir: Path, server_env) -> None:
    proc = _config(tmp_path, server_env, "cursor", "--dataset", str(traces_dir), "--write")
    assert proc.returncode == 0, proc.stderr
    entry = json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]["halo"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=server_env(tmp_path))
    async with Client(params) as client:
        result = await client.call_tool("overview", {})
    assert not result.is_error


def _printed_claude_command(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return shlex.split(lines[lines.index("# Either run:") + 1])


def test_the_server_name_comes_before_the_env_flags_claude_reads_as_a_list(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    proc = _config(tmp_path, server_env, "claude-code", "--dataset", str(traces_dir), HALO_MODEL="gpt-test")
    argv = _printed_claude_command(proc.stdout)
    assert argv[:6] == ["claude", "mcp", "add", "--scope", "project", "halo"]
    assert argv[argv.index("-e") + 1] != "halo" and "HALO_MODEL=gpt-test" in argv


@pytest.mark.skipif(shutil.which("claude") is None, reason="the Claude Code CLI (`claude`, from npm) is not on PATH")
def test_the_real_claude_cli_accepts_the_printed_command_and_stores_the_printed_entry(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    proc = _config(tmp_path, server_env, "claude-code", "--dataset", str(traces_dir), HALO_MODEL="gpt-test")
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "project"
    project.mkdir()
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"], "DISABLE_AUTOUPDATER": "1"}
    added = subprocess.run(
        _printed_claude_command(proc.stdout), cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert added.returncode == 0, added.stdout + added.stderr
    stored = json.loads((project / ".mcp.json").read_text())["mcpServers"]["halo"]
    assert stored == _json_block(proc.stdout)["mcpServers"]["halo"]
    listed = subprocess.run(
        ["claude", "mcp", "list"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert "halo:" in listed.stdout, listed.stdout + listed.stderr


def test_the_entry_refers_to_the_api_key_even_when_it_is_not_set_yet(
    tmp_path: Path, traces_dir: Path, server_env
) -> None:
    for client, ref in (("claude-code", "${OPENAI_API_KEY:-}"), ("cursor", "${env:OPENAI_API_KEY}")):
        proc = _config(tmp_path, server_env, client, "--dataset", str(traces_dir), OPENAI_API_KEY="")
        assert _json_block(proc.stdout)["mcpServers"]["halo"]["env"]["OPENAI_API_KEY"] == ref
    assert "OPENAI_API_KEY=${OPENAI_API_KEY:-}" in _printed_claude_command(
        _config(tmp_path, server_env, "claude-code", OPENAI_API_KEY="").stdout
    )
