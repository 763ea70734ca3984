"""Once through an outside client: the MCP Inspector's CLI (from npm) against `halo-mcp serve --stdio`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INSPECTOR = "@modelcontextprotocol/inspector"
TIMEOUT_S = 300  # the first run downloads the inspector from the npm registry

pytestmark = pytest.mark.skipif(shutil.which("npm") is None or shutil.which("npx") is None, reason="npm is absent")


def _inspect(tmp_path: Path, server_env, dataset: Path, *method: str) -> dict:
    env_flags: list[str] = []
    for key, value in server_env(tmp_path).items():
        if value:  # the inspector refuses KEY= with nothing after it
            env_flags += ["-e", f"{key}={value}"]
    script = Path(sys.executable).parent / "halo-mcp"
    proc = subprocess.run(
        ["npx", "-y", INSPECTOR, "--cli", *env_flags, str(script), "serve", "--stdio", str(dataset), *method],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_the_inspector_lists_the_tools_and_calls_overview(traces_dir: Path, tmp_path: Path, server_env) -> None:
    listed = _inspect(tmp_path, server_env, traces_dir, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"overview", "search", "diagnose", "diagnose_status"} <= names
    overview = next(t for t in listed["tools"] if t["name"] == "overview")
    assert overview["annotations"]["readOnlyHint"] is True
    called = _inspect(tmp_path, server_env, traces_dir, "--method", "tools/call", "--tool-name", "overview")
    assert called["isError"] is False
    assert called["structuredContent"]
    templates = _inspect(tmp_path, server_env, traces_dir, "--method", "resources/templates/list")
    uris = {t["uriTemplate"] for t in templates["resourceTemplates"]}
    assert "halo://runs/{run_id}/report" in uris
