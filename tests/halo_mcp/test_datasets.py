"""DatasetCatalog: what may be read, how names resolve, and the memo of opened datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import DatasetError, PathNotAllowedError
from halo_mcp.datasets import DatasetCatalog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_directory_given_at_start_is_the_default_and_its_files_resolve(traces_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    files = catalog.resolve(None)
    assert {f.name for f in files} == {"realistic.jsonl", "tiny.jsonl"}


def test_a_file_under_an_allowed_directory_resolves(traces_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    assert catalog.resolve(str(traces_dir / "tiny.jsonl")) == ((traces_dir / "tiny.jsonl").resolve(),)


def test_dot_dot_out_of_the_roots_is_refused_before_existence_is_checked(traces_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    with pytest.raises(PathNotAllowedError, match="outside the paths this server may read"):
        catalog.resolve(str(traces_dir / ".." / ".." / ".." / "etc" / "passwd"))
    with pytest.raises(PathNotAllowedError):
        catalog.resolve("../../etc/passwd")
    with pytest.raises(PathNotAllowedError):
        catalog.resolve(str(traces_dir / "no-such-dir" / ".." / ".." / "nothing-here"))


def test_a_symlink_inside_a_root_pointing_outside_is_refused(traces_dir: Path, outside_dir: Path) -> None:
    os.symlink(outside_dir / "secret.jsonl", traces_dir / "link.jsonl")
    catalog = DatasetCatalog([str(traces_dir)])
    with pytest.raises(PathNotAllowedError):
        catalog.resolve(str(traces_dir / "link.jsonl"))
    with pytest.raises(PathNotAllowedError):
        catalog.resolve(None)  # the directory walk meets the link too


def test_a_glob_whose_fixed_part_is_outside_is_refused(traces_dir: Path, outside_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    with pytest.raises(PathNotAllowedError):
        catalog.resolve(str(outside_dir / "*.jsonl"))
    (traces_dir / "sub").mkdir()
    with pytest.raises(PathNotAllowedError):
        catalog.resolve(str(traces_dir / "*" / ".." / ".." / "elsewhere" / "*.jsonl"))


def test_a_glob_inside_the_roots_expands(traces_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    assert [f.name for f in catalog.resolve(str(traces_dir / "t*.jsonl"))] == ["tiny.jsonl"]
    with pytest.raises(DatasetError, match="matches no files"):
        catalog.resolve(str(traces_dir / "*.parquet"))


def test_extra_roots_allow_what_the_static_roots_do_not(traces_dir: Path, outside_dir: Path) -> None:
    catalog = DatasetCatalog([str(traces_dir)])
    target = str(outside_dir / "secret.jsonl")
    assert catalog.needs_client_roots(target)
    assert catalog.resolve(target, extra_roots=(outside_dir,)) == ((outside_dir / "secret.jsonl").resolve(),)


def test_without_a_default_dataset_the_error_says_what_to_pass(traces_dir: Path) -> None:
    catalog = DatasetCatalog([], roots=[str(traces_dir)])
    with pytest.raises(DatasetError, match="pass `dataset`"):
        catalog.resolve(None)
    with pytest.raises(DatasetError, match="does not exist"):
        catalog.resolve(str(traces_dir / "missing.jsonl"))


def test_relative_names_resolve_against_the_working_directory(traces_dir: Path) -> None:
    catalog = DatasetCatalog(["traces"], cwd=traces_dir.parent)
    assert len(catalog.resolve("traces/tiny.jsonl")) == 1


def test_an_opened_dataset_is_reused_until_a_file_changes(tmp_path: Path) -> None:
    root = tmp_path / "grow"
    root.mkdir()
    lines = (FIXTURES / "halo" / "realistic_traces.jsonl").read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (root / "live.jsonl").write_bytes(b"".join(lines[:half]))
    catalog = DatasetCatalog([str(root)])
    first = catalog.open(None)
    assert catalog.open(None) is first
    with open(root / "live.jsonl", "ab") as f:
        f.write(b"".join(lines[half:]))
    grown = catalog.open(None)
    assert grown is not first
    assert grown.n_spans > first.n_spans
    assert len(catalog.opened()) == 1
