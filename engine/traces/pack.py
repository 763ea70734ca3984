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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.errors import DatasetError, HaloError, UnknownShapeError
from engine.traces import cache
from engine.traces.build import MALFORMED_SAMPLES, PieceBuilder
from engine.traces.chunk_writer import ChunkWriter
from engine.traces.model import Span
from engine.traces.parse import PIECE_SPANS
from engine.traces.column_file import TornFileError, read_buffer, read_column_file
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
    "build_pack",
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
            self.arrays = read_column_file(self.directory / f"{chunk['id']}.cols", chunk["columns"], chunk["cols_bytes"])
            raw_path = self.raw_path
            if raw_path is not None:
                self.raw = np.frombuffer(read_buffer(raw_path, chunk["raw_bytes"]), np.uint8)
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
    return digest is None or _sha256(member.path) == digest


def _sha256(path: Path) -> str | None:
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


def build_pack(home: str, source_dir: str, names: list[str], shape: str | None) -> str:
    """Index files `names` of `source_dir` into a new pack under `home` (runs in workers); its id.

    A file that cannot be read is recorded as a member with an error, so the
    caller can report it as it would for a file of its own segment.
    """
    started = time.perf_counter()
    created = time.time_ns()
    pack_id = f"{created:x}-{uuid.uuid4().hex[:8]}"
    tmp = Path(home) / f".tmp-{pack_id}"
    writer = ChunkWriter(tmp)
    try:
        reader = _MemberReader(writer)
        entries = [reader.read(Path(source_dir) / name, no, shape) for no, name in enumerate(names)]
        reader.flush()
        chunk = writer.finish()
        if chunk is not None:
            _place_members(tmp / f"{chunk['id']}.cols", chunk, entries)
        meta = {
            "format": cache.INDEX_FORMAT,
            "code": cache.code_version(),
            "source_dir": source_dir,
            "created": created,
            "members": entries,
            "chunk": chunk,
            "seconds": round(time.perf_counter() - started, 3),
        }
        cache.atomic_write_bytes(tmp / "meta.json", orjson.dumps(meta))
        os.rename(tmp, Path(home) / pack_id)
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return pack_id


class _MemberReader:
    """Reads a pack's files into its chunk writer.

    Spans of many small files share one `PieceBuilder` (a piece per file would
    cost more in column conversion than the file's parsing), tagged with their
    file; the builder is flushed before a trace id of another file joins it, so
    a piece never groups two files' traces as one. Plain HALO JSONL files, whose
    rows point into the source, are read as a piece each.
    """

    def __init__(self, writer: ChunkWriter) -> None:
        self.writer = writer
        self.builder = PieceBuilder()
        self.files: list[int] = []  # file number per span in the builder
        self.owner: dict[str, int] = {}  # trace id -> file number, for the builder's spans

    def read(self, path: Path, no: int, shape: str | None) -> dict[str, Any]:
        """Parse one file into the pack; its member entry (with an error instead when it cannot be read)."""
        from engine.traces.parse import parse_range
        from engine.traces.readers import FileReader, detect_shape

        try:
            st = os.stat(path)
        except OSError as exc:
            return {"name": path.name, "size": 0, "mtime_ns": 0, "ctime_ns": 0, "ino": 0, "shape": shape,
                    "error": f"cannot read {path}: {exc.strerror or exc}", "error_kind": "io"}  # fmt: skip
        entry: dict[str, Any] = {"name": path.name, **stat_key(st), "shape": shape or "empty"}
        racy = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS
        digest = _sha256(path) if racy else None
        samples: list[tuple[int, str]] = []
        lines = spans = malformed = 0
        try:
            if st.st_size > 0:
                entry["shape"] = member_shape = shape or detect_shape(path)
                reader = FileReader(path, shape=member_shape)
                if member_shape == "halo" and reader.line_based and not reader.gzip:
                    piece = parse_range(str(path), member_shape, 0, None, True)
                    piece.file = no
                    self.flush()  # files reach the writer in order: their rows and traces stay in order
                    lines, spans, malformed = piece.lines, piece.n, piece.malformed
                    samples = piece.samples[:MALFORMED_SAMPLES]
                    self.writer.add(piece)
                else:
                    for item in reader:
                        if type(item) is Span:
                            self._add(item, no)
                            spans += 1
                        else:
                            malformed += 1
                            if len(samples) < MALFORMED_SAMPLES:
                                samples.append((item.line, item.reason))  # type: ignore[union-attr]
                    lines = reader.lines
        except UnknownShapeError as exc:
            return dict(entry, error=str(exc), error_kind="shape")
        except (HaloError, OSError) as exc:
            reason = str(exc) if isinstance(exc, HaloError) else f"cannot read {path}: {exc.strerror or exc}"
            return dict(entry, error=reason, error_kind="io")
        entry.update(lines=lines, spans=spans, malformed=malformed, samples=[list(s) for s in samples])
        if racy:
            if digest is None or _sha256(path) != digest:
                entry["changing"] = True  # changed while read: never fresh, read again next time
            else:
                entry["sha256"] = digest
        return entry

    def _add(self, span: Span, no: int) -> None:
        owner = self.owner.setdefault(span.trace_id, no)
        if owner != no:  # the same trace id in an earlier file: keep the two traces apart
            self.flush()
            self.owner[span.trace_id] = no
        self.builder.add(span)
        self.files.append(no)
        if len(self.files) >= PIECE_SPANS:
            self.flush()

    def flush(self) -> None:
        if not self.files:
            return
        piece = self.builder.finish()
        files = np.asarray(self.files, dtype=np.int32)
        piece.numbers["file"] = files
        trace_files = np.zeros(len(piece.trace_ids), dtype=np.int32)
        trace_files[piece.trace_local] = files
        piece.trace_files = trace_files
        self.writer.add(piece)
        self.builder, self.files, self.owner = PieceBuilder(), [], {}


def _place_members(cols: Path, chunk: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Each member's row and trace range in the finished chunk (files are contiguous, in order)."""
    arrays = read_column_file(cols, chunk["columns"], chunk["cols_bytes"])
    if (np.diff(arrays["t.file"]) < 0).any():
        raise RuntimeError("a pack's files reached its writer out of order")  # a bug, not bad input
    numbers = np.arange(len(entries))
    rows = [np.searchsorted(arrays["file"], numbers, side) for side in ("left", "right")]
    traces = [np.searchsorted(arrays["t.file"], numbers, side) for side in ("left", "right")]
    for no, entry in enumerate(entries):
        entry["rows"] = [int(rows[0][no]), int(rows[1][no])]
        entry["traces"] = [int(traces[0][no]), int(traces[1][no])]
        entry.setdefault("spans", 0)


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
