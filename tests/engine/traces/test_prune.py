"""Pruning the index cache: what can never be read again goes, what serves a file stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.halo_lines import jsonl, span

from engine.traces.dataset import Dataset
from engine.traces.index import cache
from engine.traces.index.pack import PACK_MIN_FILES, load_packs, pack_home
from engine.traces.index.prune import GRACE_SECONDS, maybe_prune, prune


def _folder(tmp_path: Path, name: str, files: int) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(files):
        (folder / f"{name}{i:02d}.jsonl").write_bytes(jsonl(span(f"{name}{i}", "root")))
    return folder


def test_prune_removes_indexes_of_deleted_files_and_old_formats_and_keeps_the_rest(tmp_path: Path) -> None:
    root = cache.cache_root()
    kept, gone = tmp_path / "kept.jsonl", tmp_path / "gone.jsonl"
    kept.write_bytes(jsonl(span("k", "a")))
    gone.write_bytes(jsonl(span("g", "a")))
    packed, deleted = _folder(tmp_path, "packed", PACK_MIN_FILES), _folder(tmp_path, "deleted", PACK_MIN_FILES)
    for paths in ([kept], [gone], [packed], [deleted]):
        Dataset.open(paths)
    old_tree = root / "v1" / "segments" / "x"
    old_tree.mkdir(parents=True)
    (old_tree / "meta.json").write_text("{}")
    gone.unlink()
    for f in deleted.iterdir():
        f.unlink()

    report = prune(root)
    assert (report.segments, report.packs, report.old_formats) == (1, 1, 1) and report.bytes > 0
    assert not (root / "v1").exists() and not cache.segment_dir(root, gone).exists()
    assert cache.segment_dir(root, kept).exists()
    assert len(load_packs(pack_home(root, packed))) == 1 and not load_packs(pack_home(root, deleted))
    assert {f.index for f in Dataset.open([kept, packed]).files} == {"fresh"}
    assert prune(root).bytes == 0


def test_indexes_written_by_other_code_go_only_after_a_grace_period(tmp_path: Path) -> None:
    root = cache.cache_root()
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(span("a", "a")))
    Dataset.open([path])
    meta_path = cache.segment_dir(root, path) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, code="another-version")))
    assert prune(root).segments == 0  # just written: maybe another installed version at work
    old = meta_path.stat().st_mtime - GRACE_SECONDS - 60
    os.utime(meta_path, (old, old))
    assert prune(root).segments == 1


def test_opening_prunes_at_most_once_a_day(tmp_path: Path) -> None:
    root = cache.cache_root()
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(span("a", "a")))
    Dataset.open([path])  # the first open of a cache prunes (and stamps)
    assert maybe_prune(root) is None
    stamp = root / "last-prune"
    day_ago = stamp.stat().st_mtime - 25 * 3600
    os.utime(stamp, (day_ago, day_ago))
    assert maybe_prune(root) is not None


def test_the_prune_command_reports_what_it_removed(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(span("a", "a")))
    Dataset.open([path])
    path.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp.cli", "prune", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3])),
    )  # fmt: skip
    assert json.loads(done.stdout)["segments"] == 1


def test_a_segment_whose_file_a_pack_now_holds_is_pruned_and_the_file_opens_from_the_pack(tmp_path: Path) -> None:
    root = cache.cache_root()
    folder = _folder(tmp_path, "runs", PACK_MIN_FILES)
    first = folder / "runs00.jsonl"
    Dataset.open([first])  # alone: its own segment
    Dataset.open([folder])  # all: a pack, which holds the first file too
    assert cache.segment_dir(root, first).exists()
    assert prune(root).segments == 1
    assert not cache.segment_dir(root, first).exists()
    again = Dataset.open([first])
    assert again.files[0].index == "fresh" and all("/packs/" in str(d) for d in again.index_dirs)
    assert not cache.segment_dir(root, first).exists()
