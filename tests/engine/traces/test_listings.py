"""Directory listings kept in the cache: reused only while the directory is unchanged."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.traces.dataset import Dataset
from engine.traces.index import listings
from engine.traces.index.listings import Listings, filesystem_type, prune_listings
from engine.traces.index.paths import find_files

_LINE = (
    '{"trace_id":"t%d","span_id":"s%d","parent_span_id":null,"name":"call","kind":"LLM",'
    '"start_time":"2026-01-01T00:00:00Z","end_time":"2026-01-01T00:00:01Z","status":"OK","attributes":{}}\n'
)


@pytest.fixture
def racy_ms(monkeypatch: pytest.MonkeyPatch) -> float:
    """A short racy window (the setting's 2 s would make every test sleep)."""
    monkeypatch.setattr(listings, "RACY_NS", 50_000_000)
    return 0.1


@pytest.fixture
def folder(tmp_path: Path, racy_ms: float) -> Path:
    if filesystem_type(os.stat(tmp_path).st_dev) not in listings.TRUSTED_FILESYSTEMS:
        pytest.skip("the temporary directory is on a filesystem whose directory times are not trusted")
    root = tmp_path / "traces"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        (root / f"f{i}.jsonl").write_text(_LINE % (i, i))
    (root / "sub" / "g.jsonl").write_text(_LINE % (9, 9))
    (root / "notes.txt").write_text("not traces")
    time.sleep(racy_ms)  # past the racy window: the next walk keeps its listings
    return root


def _names(root: Path, kept: Listings) -> list[str]:
    return [os.path.relpath(p, root) for p in find_files([root], listings=kept).paths]


def test_an_unchanged_directory_is_not_listed_again(folder: Path, tmp_path: Path) -> None:
    kept = Listings(tmp_path / "cache")
    assert _names(folder, kept) == ["f0.jsonl", "f1.jsonl", "f2.jsonl", "sub/g.jsonl"]
    assert len(list(kept.home.iterdir())) == 2  # the folder and its subdirectory
    # What proves the kept listing is read: a name taken out of it is not found,
    # though the file is there (nothing but the directory's times was checked).
    file = kept._file(str(folder.resolve()))
    file.write_bytes(file.read_bytes().replace(b"\0f1.jsonl", b"").replace(b'"files":4', b'"files":3'))
    assert _names(folder, kept) == ["f0.jsonl", "f2.jsonl", "sub/g.jsonl"]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "new.jsonl").write_text(_LINE % (5, 5)),
        lambda root: (root / "f1.jsonl").unlink(),
        lambda root: (root / "f1.jsonl").rename(root / "f1-renamed.jsonl"),
        lambda root: (root / "sub" / "deeper").mkdir(),
        lambda root: os.utime(root, ns=(0, 0)),  # times set back: the ctime still moves
    ],
    ids=["added", "removed", "renamed", "subdirectory-added", "times-set-back"],
)
def test_any_change_to_a_directory_lists_it_again(folder: Path, tmp_path: Path, change: object) -> None:
    kept = Listings(tmp_path / "cache")
    _names(folder, kept)
    assert callable(change)
    change(folder)
    fresh = [os.path.relpath(p, folder) for p in find_files([folder]).paths]
    assert _names(folder, kept) == fresh


def test_a_kept_name_that_no_longer_stats_lists_the_directory_again(folder: Path, tmp_path: Path) -> None:
    kept = Listings(tmp_path / "cache")
    _names(folder, kept)
    file = kept._file(str(folder.resolve()))
    file.write_bytes(file.read_bytes().replace(b"\0f1.jsonl", b"\0ghost.jsonl"))  # a filesystem that lied
    assert _names(folder, kept) == ["f0.jsonl", "f1.jsonl", "f2.jsonl", "sub/g.jsonl"]


def test_a_directory_changed_within_the_racy_window_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listings, "RACY_NS", 3600 * 10**9)
    root = tmp_path / "traces"
    root.mkdir()
    (root / "a.jsonl").write_text(_LINE % (1, 1))
    kept = Listings(tmp_path / "cache")
    assert _names(root, kept) == ["a.jsonl"]
    assert not kept.home.exists()


def test_a_listing_kept_in_a_cache_that_cannot_be_written_is_simply_not_kept(folder: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "cache-file"
    blocked.write_text("a file where the cache directory would be")
    assert _names(folder, Listings(blocked)) == ["f0.jsonl", "f1.jsonl", "f2.jsonl", "sub/g.jsonl"]


def test_garbage_in_a_kept_listing_is_ignored(folder: Path, tmp_path: Path) -> None:
    kept = Listings(tmp_path / "cache")
    _names(folder, kept)
    not_listings = (b"", b"not json\n", b"1\n", b"[]\n", b'{"format": 1}\n')
    for garbage in (*not_listings, b'{"format": 1, "stat": [1, 2, 3, 4], "files": "x"}\n'):
        kept._file(str(folder.resolve())).write_bytes(garbage)
        assert _names(folder, kept) == ["f0.jsonl", "f1.jsonl", "f2.jsonl", "sub/g.jsonl"]


def test_a_same_size_rewrite_in_an_unchanged_directory_is_served_fresh(folder: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = Dataset.open([folder], cache_dir=cache_dir)
    assert first.n_spans == 4
    assert Listings(cache_dir).home.exists()
    before = os.stat(folder).st_mtime_ns
    size = os.stat(folder / "f1.jsonl").st_size
    with open(folder / "f1.jsonl", "r+") as f:  # in place: the directory does not change
        text = f.read()
        f.seek(0)
        f.write(text.replace('"t1"', '"tX"'))
    assert os.stat(folder).st_mtime_ns == before and os.stat(folder / "f1.jsonl").st_size == size
    again = Dataset.open([folder], cache_dir=cache_dir)
    ids = {again.traces.trace_id[t] for t in range(again.n_traces)}
    assert "tX" in ids and "t1" not in ids


def test_prune_removes_listings_of_directories_gone_or_changed(folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    kept = Listings(root)
    _names(folder, kept)
    assert prune_listings(root) == 0
    (kept.home / "not-a-listing").write_bytes(b"[]\n")  # garbage is pruned too
    assert prune_listings(root) == 3
    (folder / "sub" / "g.jsonl").unlink()  # the subdirectory changed
    assert prune_listings(root) > 0
    assert [p.name for p in kept.home.iterdir()] == [kept._file(str(folder.resolve())).name]


def test_the_filesystem_type_of_a_device_is_read_from_the_mount_table(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/mountinfo"):
        pytest.skip("no /proc/self/mountinfo (not Linux)")
    assert filesystem_type(os.stat("/proc").st_dev) == "proc"
    assert filesystem_type(os.makedev(4095, 1048575)) is None
