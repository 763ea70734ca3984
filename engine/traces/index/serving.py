"""Which index serves each file of a dataset, opened into table parts.

A file gets its own segment (`segments`), or, when a dataset has many small
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
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from pathlib import Path

import numpy as np

from engine.errors import DatasetError, UnknownShapeError, UnreadableFileError
from engine.traces.index.members import IO_ERROR, SAMPLES, SHAPE_ERROR
from engine.traces.index.pack import PACK_FILE_BYTES, Asked, Pack, Plan, open_pack, pick, raise_member_error
from engine.traces.index.parts import (
    FileTable,
    Opened,
    PartMaker,
    pack_makers,
    place,
    segment_info,
    segment_part,
)
from engine.traces.index.paths import Found, stat_found
from engine.traces.index.refresh import ProgressFn, Tally, prebuild, refresh_packs
from engine.traces.index.segments import Builder, Segment, ensure_segment
from engine.traces.readers import SUPPORTED_SHAPES_TEXT

__all__ = ["open_sources"]

# The malformed samples of a file that has none (shared: a folder of 20,000 files makes no list per file).
_NO_SAMPLES: tuple[tuple[int, str], ...] = ()


@dataclass
class _Group:
    """The small files of one source directory: their positions in the dataset, and as asked of its packs."""

    positions: np.ndarray
    asked: Asked


def open_sources(
    found: Found, root: Path, shape: str | None, progress: ProgressFn | None = None
) -> Opened:
    """Bring every file's index up to date and open it (see the module docstring)."""
    runs = _runs_by_directory(found)
    stats = _stat_all(found)
    total = int(stats["size"].sum())
    groups = _small_files(found, stats, runs)
    tally = Tally(total, progress)
    with Builder() as builder:
        beside: Callable[[], dict[int, Segment]] | None = partial(prebuild, found, stats, root, shape, builder, tally)
        prebuilt: dict[int, Segment] = {}
        for _attempt in range(3):
            tally.packed = 0
            asked = {directory: group.asked for directory, group in groups.items()}
            plans, built, prebuilt_now = refresh_packs(asked, root, shape, builder, tally, beside)
            beside = None if prebuilt_now is not None else beside
            prebuilt.update(prebuilt_now or {})
            try:
                for plan_ in plans.values():
                    for k in plan_.serving:
                        open_pack(plan_.packs[k])
            except FileNotFoundError:
                continue  # another process replaced a pack meanwhile: plan again
            break
        else:
            raise DatasetError("the index of this dataset kept changing while it was opened; try again")
        served = _Served.of(len(found), groups, plans, built)
        return _assemble(found, stats, served, root, shape, builder, tally, prebuilt)


def _runs_by_directory(found: Found) -> dict[str, np.ndarray]:
    """Positions of each directory's files (a directory's files are mostly neighbours in `found`)."""
    runs: dict[str, list[np.ndarray]] = defaultdict(list)
    lo = 0
    for directory, run in groupby(found.dirs):
        hi = lo + len(list(run))
        runs[directory].append(np.arange(lo, hi))
        lo = hi
    return {d: r[0] if len(r) == 1 else np.concatenate(r) for d, r in runs.items()}


def _names_at(found: Found, positions: np.ndarray) -> list[str]:
    lo, hi = int(positions[0]), int(positions[-1]) + 1
    return found.names[lo:hi] if hi - lo == len(positions) else pick(found.names, positions)


def _stat_all(found: Found) -> np.ndarray:
    """Every file's stat (`fs.STAT_DTYPE`, most taken by the walk); DatasetError for one that fails."""
    stats = stat_found(found)
    failed = np.flatnonzero(stats["errno"])
    if len(failed):
        i = int(failed[0])
        raise DatasetError(f"cannot read {found.paths[i]}: {os.strerror(int(stats['errno'][i]))}")
    return stats


def _small_files(found: Found, stats: np.ndarray, runs: dict[str, np.ndarray]) -> dict[str, _Group]:
    """Files under PACK_FILE_BYTES, by directory."""
    small = stats["size"] < PACK_FILE_BYTES
    groups = {}
    for directory, positions in runs.items():
        positions = positions[small[positions]]
        if len(positions):
            groups[directory] = _Group(positions, Asked(directory, _names_at(found, positions), stats[positions]))
    return groups


@dataclass
class _Served:
    """Which pack member serves each file of the dataset, as arrays over its files."""

    packs: list[Pack]  # the packs serving some file, each once
    built: list[bool]  # per pack: built by this open
    pack: np.ndarray  # per file: index in `packs`, -1 when no pack serves it
    member: np.ndarray  # per file: member number in that pack

    @classmethod
    def of(cls, n: int, groups: dict[str, _Group], plans: dict[str, Plan], built: set[str]) -> _Served:
        out = cls([], [], np.full(n, -1, np.int64), np.full(n, -1, np.int64))
        for directory, p in plans.items():
            positions = groups[directory].positions
            for k in p.serving:
                mine = p.pack_of == k
                out.pack[positions[mine]] = len(out.packs)
                out.member[positions[mine]] = p.member_of[mine]
                out.packs.append(p.packs[k])
                out.built.append(p.packs[k].id in built)
        return out


def _assemble(
    found: Found,
    stats: np.ndarray,
    served: _Served,
    root: Path,
    shape: str | None,
    builder: Builder,
    tally: Tally,
    prebuilt: dict[int, Segment],
) -> Opened:
    """The dataset's files and parts, in file order.

    Files a pack serves are taken as arrays (a folder of 20,000 files makes no
    Python object per file but its FileInfo); only files with a segment, and
    pack members that recorded an error, are gone through one by one, in order.
    `prebuilt` holds the segments built beside the packs (their bytes already counted).
    """
    out = Opened()
    n = len(found)
    # per file, from the member serving it (filled pack by pack)
    sizes, spans, traces, malformed = (np.zeros(n, np.int64) for _ in range(4))
    state = np.zeros(n, np.uint8)
    shape_of = np.zeros(n, np.int64)  # index in `shapes`
    shapes: list[str | None] = [None]  # 0: a segment's file (its FileInfo is made from the segment)
    for k, pack in enumerate(served.packs):
        files = np.flatnonzero(served.pack == k)
        nos = served.member[files]
        table = pack.members.table  # field by field: a gather of whole rows copies every field
        sizes[files], spans[files], malformed[files] = table["size"][nos], table["spans"][nos], table["malformed"][nos]
        traces[files] = table["trace_hi"][nos] - table["trace_lo"][nos]
        state[files] = table["state"][nos]
        codes = np.asarray([_shape_index(shapes, s) for s in pack.members.shapes] or [0], np.int64)
        shape_of[files] = codes[table["shape"][nos]]
    kept = np.ones(n, bool)
    segments: dict[int, Segment] = {}
    for i in np.flatnonzero((served.pack < 0) | (state & (IO_ERROR | SHAPE_ERROR) != 0)).tolist():
        path = found.paths[i]
        if served.pack[i] >= 0:
            try:
                raise_member_error(Path(path), served.packs[served.pack[i]], int(served.member[i]))
            except UnknownShapeError as exc:
                kept[i] = _skipped(exc, path, bool(found.explicit[i]), out)
                continue
            except UnreadableFileError as exc:
                out.skipped.append(str(exc))
                kept[i] = False
                continue
        seg = prebuilt.get(i)
        try:
            if seg is None:
                seg = ensure_segment(Path(path), root, shape=shape, progress=tally.show, builder=builder)
        except UnknownShapeError as exc:
            kept[i] = _skipped(exc, path, bool(found.explicit[i]), out)
        except UnreadableFileError as exc:  # named and skipped, even when named itself: the others are served
            out.skipped.append(str(exc))
            kept[i] = False
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
        if i not in prebuilt:  # a skipped file was read too: its bytes count as done
            tally.done += int(stats["size"][i])
            tally.show()
        if seg is not None:
            segments[i] = seg
            out.skipped += _shape_note(path, seg)
    keep = np.flatnonzero(kept)
    file_index = np.cumsum(kept) - 1  # dataset file index per found file (of the kept ones)
    # pack -1 (a segment's file, its FileInfo replaced below) takes the last entry: False
    how = np.asarray([*served.built, False], np.int64)[served.pack[keep]]  # index of "fresh" or "built"
    paths = list(found.paths) if len(keep) == n else [found.paths[i] for i in keep.tolist()]
    numbers = np.stack([sizes[keep], spans[keep], traces[keep], malformed[keep]], axis=1)
    file_table = out.files = FileTable(paths, shapes, shape_of[keep], numbers, ["fresh", "built"], how)
    out.samples = [_NO_SAMPLES] * len(keep)
    for k, pack in enumerate(served.packs):
        for i in np.flatnonzero((served.pack == k) & kept & (state & SAMPLES != 0)).tolist():
            samples = pack.members.extras[int(served.member[i])]["samples"]
            out.samples[file_index[i]] = [(int(line), str(reason)) for line, reason in samples]
    makers: list[tuple[int, PartMaker]] = []
    for i, seg in segments.items():
        f = int(file_index[i])
        file_table.replace(f, segment_info(found.paths[i], seg))
        out.samples[f] = [(int(line), str(reason)) for line, reason in seg.meta["samples"]]
        makers += [(f, partial(segment_part, seg, chunk, f)) for chunk in seg.chunks]
    for k, pack in enumerate(served.packs):
        files = np.flatnonzero((served.pack == k) & kept)
        if len(files):
            makers += pack_makers(pack, served.member[files], file_index[files])
    place(makers, out)
    return out


def _shape_note(path: str, seg: Segment) -> list[str]:
    """A forced shape that read nothing of a file whose content looks like another shape, said."""
    m = seg.meta
    detected = m.get("detected", m["shape"])
    if m["spans"] or detected == m["shape"] or detected in (None, "empty"):
        return []
    return [f"{path}: 0 spans as {m['shape']}; the content looks like {detected} (drop the shape to read it so)"]


def _shape_index(shapes: list[str | None], shape: str | None) -> int:
    if shape not in shapes:
        shapes.append(shape)
    return shapes.index(shape)


def _skipped(exc: UnknownShapeError, path: str, explicit: bool, out: Opened) -> bool:
    """A file of no trace shape: an error when it was named itself, else noted as skipped (returns False)."""
    if explicit:
        raise exc
    # One short line per file: the reason without the list of supported shapes
    # (the same ~700 characters for every file) and without the path twice.
    reason = str(exc).replace(SUPPORTED_SHAPES_TEXT, "").strip()
    out.skipped.append(reason if reason.startswith(path) else f"{path}: {reason}")
    return False
