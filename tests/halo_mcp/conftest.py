"""Fixtures for the protocol edge: a dataset copied into a temp dir, a server, a client."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from mcp import StdioServerParameters

from engine.llm import LLMConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def traces_dir(tmp_path: Path) -> Path:
    """A directory with the HALO sample traces, the server's only allowed root."""
    root = tmp_path / "traces"
    root.mkdir()
    shutil.copy(FIXTURES / "halo" / "realistic_traces.jsonl", root / "realistic.jsonl")
    shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", root / "tiny.jsonl")
    return root


@pytest.fixture
def outside_dir(tmp_path: Path) -> Path:
    """A readable trace directory that is NOT an allowed root."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", other / "secret.jsonl")
    return other


@pytest.fixture
def offline_llm() -> LLMConfig:
    """No model configured: diagnose falls back to the deterministic report."""
    return LLMConfig(api_key=None, base_url=None)


@pytest.fixture
def make_server(tmp_path: Path, offline_llm: LLMConfig):
    from halo_mcp.server import ServerConfig, build_server

    def make(datasets: list[str], roots: list[str] | None = None, llm: LLMConfig | None = None, **kw):
        return build_server(
            ServerConfig(
                datasets=datasets,
                roots=roots or [],
                llm=llm or offline_llm,
                runs_dir=tmp_path / "runs",
                cwd=tmp_path,
                **kw,
            )
        )

    return make


@pytest.fixture
async def server(make_server, traces_dir: Path) -> AsyncIterator:
    """A server on the sample traces whose run manager outlives any one client."""
    halo = make_server([str(traces_dir)])
    async with halo.runs:
        yield halo


# -- real processes ------------------------------------------------------------


def _server_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a spawned server: own cache and runs dirs, no model unless given."""
    env = {
        "HALO_MCP_CACHE_DIR": str(tmp / "cache"),
        "HALO_MCP_RUNS_DIR": str(tmp / "runs"),
        "PYTHONUNBUFFERED": "1",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(extra)
    return env


def _stdio_params(tmp: Path, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "halo_mcp", "serve", "--stdio", *args],
        env=_server_env(tmp, **env),
        cwd=str(tmp),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_env() -> Callable[..., dict[str, str]]:
    return _server_env


@pytest.fixture
def stdio_params() -> Callable[..., StdioServerParameters]:
    return _stdio_params


@pytest.fixture
def free_port() -> int:
    return _free_port()
