"""Shared test fixtures: real trace files, an isolated index cache per test."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
