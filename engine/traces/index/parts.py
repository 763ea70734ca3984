"""What an opened dataset is made of: its files, and the table parts that hold their spans.

A segment chunk is one part; the members a dataset uses of a pack are one part
per contiguous run (the whole pack when it uses every member). A `Location`
says where each part's columns are, so another process can map the very same
ones (`open_locations`). `serving` decides which index serves each file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple, cast, overload

import numpy as np
import orjson

from engine.errors import DatasetError
from engine.traces.index.pack import Pack
from engine.traces.index.segments import Segment, read_chunk
from engine.traces.index.tables import Part, SpanTable, TraceTable

__all__ = ["FileInfo", "FileTable", "Location", "Opened", "PartMaker", "open_locations", "pack_makers", "place",
           "segment_info", "segment_part"]  # fmt: skip


class FileInfo(NamedTuple):
    """One source file of a dataset (a row of `FileTable`, made when read)."""

    path: str
    shape: str
    size: int
    spans: int
    traces: int
    malformed: int
    # what opening did: fresh (reused), built, appended (shadows tuple.index, which nothing here uses)
    index: str = "fresh"  # type: ignore[assignment]


@dataclass(frozen=True)
class Location:
    """Where a part's columns are: a segment or pack directory, a chunk, the rows used."""

    directory: str
    chunk: str
    files: tuple[int, ...]  # dataset file index per file number of the chunk (-1: not in the dataset)
    rows: tuple[int, int] | None = None  # None: the whole chunk
    traces: tuple[int, int] | None = None


class FileTable(Sequence[FileInfo]):
    """A dataset's files as columns: a `FileInfo` is made only when one is read.

    A reopen of a folder of 20,000 files made 20,000 of them, ~8 ms with the
    collection they set off, though most uses read a few (a trace's file), one
    column (the paths) or a sum (`shape_counts`, `malformed_total`). `replace`
    puts a file's own FileInfo (a segment's).
    """

    def __init__(
        self, paths: list[str], shapes: list[str | None], shape_of: np.ndarray, numbers: np.ndarray,
        index_names: list[str], index_of: np.ndarray,
    ) -> None:  # fmt: skip
        self.paths = paths
        self._shapes, self._shape_of = shapes, shape_of  # shape name per code; code per file
        self._numbers = numbers  # per file: size, spans, traces, malformed (int64)
        self._index_names, self._index_of = index_names, index_of
        self._own: dict[int, FileInfo] = {}
        self._rows: list[FileInfo] | None = None  # all of them, once iterated

    @classmethod
    def of(cls, infos: Sequence[FileInfo]) -> FileTable:
        """A table of FileInfos already made (a snapshot's), each row its own."""
        n = len(infos)
        table = cls([f.path for f in infos], [None], np.zeros(n, np.int64), np.zeros((n, 4), np.int64), ["fresh"],
                    np.zeros(n, np.int64))  # fmt: skip
        for i, info in enumerate(infos):
            table.replace(i, info)
        return table

    def replace(self, i: int, info: FileInfo) -> None:
        self._own[i] = info
        self.paths[i] = info.path
        if self._rows is not None:
            self._rows[i] = info

    def shape_counts(self) -> dict[str, int]:
        """Files per shape, in order of first appearance."""
        return dict(Counter(self._shape_labels()))

    def malformed_total(self) -> int:
        """Malformed records over all files."""
        own = list(self._own)
        column = self._numbers[:, 3]
        return int(column.sum()) - int(column[own].sum()) + sum(self._own[i].malformed for i in own)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, i: int) -> FileInfo: ...
    @overload
    def __getitem__(self, i: slice) -> list[FileInfo]: ...
    def __getitem__(self, i: int | slice) -> FileInfo | list[FileInfo]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._rows is not None:
            return self._rows[i]
        if i < 0:
            i += len(self.paths)
        own = self._own.get(i)
        if own is not None:
            return own
        size, spans, traces, malformed = self._numbers[i].tolist()
        shape = cast(str, self._shapes[int(self._shape_of[i])])  # code 0 (None): a segment's file, replaced
        how = self._index_names[int(self._index_of[i])]
        return FileInfo(self.paths[i], shape, size, spans, traces, malformed, how)

    def __iter__(self) -> Iterator[FileInfo]:
        return iter(self._all())

    def _all(self) -> list[FileInfo]:
        """Every row, made at once (in C: `tuple.__new__` over the columns zipped), kept for the next reads."""
        if self._rows is None:
            numbers = [self._numbers[:, k].tolist() for k in range(4)]
            how = list(map(self._index_names.__getitem__, self._index_of.tolist()))
            rows = list(map(tuple.__new__, repeat(FileInfo), zip(self.paths, self._shape_labels(), *numbers, how,
                                                                 strict=True)))  # fmt: skip
            for i, info in self._own.items():
                rows[i] = info
            self._rows = rows
        return self._rows

    def _shape_labels(self) -> list[str]:
        """The shape of each file."""
        if self._rows is not None:
            return [f.shape for f in self._rows]
        labels = cast("list[str]", list(map(self._shapes.__getitem__, self._shape_of.tolist())))  # None: own rows
        for i, info in self._own.items():
            labels[i] = info.shape
        return labels


@dataclass
class Opened:
    """A dataset's files and the parts that hold their spans, in file order."""

    files: FileTable = field(default_factory=lambda: FileTable.of([]))
    samples: list[Sequence[tuple[int, str]]] = field(default_factory=list)  # malformed (line, reason) per file
    parts: list[Part] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)  # per part
    locations: list[Location] = field(default_factory=list)  # per part
    skipped: list[str] = field(default_factory=list)


PartMaker = Callable[[int, int], tuple[Part, dict[str, Any], Location]]  # (row0, trace0) -> part


def place(makers: list[tuple[int, PartMaker]], out: Opened) -> None:
    """The parts in file order (by each one's first dataset file), numbered: a segment gives a part per
    chunk, a pack one per run of members that are neighbours both in the pack and in the dataset (usually one)."""
    makers.sort(key=lambda item: item[0])  # stable: a segment's chunks keep their order
    row0 = trace0 = 0
    for _first, make in makers:
        part, summary, location = make(row0, trace0)
        out.parts.append(part)
        out.summaries.append(summary)
        out.locations.append(location)
        row0 += part.n_rows
        trace0 += part.n_traces


def segment_info(path: str, seg: Segment) -> FileInfo:
    m = seg.meta
    return FileInfo(
        path=path, shape=m["shape"], size=int(m["fingerprint"]["size"]), spans=int(m["spans"]),
        traces=int(m["traces"]), malformed=int(m["malformed"]), index=seg.built,
    )  # fmt: skip


def segment_part(
    seg: Segment, chunk: Any, file_index: int, row0: int, trace0: int
) -> tuple[Part, dict[str, Any], Location]:
    part = Part([file_index], chunk.arrays, chunk.raw_path, row0, trace0, chunk.raw)
    return part, chunk.summary, Location(str(seg.directory), chunk.id, (file_index,))


def pack_makers(pack: Pack, nos: np.ndarray, file_index: np.ndarray) -> list[tuple[int, PartMaker]]:
    """The parts of a pack a dataset uses: members `nos` are its files `file_index` (ascending).

    One part when the dataset uses every member with rows, in pack order (the
    usual case), else one per run of members that are neighbours both in the
    pack and in the dataset.
    """
    if pack.chunk is None:
        return []  # no member has spans
    files = np.full(len(pack.members), -1, np.int64)
    files[nos] = file_index
    location_files = tuple(files.tolist())
    table = pack.members.table
    with_rows = table["row_hi"][nos] > table["row_lo"][nos]
    nos, first = nos[with_rows], file_index[with_rows]
    if not len(nos):
        return []
    if len(nos) == int(np.count_nonzero(table["row_hi"] > table["row_lo"])) and bool(np.all(np.diff(nos) > 0)):
        return [(int(first[0]), partial(_pack_part, pack, files, location_files, None))]
    rows = table[nos]
    starts = np.flatnonzero(np.concatenate(([True], rows["row_lo"][1:] != rows["row_hi"][:-1])))
    ends = np.concatenate((starts[1:], [len(nos)])) - 1
    return [
        (int(first[a]), partial(_pack_part, pack, files, location_files, (
            int(rows["row_lo"][a]), int(rows["row_hi"][b]), int(rows["trace_lo"][a]), int(rows["trace_hi"][b]),
        )))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _pack_part(
    pack: Pack,
    files: np.ndarray,
    location_files: tuple[int, ...],
    run: tuple[int, int, int, int] | None,
    row0: int,
    trace0: int,
) -> tuple[Part, dict[str, Any], Location]:
    chunk = pack.chunk
    assert chunk is not None and pack.arrays is not None
    where = str(pack.directory)
    if run is None:
        part = Part(files, pack.arrays, pack.raw_path, row0, trace0, pack.raw)
        return part, chunk["summary"], Location(where, chunk["id"], location_files)
    rows, traces = (run[0], run[1]), (run[2], run[3])
    part = Part(files, pack.arrays, pack.raw_path, row0, trace0, pack.raw, rows=rows, traces=traces)
    return part, _summary(part), Location(where, chunk["id"], location_files, rows, traces)


def _summary(part: Part) -> dict[str, Any]:
    """The summary of a part cut from a chunk (the chunk's stored one covers all its rows)."""
    from engine.traces.index.summary import summarize

    alone = Part(part.files, part.arrays, part.raw_path, 0, 0, part.raw)
    alone.row_shift, alone.trace_shift = part.row_shift - part.row0, part.trace_shift - part.trace0
    return summarize(SpanTable([alone], alone.n_rows), TraceTable([alone], alone.n_traces))


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
    c: dict[str, Any]
    if "chunks" in meta:
        for c in meta["chunks"]:
            if c["id"] == chunk_id:
                return c
    elif meta.get("chunk") and meta["chunk"]["id"] == chunk_id:
        c = meta["chunk"]
        return c
    raise KeyError(chunk_id)
