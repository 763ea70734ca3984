"""Shared test fixtures: real trace files, an isolated index cache per test."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# Descriptors the test process may hold: the chDB tests leave ~2,000 behind (each chDB
# session leaves its threads' /proc files open), past a default soft limit of 1,024.
TEST_OPEN_FILES = 65_536


def pytest_configure(config: pytest.Config) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = TEST_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, TEST_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own index cache and runs directory, so no test reads
    another's index or saved runs, and nothing lands in the user's home."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("HALO_MCP_CACHE_DIR", str(cache / "halo-mcp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(cache / "state"))
    monkeypatch.setenv("HALO_MCP_RUNS_DIR", str(cache / "runs"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HALO_MODEL", "HALO_EXTRA_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    return cache


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
