"""Which index serves each file of a dataset, opened into table parts.

A file gets its own segment (`index`), or, when a dataset has many small
files, a member of a pack (`pack`). Either way the dataset sees `Part`s: a
segment chunk is one part; the members a dataset uses of a pack are one part
per contiguous run (the whole pack when it uses every member). A `Location`
says where each part's columns are, so another process can map the very same
ones (`open_locations`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from engine.errors import DatasetError, UnknownShapeError
from engine.traces import cache
from engine.traces.index import Builder, Segment, ensure_segment, read_chunk
from engine.traces.pack import (
    PACK_FILE_BYTES,
    PACK_MIN_FILES,
    Member,
    Pack,
    batches,
    collect_garbage,
    open_pack,
    pack_home,
    plan,
    raise_member_error,
)
from engine.traces.pack_build import build_pack
from engine.traces.tables import Part, SpanTable, TraceTable

__all__ = ["FileInfo", "Location", "Opened", "open_sources", "open_locations"]

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)

# Directories whose packs are built at once (each holds a lock while its packs build).
_LOCKED_DIRS = 64


@dataclass(slots=True)
class FileInfo:
    """One source file of a dataset.

    A plain dataclass, not a pydantic model: a folder of 20,000 files makes
    20,000 of these on every open.
    """

    path: str
    shape: str
    size: int
    spans: int
    traces: int
    malformed: int
    index: str = "fresh"  # what opening did: fresh (reused), built, appended


@dataclass(frozen=True)
class Location:
    """Where a part's columns are: a segment or pack directory, a chunk, the rows used."""

    directory: str
    chunk: str
    files: tuple[int, ...]  # dataset file index per file number of the chunk (-1: not in the dataset)
    rows: tuple[int, int] | None = None  # None: the whole chunk
    traces: tuple[int, int] | None = None


@dataclass
class Opened:
    """A dataset's files and the parts that hold their spans, in file order."""

    files: list[FileInfo] = field(default_factory=list)
    samples: list[list[tuple[int, str]]] = field(default_factory=list)  # malformed (line, reason) per file
    parts: list[Part] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)  # per part
    locations: list[Location] = field(default_factory=list)  # per part
    skipped: list[str] = field(default_factory=list)


@dataclass
class _PackUse:
    pack: Pack
    members: dict[int, int] = field(default_factory=dict)  # member number -> dataset file index


def open_sources(
    found: list[tuple[Path, bool]], root: Path, shape: str | None, progress: ProgressFn | None = None
) -> Opened:
    """Bring every file's index up to date and open it (see the module docstring)."""
    stats: dict[Path, os.stat_result] = {}
    for path, _explicit in found:
        try:
            stats[path] = path.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    total = sum(st.st_size for st in stats.values())
    groups: dict[Path, list[Member]] = defaultdict(list)
    for path, explicit in found:
        if stats[path].st_size < PACK_FILE_BYTES:
            groups[path.parent].append(Member(path, stats[path], explicit))
    with Builder() as builder:
        for _attempt in range(3):
            done = 0

            def packed(nbytes: int) -> None:
                nonlocal done
                done += nbytes
                if progress is not None:
                    progress(min(done, total), total)

            served, built = _refresh_packs(groups, root, shape, builder, packed)
            try:
                for pack in {id(p): p for p, _no in served.values()}.values():
                    open_pack(pack)
            except FileNotFoundError:
                continue  # another process replaced a pack meanwhile: plan again
            break
        else:
            raise DatasetError("the index of this dataset kept changing while it was opened; try again")
        return _assemble(found, stats, served, built, root, shape, builder, total, done, progress)


def _refresh_packs(
    groups: dict[Path, list[Member]],
    root: Path,
    shape: str | None,
    builder: Builder,
    packed: Callable[[int], None],
) -> tuple[dict[Path, tuple[Pack, int]], set[str]]:
    """The pack member serving each small file; ids of the packs built.

    Existing packs serve whatever they hold fresh. Files none serves are packed
    when there are at least PACK_MIN_FILES of them; fewer get a segment each
    (a file that changed in a big pack costs one small segment, not a repack).
    """
    served: dict[Path, tuple[Pack, int]] = {}
    stale_dirs = []
    stale_files = 0
    for directory in sorted(groups):
        found = plan(pack_home(root, directory), groups[directory], shape, absorb=False)
        served.update(found.covered)
        if found.stale:
            stale_dirs.append(directory)
            stale_files += len(found.stale)
    built: set[str] = set()
    if stale_files < PACK_MIN_FILES:
        return served, built
    for lo in range(0, len(stale_dirs), _LOCKED_DIRS):
        window = stale_dirs[lo : lo + _LOCKED_DIRS]
        with ExitStack() as locks:
            jobs: list[tuple[Path, Path, list[Member]]] = []
            for directory in window:  # sorted: two processes lock in the same order
                home = cache.ensure_dir(pack_home(root, directory))
                locks.enter_context(cache.segment_lock(home))
                found = plan(home, groups[directory], shape)  # again: another process may have built them
                jobs += [(home, directory, batch) for batch in batches(found.stale, builder.workers)]
            built.update(_run(jobs, shape, builder, packed))
            for directory in window:
                home = pack_home(root, directory)
                collect_garbage(home)
                for member in groups[directory]:
                    served.pop(member.path, None)
                served.update(plan(home, groups[directory], shape, absorb=False).covered)
    builder.close()  # workers keep their heap until they exit
    return served, built


def _run(
    jobs: list[tuple[Path, Path, list[Member]]], shape: str | None, builder: Builder, packed: Callable[[int], None]
) -> list[str]:
    """Build the packs, in worker processes when there are several; their ids."""
    args = [(str(home), str(directory), [m.path.name for m in batch], shape) for home, directory, batch in jobs]
    sizes = [sum(m.stat.st_size for m in batch) for _h, _d, batch in jobs]
    if len(jobs) < 2 or builder.workers < 2:
        ids = []
        for a, size in zip(args, sizes):
            ids.append(build_pack(*a))
            packed(size)
        return ids
    pool = builder.executor()
    futures: list[Future[str]] = [pool.submit(build_pack, *a) for a in args]
    ids = []
    for future, size in zip(futures, sizes):
        ids.append(future.result())
        packed(size)
    return ids


def _assemble(
    found: list[tuple[Path, bool]],
    stats: dict[Path, os.stat_result],
    served: dict[Path, tuple[Pack, int]],
    built: set[str],
    root: Path,
    shape: str | None,
    builder: Builder,
    total: int,
    done: int,
    progress: ProgressFn | None,
) -> Opened:
    out = Opened()
    uses: dict[str, _PackUse] = {}
    order: list[tuple[int, Segment | _PackUse]] = []  # (first file index, source)
    floor = done
    for path, explicit in found:
        file_index = len(out.files)
        use = served.get(path)
        if use is not None:
            pack, no = use
            entry = pack.members[no]
            if "error" in entry:
                try:
                    raise_member_error(path, entry)
                except UnknownShapeError as exc:
                    if explicit:
                        raise
                    out.skipped.append(f"{path}: {exc}")
                    continue
            pu = uses.get(pack.id)
            if pu is None:
                pu = uses[pack.id] = _PackUse(pack)
                order.append((file_index, pu))
            pu.members[no] = file_index
            out.files.append(FileInfo(
                path=str(path), shape=entry["shape"], size=entry["size"], spans=entry["spans"],
                traces=entry["traces"][1] - entry["traces"][0], malformed=entry["malformed"],
                index="built" if pack.id in built else "fresh",
            ))  # fmt: skip
            out.samples.append([(int(line), str(reason)) for line, reason in entry["samples"]] if entry["samples"] else [])
            continue

        def file_progress(at: int, base: int = done) -> None:
            if progress is not None:
                progress(max(floor, min(base + at, total)), total)

        try:
            seg = ensure_segment(path, root, shape=shape, progress=file_progress, builder=builder)
        except UnknownShapeError as exc:
            if explicit:
                raise
            out.skipped.append(f"{path}: {exc}")
            continue
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
        done += stats[path].st_size
        if progress is not None:
            progress(max(floor, min(done, total)), total)
        order.append((file_index, seg))
        out.files.append(_segment_info(path, seg))
        out.samples.append([(int(line), str(reason)) for line, reason in seg.meta["samples"]])
    _place(order, out)
    return out


PartMaker = Callable[[int, int], tuple[Part, dict[str, Any], Location]]  # (row0, trace0) -> part


def _place(order: list[tuple[int, Segment | _PackUse]], out: Opened) -> None:
    """The sources' parts in file order, numbered: a segment gives a part per chunk, a pack
    one per run of members that are neighbours both in the pack and in the dataset (usually one)."""
    makers: list[tuple[int, PartMaker]] = []
    for file_index, source in order:
        if isinstance(source, Segment):
            makers += [(file_index, partial(_segment_part, source, chunk, file_index)) for chunk in source.chunks]
        else:
            makers += [(first, partial(_pack_part, source, run)) for first, run in _runs(source)]
    makers.sort(key=lambda item: item[0])  # stable: a segment's chunks keep their order
    row0 = trace0 = 0
    for _first, make in makers:
        part, summary, location = make(row0, trace0)
        out.parts.append(part)
        out.summaries.append(summary)
        out.locations.append(location)
        row0 += part.n_rows
        trace0 += part.n_traces


def _segment_info(path: Path, seg: Segment) -> FileInfo:
    m = seg.meta
    return FileInfo(
        path=str(path), shape=m["shape"], size=int(m["fingerprint"]["size"]), spans=int(m["spans"]),
        traces=int(m["traces"]), malformed=int(m["malformed"]), index=seg.built,
    )  # fmt: skip


def _segment_part(
    seg: Segment, chunk: Any, file_index: int, row0: int, trace0: int
) -> tuple[Part, dict[str, Any], Location]:
    part = Part([file_index], chunk.arrays, chunk.raw_path, row0, trace0, chunk.raw)
    return part, chunk.summary, Location(str(seg.directory), chunk.id, (file_index,))


def _runs(use: _PackUse) -> list[tuple[int, tuple[int, int, int, int] | None]]:
    """(first dataset file index, (row lo, row hi, trace lo, trace hi) or None for the whole pack) per run."""
    pack = use.pack
    if pack.chunk is None:
        return []  # no member has spans
    members = sorted(use.members.items(), key=lambda item: item[1])  # in dataset order
    with_rows = [(no, f) for no, f in members if _has_rows(pack.members[no])]
    if not with_rows:
        return []
    if len(with_rows) == sum(1 for e in pack.members if _has_rows(e)) and all(
        a[0] < b[0] for a, b in zip(with_rows, with_rows[1:])
    ):
        return [(with_rows[0][1], None)]  # every member with rows, in pack order
    runs: list[tuple[int, list[int]]] = []
    for no, f in with_rows:
        (r0, r1), (t0, t1) = pack.members[no]["rows"], pack.members[no]["traces"]
        if runs and runs[-1][1][1] == r0:
            runs[-1][1][1], runs[-1][1][3] = r1, t1
        else:
            runs.append((f, [r0, r1, t0, t1]))
    return [(f, (r[0], r[1], r[2], r[3])) for f, r in runs]


def _pack_part(
    use: _PackUse, run: tuple[int, int, int, int] | None, row0: int, trace0: int
) -> tuple[Part, dict[str, Any], Location]:
    pack = use.pack
    chunk = pack.chunk
    assert chunk is not None and pack.arrays is not None
    files = [-1] * len(pack.members)
    for no, file_index in use.members.items():
        files[no] = file_index
    where = str(pack.directory)
    if run is None:
        part = Part(files, pack.arrays, pack.raw_path, row0, trace0, pack.raw)
        return part, chunk["summary"], Location(where, chunk["id"], tuple(files))
    rows, traces = (run[0], run[1]), (run[2], run[3])
    part = Part(files, pack.arrays, pack.raw_path, row0, trace0, pack.raw, rows=rows, traces=traces)
    return part, _summary(part), Location(where, chunk["id"], tuple(files), rows, traces)


def _summary(part: Part) -> dict[str, Any]:
    """The summary of a part cut from a chunk (the chunk's stored one covers all its rows)."""
    from engine.traces.summary import summarize

    alone = Part(part.files, part.arrays, part.raw_path, 0, 0, part.raw)
    alone.row_shift, alone.trace_shift = part.row_shift - part.row0, part.trace_shift - part.trace0
    return summarize(SpanTable([alone], alone.n_rows), TraceTable([alone], alone.n_traces))


def _has_rows(entry: dict[str, Any]) -> bool:
    rows = entry.get("rows")
    return bool(rows) and rows[1] > rows[0]


def open_locations(locations: list[Location]) -> tuple[list[Part], list[dict[str, Any]]]:
    """Map the very chunks `locations` name (no fingerprint check, no build, no write).

    Raises DatasetError when one is gone (its segment or pack was rebuilt since).
    """
    parts, summaries = [], []
    metas: dict[str, dict[str, Any]] = {}
    row0 = trace0 = 0
    for loc in locations:
        try:
            meta = metas.get(loc.directory)
            if meta is None:
                meta = metas[loc.directory] = orjson.loads((Path(loc.directory) / "meta.json").read_bytes())
            chunk = _chunk_of(meta, loc.chunk)
            arrays, raw_path, raw = read_chunk(Path(loc.directory), chunk)
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(
                f"the index under {loc.directory} changed since the snapshot was taken; open the dataset again"
            ) from exc
        part = Part(list(loc.files), arrays, raw_path, row0, trace0, raw, rows=loc.rows, traces=loc.traces)
        whole = loc.rows is None
        parts.append(part)
        summaries.append(chunk["summary"] if whole else _summary(part))
        row0 += part.n_rows
        trace0 += part.n_traces
    return parts, summaries


def _chunk_of(meta: dict[str, Any], chunk_id: str) -> dict[str, Any]:
    if "chunks" in meta:
        for c in meta["chunks"]:
            if c["id"] == chunk_id:
                return c
    elif meta.get("chunk") and meta["chunk"]["id"] == chunk_id:
        return meta["chunk"]
    raise KeyError(chunk_id)
