"""`halo-mcp config`: the printed/written client config starts a working server."""

from __future__ import annotations

import json
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


def test_write_merges_into_an_existing_config_and_keeps_other_servers(tmp_path: Path, traces_dir: Path, server_env) -> None:
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
