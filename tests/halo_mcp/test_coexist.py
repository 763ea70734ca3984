"""halo-engine beside halo-mcp: both install a top-level `engine`; the CLI names the conflict and the fix.

halo-engine is installed for real (from the package index, without its
dependencies: only its files matter here) into a directory on PYTHONPATH,
so its `engine` is the one Python imports, as in an environment where it was
installed over halo-mcp. Skipped when the index cannot be reached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from halo_mcp.coexist import HALO_ENGINE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def halo_engine_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("halo-engine-site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), HALO_ENGINE],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0 or not (site / "engine" / "__init__.py").is_file():
        pytest.skip(f"could not install {HALO_ENGINE}: {done.stderr.strip()[-300:]}")
    return site


def _overview(tmp_path: Path, server_env, site: Path) -> subprocess.CompletedProcess:
    env = server_env(tmp_path, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "overview", str(FIXTURES / "halo" / "tiny_traces.jsonl")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip


def test_when_halo_engines_engine_is_imported_the_cli_names_the_conflict_and_the_fix(
    tmp_path: Path, server_env, halo_engine_site: Path
) -> None:
    proc = _overview(tmp_path, server_env, halo_engine_site)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"is {HALO_ENGINE} " in proc.stderr and "separate virtual environments" in proc.stderr
    assert proc.stdout == ""


def test_when_ours_is_imported_but_halo_engine_is_installed_too_it_warns_and_works(
    tmp_path: Path, server_env, halo_engine_site: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(halo_engine_site, site, ignore=shutil.ignore_patterns("engine"))  # its metadata, not its files
    proc = _overview(tmp_path, server_env, site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("dataset: 3 traces")
    assert f"warning: {HALO_ENGINE}" in proc.stderr and "separate virtual environments" in proc.stderr
