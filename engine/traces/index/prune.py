"""Removing what the index cache holds for nothing: a cache must not grow forever.

What goes:
- whole `v<N>` trees of other index formats (written by older versions);
- segments whose source file is gone, or is now held by a pack (opening it uses
  the pack), or written by other indexing code (every upgrade of the readers
  makes all segments stale: they would never be read again);
- packs none of whose members is still there unchanged (`pack.collect_garbage`),
  packs written by other code, and pack builds that died;
- kept directory listings of directories that are gone or changed (`listings`).

Anything written by other code is only removed once it is `GRACE_SECONDS` old,
so two installed versions sharing a cache do not delete each other's fresh work.
`maybe_prune` runs `prune` at most once per `PRUNE_EVERY_SECONDS` (a stamp file
in the cache); `halo-mcp prune` runs it on demand.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import orjson

from engine.traces.index import cache
from engine.traces.index.fs import stat_table
from engine.traces.index.listings import prune_listings
from engine.traces.index.pack import Asked, collect_garbage, load_packs, pack_home, plan

__all__ = ["GRACE_SECONDS", "PRUNE_EVERY_SECONDS", "PruneReport", "prune", "maybe_prune"]

log = logging.getLogger(__name__)

GRACE_SECONDS = 3600.0
PRUNE_EVERY_SECONDS = 24 * 3600.0
_STAMP = "last-prune"


@dataclass
class PruneReport:
    """What a prune removed."""

    segments: int = 0
    packs: int = 0
    old_formats: int = 0
    bytes: int = 0

    def __str__(self) -> str:
        return (
            f"removed {self.segments} segments, {self.packs} packs and {self.old_formats} old index trees: "
            f"{self.bytes / 1e6:,.1f} MB freed"
        )


def prune(root: Path, *, now: float | None = None) -> PruneReport:
    """Remove from the cache under `root` what can never be used again (see the module docstring)."""
    now = time.time() if now is None else now
    report = PruneReport()
    current = f"v{cache.INDEX_FORMAT}"
    try:
        trees = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit()]
    except OSError:
        return report
    for tree in trees:
        if tree.name != current:
            report.bytes += _remove(tree)
            report.old_formats += 1
    _prune_segments(root, now, report)
    _prune_packs(root / current / "packs", now, report)
    report.bytes += prune_listings(root)
    return report


def maybe_prune(root: Path) -> PruneReport | None:
    """`prune` when the last one is more than PRUNE_EVERY_SECONDS ago (or never ran); else None."""
    stamp = root / _STAMP
    try:
        if time.time() - stamp.stat().st_mtime < PRUNE_EVERY_SECONDS:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        cache.ensure_dir(root)
        stamp.touch()
    except Exception:
        return None
    report = prune(root)
    if report.bytes:
        log.info("index cache %s: %s", root, report)
    return report


def _prune_segments(root: Path, now: float, report: PruneReport) -> None:
    try:
        entries = list(os.scandir(root / f"v{cache.INDEX_FORMAT}" / "segments"))
    except OSError:
        return
    code = cache.code_version()
    dead: list[Path] = []
    live: dict[Path, list[tuple[Path, Path, os.stat_result]]] = defaultdict(
        list
    )  # source directory -> (segment, its file, stat)
    for entry in entries:
        directory = Path(entry.path)
        meta_path = directory / "meta.json"
        try:
            meta = orjson.loads(meta_path.read_bytes())
            age = now - meta_path.stat().st_mtime
        except (OSError, orjson.JSONDecodeError):
            meta, age = None, now - _mtime(directory)
        if meta is None or meta.get("code") != code:
            if age > GRACE_SECONDS:  # never finished, torn, or other code's: not being built any more
                dead.append(directory)
            continue
        try:
            source = Path(meta["source"])
            live[source.parent].append((directory, source, source.stat()))
        except (KeyError, OSError):
            dead.append(directory)  # the file is gone
    # A file a pack holds as it is now opens from the pack: its segment is never read again.
    for source_dir, segments in live.items():
        asked = Asked(str(source_dir), [f.name for _d, f, _st in segments], stat_table([st for _d, _f, st in segments]))
        held = plan(pack_home(root, source_dir), asked, None, absorb=False).pack_of >= 0
        dead += [directory for (directory, _f, _st), is_held in zip(segments, held.tolist(), strict=True) if is_held]
    for directory in dead:
        report.bytes += _remove(directory)
        report.segments += 1


def _prune_packs(packs: Path, now: float, report: PruneReport) -> None:
    try:
        homes = [Path(e.path) for e in os.scandir(packs) if e.is_dir()]
    except OSError:
        return
    for home in homes:
        ours = {p.directory for p in load_packs(home)}
        for directory in _subdirs(home):
            if directory not in ours and not directory.name.startswith(".") and now - _mtime(directory) > GRACE_SECONDS:
                report.bytes += _remove(directory)  # other code's pack (or an unreadable one)
                report.packs += 1
        before = _size(home)
        report.packs += collect_garbage(home)
        report.bytes += max(0, before - _size(home))


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir()]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def _remove(path: Path) -> int:
    size = _size(path)
    shutil.rmtree(path, ignore_errors=True)
    return size
