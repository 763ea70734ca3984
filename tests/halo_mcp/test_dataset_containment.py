"""A refused dataset path reveals nothing about what lies outside the roots.

Each case is asked twice, once naming something outside that exists and once
something that does not: the two answers must be the same sentence (with the
argument itself blanked out), and neither may name a resolved outside path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.errors import HaloError
from halo_mcp.datasets import DatasetCatalog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """ROOT (allowed) with a subdirectory and links out; `elsewhere` (outside) holds a trace file."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", root / "sub" / "ok.jsonl")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", outside / "secret.jsonl")
    os.symlink(outside, root / "out")  # a directory link that exists
    os.symlink(tmp_path / "nowhere", root / "gone")  # one that dangles
    return tmp_path


def answer(catalog: DatasetCatalog, spec: str, root: Path) -> str:
    try:
        files = catalog.resolve(spec)
    except HaloError as err:
        text = str(err).replace(repr(spec), "ARG").replace(str(root), "ROOT")
        return f"{type(err).__name__}: {text}"
    return f"files: {[str(f) for f in files]}"


PAIRS = [
    # '..' after a wildcard, in every kind of wildcard segment
    ("root/*/../../elsewhere/secret.jsonl", "root/*/../../elsewhere/nothing.jsonl"),
    ("root/?ub/../../elsewhere/*", "root/?ub/../../nowhere/*"),
    ("root/[s]ub/../../elsewhere/secret.jsonl", "root/[s]ub/../../nowhere/x.jsonl"),
    ("root/**/../../elsewhere/*.jsonl", "root/**/../../nowhere/*.jsonl"),
    # '..' before the wildcard: the fixed part is outside
    ("root/sub/../../elsewhere/*.jsonl", "root/sub/../../nowhere/*.jsonl"),
    # through a symlink inside the root: as a fixed part, and matched by a wildcard
    ("root/out/*.jsonl", "root/gone/*.jsonl"),
    ("root/o*/secret.jsonl", "root/o*/nothing.jsonl"),
    ("root/o?t/*", "root/g?ne/*"),
    ("root/*/secret.jsonl", "root/*/nothing.jsonl"),
    ("root/**/secret.jsonl", "root/**/nothing.jsonl"),
    # plain and absolute names outside
    ("elsewhere/secret.jsonl", "elsewhere/nothing.jsonl"),
    ("elsewhere/*.jsonl", "nowhere/*.jsonl"),
    ("root/out/secret.jsonl", "root/gone/secret.jsonl"),
    ("~/../elsewhere/*.jsonl", "~/../nowhere/*.jsonl"),
    ("~/*/../../elsewhere/secret.jsonl", "~/*/../../elsewhere/nothing.jsonl"),
]


@pytest.mark.parametrize(("there", "not_there"), PAIRS)
def test_an_outside_target_answers_the_same_whether_it_exists_or_not(
    world: Path, monkeypatch: pytest.MonkeyPatch, there: str, not_there: str
) -> None:
    monkeypatch.setenv("HOME", str(world / "root"))
    catalog = DatasetCatalog([str(world / "root")], cwd=world)
    first = answer(catalog, there, world / "root")
    second = answer(catalog, not_there, world / "root")
    assert first == second
    assert first.startswith("PathNotAllowedError: dataset ARG "), first
    assert "elsewhere" not in first and "nowhere" not in first and "secret" not in first


def test_a_walk_refuses_a_link_out_the_same_whether_its_target_exists(tmp_path: Path) -> None:
    answers = []
    for name, target in (("a", "secret.jsonl"), ("b", "nothing.jsonl")):
        root = tmp_path / name / "root"
        root.mkdir(parents=True)
        shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", root / "ok.jsonl")
        (tmp_path / name / "out").mkdir()
        shutil.copy(FIXTURES / "halo" / "tiny_traces.jsonl", tmp_path / name / "out" / "secret.jsonl")
        os.symlink(tmp_path / name / "out" / target, root / "link.jsonl")
        catalog = DatasetCatalog([str(root)])
        answers.append(answer(catalog, str(root), root).replace(str(root), "ROOT"))
        answers[-1] = answers[-1].replace(repr(str(root)), "ARG")
    assert answers[0] == answers[1]
    assert answers[0].startswith("PathNotAllowedError") and "secret" not in answers[0]


def test_globs_inside_the_roots_still_expand(world: Path) -> None:
    catalog = DatasetCatalog([str(world / "root")], cwd=world)
    assert [f.name for f in catalog.resolve("root/s*/*.jsonl")] == ["ok.jsonl"]
    assert [f.name for f in catalog.resolve("root/sub/**/ok.jsonl")] == ["ok.jsonl"]
    assert [f.name for f in catalog.resolve("root/sub/**")] == ["ok.jsonl"]
    assert [f.name for f in catalog.resolve("root/[s]ub/o?.jsonl")] == ["ok.jsonl"]
    assert [f.name for f in catalog.resolve("root/sub/../sub/*.jsonl")] == ["ok.jsonl"]
