"""Packs: the index of many small files of one directory, in one chunk.

A folder of thousands of one-trace files costs, with one segment per file, a
meta read and a chunk's files per file on every open, and a part per file in
every dataset-wide column. A pack indexes up to `PACK_BYTES` of a directory's
small files together: one chunk (its two Arrow files, `arrow_chunk`), one meta
listing its members (each a row and trace range: an Arrow slice), rows of
each member contiguous (`finalize` numbers traces per file and links parents
within a file, so files stay apart).

Packs live under `<root>/v<format>/packs/<key of the source directory>/<pack id>/`
and never change once written: a pack is built in a `.tmp-*` directory and
renamed into place. Its members are a table of arrays (`members`), so
matching 20,000 files against their packs is a few array comparisons. A member
is fresh while its `os.stat` (size, mtime, ctime, inode) is what the pack
recorded; ctime moves on every write, so this is the check a head hash would
give without reading thousands of files on each open.
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
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.errors import DatasetError, UnknownShapeError, UnreadableFileError
from engine.traces.columns.arrow_chunk import ChunkColumns
from engine.traces.columns.file import TornFileError
from engine.traces.index import cache
from engine.traces.index.members import CHANGING, HASHED, IO_ERROR, SHAPE_ERROR, Members
from engine.traces.index.segments import read_chunk

__all__ = [
    "PACK_FILE_BYTES",
    "PACK_MIN_FILES",
    "PACK_BYTES",
    "PACK_ABSORB_BYTES",
    "Member",
    "Asked",
    "Pack",
    "Plan",
    "pack_home",
    "plan",
    "batches",
    "pick",
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
    """A small file to pack, with the size it was found with."""

    path: Path
    size: int


@dataclass
class Asked:
    """The small files of one source directory a dataset asks for, with the stats they were found with.

    Names and stat results side by side (no object per file): a folder of
    20,000 files is matched against its packs as arrays (`plan`).
    """

    directory: str
    names: list[str]
    stats: np.ndarray  # fs.STAT_DTYPE rows (size, mtime_ns, ctime_ns, ino), one per name

    def __len__(self) -> int:
        return len(self.names)

    def member(self, i: int) -> Member:
        return Member(Path(self.directory, self.names[i]), int(self.stats["size"][i]))


@dataclass
class Pack:
    """One pack's meta and members (and, once opened, its columns)."""

    directory: Path
    meta: dict[str, Any]
    members: Members
    arrays: ChunkColumns | None = None
    raw: np.ndarray | None = None

    @property
    def id(self) -> str:
        return self.directory.name

    @property
    def chunk(self) -> dict[str, Any] | None:
        chunk: dict[str, Any] | None = self.meta["chunk"]
        return chunk

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
    """Which pack member serves each asked-for file (by position in `Asked`), and which files need building."""

    asked: Asked
    packs: list[Pack]
    pack_of: np.ndarray  # per asked file: its pack's index in `packs`, -1 when none serves it
    member_of: np.ndarray  # per asked file: its member number in that pack (-1: none)
    stale: list[Member] = field(default_factory=list)

    @property
    def serving(self) -> list[int]:
        """Indexes in `packs` of the packs that serve some file, ascending.

        By bincount, not np.unique: its first call imports numpy.ma (~10 ms of a reopen).
        """
        return np.flatnonzero(np.bincount(self.pack_of[self.pack_of >= 0], minlength=len(self.packs))).tolist()

    @property
    def covered(self) -> dict[str, tuple[Pack, int]]:
        """(pack, member number) by file name, for the files a pack serves."""
        return {
            self.asked.names[i]: (self.packs[int(self.pack_of[i])], int(self.member_of[i]))
            for i in np.flatnonzero(self.pack_of >= 0).tolist()
        }


def pack_home(root: Path, source_dir: Path) -> Path:
    """Where the packs of one source directory live."""
    key = cache.path_key(source_dir)
    return root / f"v{cache.INDEX_FORMAT}" / "packs" / key


def stat_key(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


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
    code = cache.code_version()
    for name in names:
        if name.startswith(".") or name == "lock":
            continue
        directory = home / name
        try:
            meta = orjson.loads((directory / "meta.json").read_bytes())
            if meta.get("format") != cache.INDEX_FORMAT or meta.get("code") != code:
                continue
            packs.append(Pack(directory, meta, Members.read(directory, meta)))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # orjson.JSONDecodeError is a ValueError
    packs.sort(key=lambda p: p.meta["created"], reverse=True)
    return packs


def plan(home: Path, asked: Asked, shape: str | None, *, absorb: bool = True) -> Plan:
    """Match asked-for files to fresh pack members (newest pack first); the rest are stale.

    With `absorb`, when anything is stale, the members of small packs join the
    stale files, so the next build replaces those packs instead of adding one more.
    """
    packs = load_packs(home)
    n = len(asked)
    pack_of = np.full(n, -1, np.int64)
    member_of = np.full(n, -1, np.int64)
    if packs and n:
        found = asked.stats
        names = asked.names
        for k, pack in enumerate(packs):
            todo = np.flatnonzero(pack_of < 0)
            if not len(todo):
                break
            if shape is None and pack.meta.get("forced_shape") is not None:
                continue  # read as a forced shape: serves that shape only, never the detected one
            todo, nos, table = _members_asked(pack.members, names if len(todo) == n else pick(names, todo), todo)
            mine = _rows(found, todo)
            fresh = (
                (table["size"] == mine["size"])
                & (table["mtime_ns"] == mine["mtime_ns"])
                & (table["ctime_ns"] == mine["ctime_ns"])
                & (table["ino"] == mine["ino"])
                & (table["state"] & (IO_ERROR | CHANGING) == 0)
            )
            if shape is not None:
                code = pack.members.shape_code(shape)
                fresh &= table["shape"] == (-1 if code is None else code)
            for j in np.flatnonzero(fresh & (table["state"] & HASHED != 0)).tolist():
                # written just before it was read: its content decides
                digest = pack.members.extras[int(nos[j])]["sha256"]
                fresh[j] = sha256_of(Path(asked.directory, names[int(todo[j])])) == digest
            pack_of[todo[fresh]] = k
            member_of[todo[fresh]] = nos[fresh]
    stale: list[int] = np.flatnonzero(pack_of < 0).tolist()
    if stale and absorb:
        small = [k for k, p in enumerate(packs) if int(p.members.table["size"].sum()) < PACK_ABSORB_BYTES]
        into = np.isin(pack_of, small)
        pack_of[into], member_of[into] = -1, -1
        stale = sorted(np.flatnonzero(pack_of < 0).tolist(), key=lambda i: asked.names[i])
    return Plan(asked, packs, pack_of, member_of, [asked.member(i) for i in stale])


def _members_asked(
    members: Members, names: list[str], todo: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of the asked files `todo` (named `names`), those `members` holds: positions, member numbers, member rows.

    A pack is built from a run of a directory's sorted names, so on a reopen its
    members usually are one run of the asked names: a slice compare then
    replaces a lookup per name, and the rows are the table itself.
    """
    m = len(members)
    lo = _index_or(names, members.names[0], -1) if m else -1
    if lo >= 0 and names[lo : lo + m] == members.names:
        return todo[lo : lo + m], np.arange(m, dtype=np.int64), members.table
    nos = np.fromiter(map(members.index.get, names, repeat(-1)), np.int64, len(names))
    hit = nos >= 0
    return todo[hit], nos[hit], members.table[nos[hit]]


def _index_or(items: list[str], item: str, default: int) -> int:
    try:
        return items.index(item)
    except ValueError:
        return default


def _rows(table: np.ndarray, at: np.ndarray) -> np.ndarray:
    """`table[at]` for ascending distinct `at`: a view when they are one run."""
    rows: np.ndarray = (
        table[int(at[0]) : int(at[-1]) + 1] if len(at) and int(at[-1]) - int(at[0]) + 1 == len(at) else table[at]
    )
    return rows


def pick(items: list[Any], at: np.ndarray) -> list[Any]:
    """items[i] for i in `at` (without a Python loop)."""
    if len(at) == 1:
        return [items[int(at[0])]]
    return list(itemgetter(*at.tolist())(items)) if len(at) else []


def batches(members: list[Member], workers: int) -> list[list[Member]]:
    """Stale files cut into packs: about PACK_BYTES each, at least one per worker when there is enough."""
    total = sum(m.size for m in members)
    count = max(-(-total // PACK_BYTES), min(workers, total // BATCH_MIN_BYTES), 1)
    target = total / count
    out: list[list[Member]] = [[]]
    size = 0
    for m in members:
        if out[-1] and size >= target * len(out) and len(out) < count:
            out.append([])
        out[-1].append(m)
        size += m.size
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
        members = pack.members
        table = members.table
        source_dir = pack.meta["source_dir"]
        for name, size, mtime_ns, ctime_ns, ino, state in zip(
            members.names, table["size"].tolist(), table["mtime_ns"].tolist(), table["ctime_ns"].tolist(),
            table["ino"].tolist(), table["state"].tolist(), strict=True,
        ):  # fmt: skip
            key = (name, size, mtime_ns, ctime_ns, ino)
            if key in served:
                continue
            try:
                st = os.stat(os.path.join(source_dir, name))
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) == key[1:] and not state & IO_ERROR:
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


def raise_member_error(path: Path, pack: Pack, no: int) -> None:
    """Member `no`'s read error, raised as opening its own segment would have."""
    error = pack.members.extras[no]["error"]
    if pack.members.extras[no].get("error_kind") == "unreadable":
        raise UnreadableFileError(error)
    if pack.members.table["state"][no] & SHAPE_ERROR:
        raise UnknownShapeError(error)
    raise DatasetError(error)
