"""`halo-mcp demo`: the real traces shipped in the package, the report, where it is, and the next step."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from halo_mcp.commands.demo import demo_traces

ROOT = Path(__file__).resolve().parents[2]
# What a wheel is built from (pyproject.toml names the packages).
SOURCES = ("pyproject.toml", "README.md", "halo_mcp", "engine", "sandbox")


def test_demo_diagnoses_the_shipped_traces_and_prints_where_the_report_is_and_the_next_step(
    tmp_path: Path, server_env
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "demo"],
        capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Diagnosis: ")
    assert str(demo_traces()) in proc.stdout
    saved = Path(proc.stderr.split("report saved to ", 1)[1].splitlines()[0])
    assert saved.is_relative_to(tmp_path / "runs") and saved.read_text() == proc.stdout
    assert "config claude-code --dataset" in proc.stderr


def test_the_demo_set_is_real_third_party_traces_with_their_licences_and_no_generated_fixture() -> None:
    traces = demo_traces()
    names = {p.relative_to(traces).as_posix() for p in traces.rglob("*") if p.is_file()}
    assert {"README.md", "trail/LICENSE", "any_agent/LICENSE"} <= names
    assert not any("medium_traces" in n for n in names)  # HALO's generated 500-trace fixture
    assert sum(n.startswith("trail/") and n.endswith(".json") for n in names) == 3


def test_a_built_wheel_ships_the_demo_traces_and_their_licences(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
        else:
            shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("halo_mcp-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "halo_mcp/demo/traces/" + p.relative_to(demo_traces()).as_posix()
        for p in demo_traces().rglob("*")
        if p.is_file()
    }
    assert expected and expected <= shipped, sorted(expected - shipped)
