"""Packs: the index of many small files of one directory, in one chunk.

A folder of thousands of one-trace files costs, with one segment per file, a
meta read and a few column files per file on every open, and a part per file in
every dataset-wide column. A pack indexes up to `PACK_BYTES` of a directory's
small files together: one column file, one meta listing its members, rows of
each member contiguous (`segment` numbers traces per file and links parents
within a file, so files stay apart).

Packs live under `<root>/v<format>/packs/<key of the source directory>/<pack id>/`
and never change once written: a pack is built in a `.tmp-*` directory and
renamed into place. A member is fresh while its `os.stat` (size, mtime, ctime,
inode) is what the pack recorded; ctime moves on every write, so this is the
check a head hash would give without reading thousands of files on each open.
Files that changed, or are new, go into a new pack; packs smaller than
`PACK_ABSORB_BYTES` are rebuilt together with them, so a folder that gains a
few files a day keeps a handful of packs. A pack none of whose members is fresh
and uncovered by a newer pack is deleted (readers that mapped it keep their copy).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.errors import DatasetError, UnknownShapeError
from engine.traces import cache
from engine.traces.column_file import TornFileError
from engine.traces.index import read_chunk
from engine.traces.segment import ChunkArrays

__all__ = [
    "PACK_FILE_BYTES",
    "PACK_MIN_FILES",
    "PACK_BYTES",
    "PACK_ABSORB_BYTES",
    "Member",
    "Pack",
    "Plan",
    "pack_home",
    "plan",
    "batches",
    "sha256_of",
    "stat_key",
    "collect_garbage",
]

log = logging.getLogger(__name__)

# Files smaller than this are packed (when a dataset has at least PACK_MIN_FILES of them).
PACK_FILE_BYTES = 8 << 20
# Fewer small files than this keep one segment each (they cost little, and can be appended to).
PACK_MIN_FILES = 16
# Source bytes per pack, about: bounds a pack build's memory and a rebuild's cost.
PACK_BYTES = 64 << 20
# A pack smaller than this is rebuilt with the new files of its directory instead of kept beside them.
PACK_ABSORB_BYTES = PACK_BYTES // 4
# Work is not split finer than this for the worker processes.
BATCH_MIN_BYTES = 4 << 20
# `.tmp-*` directories older than this are a build that died: removed.
STALE_TMP_SECONDS = 3600.0
# A file modified this recently may change again within the same timestamp tick
# (same size, same mtime): its content hash is kept and checked too.
RACY_NS = 1_000_000_000


@dataclass(frozen=True)
class Member:
    """A small file a dataset asks for, with the stat it was found with."""

    path: Path
    stat: os.stat_result
    explicit: bool


@dataclass
class Pack:
    """One pack's meta (and, once opened, its columns)."""

    directory: Path
    meta: dict[str, Any]
    arrays: ChunkArrays | None = None
    raw: np.ndarray | None = None

    @property
    def id(self) -> str:
        return self.directory.name

    @property
    def members(self) -> list[dict[str, Any]]:
        return self.meta["members"]

    @property
    def chunk(self) -> dict[str, Any] | None:
        return self.meta["chunk"]

    @property
    def raw_path(self) -> Path | None:
        chunk = self.chunk
        return self.directory / f"{chunk['id']}.raw" if chunk and chunk["raw"] else None

    def open(self) -> Pack:
        """Read or map the chunk. FileNotFoundError when the pack was deleted meanwhile."""
        chunk = self.chunk
        if chunk is not None and self.arrays is None:
            self.arrays, _raw_path, self.raw = read_chunk(self.directory, chunk)
        return self


@dataclass
class Plan:
    """Which pack member serves each asked-for file, and which files need building."""

    covered: dict[Path, tuple[Pack, int]] = field(default_factory=dict)
    stale: list[Member] = field(default_factory=list)


def pack_home(root: Path, source_dir: Path) -> Path:
    """Where the packs of one source directory live."""
    key = cache.path_key(source_dir)
    return root / f"v{cache.INDEX_FORMAT}" / "packs" / key


def stat_key(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


def _same_file(entry: dict[str, Any], st: os.stat_result) -> bool:
    return (
        entry["size"] == st.st_size
        and entry["mtime_ns"] == st.st_mtime_ns
        and entry["ctime_ns"] == st.st_ctime_ns
        and entry["ino"] == st.st_ino
    )


def _same_content(entry: dict[str, Any], member: Member) -> bool:
    """False for a file read while it changed; for one written just before it was read, its hash decides."""
    if entry.get("changing"):
        return False
    digest = entry.get("sha256")
    return digest is None or sha256_of(member.path) == digest


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load_packs(home: Path) -> list[Pack]:
    """The packs of a directory, newest first (unreadable or foreign ones left out)."""
    packs = []
    try:
        names = os.listdir(home)
    except OSError:
        return []  # none yet (or no usable cache: building says why)
    for name in names:
        if name.startswith("."):
            continue
        directory = home / name
        try:
            meta = orjson.loads((directory / "meta.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if meta.get("format") == cache.INDEX_FORMAT and meta.get("code") == cache.code_version():
            packs.append(Pack(directory, meta))
    packs.sort(key=lambda p: p.meta["created"], reverse=True)
    return packs


def plan(home: Path, members: list[Member], shape: str | None, *, absorb: bool = True) -> Plan:
    """Match asked-for files to fresh pack members (newest pack first); the rest are stale.

    With `absorb`, when anything is stale, the members of small packs join the
    stale files, so the next build replaces those packs instead of adding one more.
    """
    packs = load_packs(home)
    wanted = {m.path.name: m for m in members}
    covered: dict[str, tuple[Pack, int]] = {}
    for pack in packs:
        for no, entry in enumerate(pack.members):
            m = wanted.get(entry["name"])
            if m is None or entry["name"] in covered or entry.get("error_kind") == "io":
                continue
            if _same_file(entry, m.stat) and (shape is None or entry["shape"] == shape) and _same_content(entry, m):
                covered[entry["name"]] = (pack, no)
    stale = [m for m in members if m.path.name not in covered]
    if stale and absorb:
        small = {id(p) for p in packs if sum(e["size"] for e in p.members) < PACK_ABSORB_BYTES}
        for name, (pack, _no) in list(covered.items()):
            if id(pack) in small:
                stale.append(wanted[name])
                del covered[name]
        stale.sort(key=lambda m: m.path.name)
    return Plan({wanted[name].path: use for name, use in covered.items()}, stale)


def batches(members: list[Member], workers: int) -> list[list[Member]]:
    """Stale files cut into packs: about PACK_BYTES each, at least one per worker when there is enough."""
    total = sum(m.stat.st_size for m in members)
    count = max(-(-total // PACK_BYTES), min(workers, total // BATCH_MIN_BYTES), 1)
    target = total / count
    out: list[list[Member]] = [[]]
    size = 0
    for m in members:
        if out[-1] and size >= target * len(out) and len(out) < count:
            out.append([])
        out[-1].append(m)
        size += m.stat.st_size
    return out


def collect_garbage(home: Path) -> int:
    """Delete packs with nothing left to serve, and builds that died; how many packs went.

    A member serves while its file has the stat it recorded and no newer pack
    holds that file with the same stat.
    """
    removed = 0
    served: set[tuple[str, int, int, int, int]] = set()
    for pack in load_packs(home):  # newest first
        alive = False
        for entry in pack.members:
            key = (entry["name"], entry["size"], entry["mtime_ns"], entry["ctime_ns"], entry["ino"])
            if key in served:
                continue
            try:
                st = os.stat(Path(pack.meta["source_dir"]) / entry["name"])
            except OSError:
                continue
            if _same_file(entry, st) and entry.get("error_kind") != "io":
                served.add(key)
                alive = True
        if not alive:
            shutil.rmtree(pack.directory, ignore_errors=True)
            removed += 1
    _remove_dead_builds(home)
    return removed


def _remove_dead_builds(home: Path) -> None:
    try:
        entries = list(os.scandir(home))
    except FileNotFoundError:
        return
    now = time.time()
    for entry in entries:
        if entry.name.startswith(".tmp-") and now - entry.stat().st_mtime > STALE_TMP_SECONDS:
            shutil.rmtree(entry.path, ignore_errors=True)


def open_pack(pack: Pack) -> Pack:
    """`pack.open()`, with a missing or torn pack as DatasetError-free retry signal (FileNotFoundError)."""
    try:
        return pack.open()
    except TornFileError as exc:
        raise FileNotFoundError(str(exc)) from exc


def raise_member_error(path: Path, entry: dict[str, Any]) -> None:
    """A member's read error, raised as opening its own segment would have."""
    if entry.get("error_kind") == "shape":
        raise UnknownShapeError(entry["error"])
    raise DatasetError(entry["error"])
