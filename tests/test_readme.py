"""The README is tested: its Python runs, its commands are the ones CI runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_readme_python_example_runs_and_prints_a_report(tmp_path: Path) -> None:
    [example] = _blocks("python")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Diagnosis: Why do runs fail?")
    assert "Produced without a model" in done.stdout


def test_ci_runs_exactly_the_readme_test_command() -> None:
    first = _blocks("bash")[0].strip().splitlines()
    assert len(first) == 2, "the README starts with two commands"
    install_and_run, test_command = first
    assert install_and_run.endswith("halo-mcp demo")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command
    assert "pip install -q -e '.[test]'" in (ROOT / ".ci" / "run").read_text()


def test_every_registered_tool_is_in_the_readme_table() -> None:
    import engine.tools  # noqa: F401  (fills the registry)
    import halo_mcp.dataset_tools
    import halo_mcp.run_tools  # noqa: F401
    from engine.tools.registry import REGISTRY

    missing = [name for name in REGISTRY if f"`{name}`" not in README]
    assert not missing, f"tools missing from the README: {missing}"


def test_the_readme_compare_example_prints_what_the_readme_shows() -> None:
    [command] = [b.strip() for b in _blocks("bash") if b.startswith("halo-mcp compare")]
    [shown] = [b for b in _blocks("text") if "failure patterns:" in b]
    args = command.split()[2:]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "compare", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for line in shown.strip().splitlines():
        assert line in done.stdout.splitlines()
