"""`--sandbox-policy` and $HALO_SANDBOX_POLICY reach run_code; serve logs the sandbox at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


async def _policy_of_a_run(params) -> tuple[str, str]:
    async with Client(params) as client:
        with anyio.fail_after(60):
            answer = await client.call_tool("run_code", {"code": "1 + 1"})
    assert not answer.is_error, answer.content[0].text
    assert answer.structured_content["value"] == "2"
    return answer.structured_content["policy"], answer.content[0].text


async def test_the_flag_overrides_the_environment_and_reaches_run_code(
    traces_dir: Path, tmp_path: Path, stdio_params
) -> None:
    dataset = str(traces_dir / "tiny.jsonl")
    from_env = stdio_params(tmp_path, dataset, HALO_SANDBOX_POLICY="limits-only")
    from_flag = stdio_params(tmp_path, "--sandbox-policy", "none", dataset, HALO_SANDBOX_POLICY="limits-only")
    assert (await _policy_of_a_run(from_env))[0] == "limits-only"
    policy, text = await _policy_of_a_run(from_flag)
    assert policy == "none"
    assert "sandbox (policy none): " in text


def _serve(tmp_path: Path, server_env, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`halo-mcp -v serve --stdio ARGS` with no client: it starts, reads EOF, and exits."""
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "-v", "serve", "--stdio", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=server_env(tmp_path, **env),
        cwd=tmp_path,
        timeout=60,
    )


def test_serve_logs_the_available_protections_in_one_line_at_start_up(tmp_path: Path, server_env) -> None:
    from sandbox import protections_available

    done = _serve(tmp_path, server_env, "--sandbox-policy", "rlimits,seccomp")
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "run_code sandbox" in line]
    assert "(policy rlimits,seccomp)" in line
    for layer, status in protections_available().items():
        assert f"{layer} {status}" in line
    assert done.stdout == ""  # stdout is the protocol's


def test_an_unknown_policy_flag_is_refused_naming_the_choices(tmp_path: Path, server_env) -> None:
    done = _serve(tmp_path, server_env, "--sandbox-policy", "paranoid")
    assert done.returncode == 2
    assert "--sandbox-policy" in done.stderr and "strict, limits-only, none" in done.stderr


def test_an_unknown_policy_in_the_environment_stops_serve_with_its_name(tmp_path: Path, server_env) -> None:
    done = _serve(tmp_path, server_env, HALO_SANDBOX_POLICY="paranoid")
    assert done.returncode == 2
    assert "'paranoid'" in done.stderr and "strict, limits-only, none" in done.stderr
