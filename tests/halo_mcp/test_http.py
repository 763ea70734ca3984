"""`halo-mcp serve --http`: streamable HTTP on 127.0.0.1, bearer token, runs outliving sessions."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-test-token"


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read()}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/mcp", timeout=0.5)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start listening")


@pytest.fixture
def http_server(traces_dir: Path, tmp_path: Path, free_port: int, server_env) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "halo_mcp",
            "serve",
            "--http",
            "--port",
            str(free_port),
            "--token",
            TOKEN,
            str(traces_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        _wait_listening(free_port, proc)
        yield f"http://127.0.0.1:{free_port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


@asynccontextmanager
async def _client(url: str, token: str = TOKEN) -> AsyncIterator[Client]:
    # The SDK leaves a client it was given open: close it here.
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


async def test_http_serves_tools_to_a_client_with_the_token(http_server: str) -> None:
    async with _client(http_server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "overview" in names
        result = await client.call_tool("overview", {})
    assert not result.is_error


async def test_http_refuses_requests_without_the_token(http_server: str) -> None:
    response = httpx2.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401
    wrong = httpx2.post(
        http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


async def test_a_run_outlives_the_http_session_that_started_it(http_server: str) -> None:
    async with _client(http_server) as first:
        run_id = (await first.call_tool("diagnose", {"question": "What fails?"})).structured_content["run_id"]
    async with _client(http_server) as second:
        with anyio.fail_after(60):
            status = await second.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 30})
    assert status.structured_content["status"] == "finished"


def test_binding_beyond_localhost_without_a_token_is_refused(tmp_path: Path, server_env) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "serve", "--http", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 2
    assert "bearer token" in proc.stderr
