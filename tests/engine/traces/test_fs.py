"""Listing and stat-ing many files: entries typed as os.scandir types them, stats as os.stat gives them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.traces.index import fs


def _tree(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / ".hidden").mkdir()
    for name in ("b.jsonl", "a.JSON", "notes.txt", ".dot.jsonl", "caf\u00e9.jsonl"):
        (d / name).write_bytes(b"{}\n" * (len(name) + 1))
    (d / "link.jsonl").symlink_to(d / "b.jsonl")
    (d / "dangling.jsonl").symlink_to(d / "missing.jsonl")
    os.mkfifo(d / "pipe.jsonl")
    return d


def _sorted(listing: tuple[list[str], list[str], list[str]]) -> tuple[list[str], ...]:
    return tuple(sorted(names) for names in listing)


def test_the_listing_types_entries_as_os_scandir_does_and_leaves_hidden_ones_out(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    assert _sorted(fs.scan_dir(str(d))) == (
        ["a.JSON", "b.jsonl", "caf\u00e9.jsonl", "notes.txt"],
        ["sub"],
        ["dangling.jsonl", "link.jsonl", "pipe.jsonl"],
    )


def test_listing_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fs.scan_dir(str(tmp_path / "nope"))


def test_stat_names_gives_what_os_stat_gives_and_errno_for_files_that_fail(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    names = ["b.jsonl", "link.jsonl", "caf\u00e9.jsonl", "missing.jsonl", "dangling.jsonl"]
    for table in (fs.stat_names(str(d), names),):
        for name, row in zip(names[:3], table[:3], strict=True):
            st = os.stat(d / name)  # symlinks followed
            assert tuple(row) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, 0)
        assert table["errno"][3:].tolist() == [errno.ENOENT, errno.ENOENT]
        assert table[["size", "mtime_ns", "ctime_ns", "ino"]][3:].tolist() == [(0, 0, 0, 0)] * 2


def test_stat_names_in_a_directory_one_may_search_but_not_list(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    mode = d.stat().st_mode
    d.chmod(0o311)
    try:
        if os.access(d, os.R_OK):
            pytest.skip("running as a user that reads any directory")
        table = fs.stat_names(str(d), ["b.jsonl"])
    finally:
        d.chmod(mode)
    assert table["size"][0] == (d / "b.jsonl").stat().st_size and table["errno"][0] == 0


def test_stat_names_of_no_names_is_an_empty_table(tmp_path: Path) -> None:
    assert len(fs.stat_names(str(tmp_path), [])) == 0 and fs.stat_names(str(tmp_path), []).dtype == fs.STAT_DTYPE
