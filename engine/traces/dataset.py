"""A dataset: the indexed spans of a set of trace files, as memory-mapped columns.

`Dataset.open(paths)` resolves files, directories and globs, brings each file's
index segment up to date (see `index`), and maps the segments. Nothing is
parsed on a reopen: columns are numpy views of the cache files, and strings are
decoded only when asked for. Several files (or chunks of one grown file) are
concatenated lazily, column by column, when a column is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from pydantic import BaseModel, Field

from engine.errors import DatasetError, UnknownIdError, UnknownShapeError
from engine.traces import cache
from engine.traces.build import Flag
from engine.traces.columns import StringColumn
from engine.traces.hashing import hash_strings
from engine.traces.index import PARALLEL_MIN_FILES, SMALL_BUILD_BYTES, Builder, Segment, ensure_segment, fresh_segment
from engine.traces.paths import TRACE_SUFFIXES, resolve_paths
from engine.traces.raw import RawReader
from engine.traces.tables import Part, SpanTable, TraceTable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TRACE_SUFFIXES",
    "QUALITY_EXAMPLES",
    "FileInfo",
    "DataQuality",
    "SpanTable",
    "TraceTable",
    "Dataset",
    "resolve_paths",
]

# Examples kept per data-quality problem (counts are exact).
QUALITY_EXAMPLES = 10

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


class FileInfo(BaseModel):
    """One source file of a dataset."""

    path: str
    shape: str
    size: int
    spans: int
    traces: int
    malformed: int
    index: str = Field(default="fresh", description="what opening did: fresh (reused), built, appended")


class DataQuality(BaseModel):
    """What was odd about the input; nothing here was dropped, only noted."""

    malformed_lines: int = 0
    malformed_samples: list[str] = Field(default_factory=list, description='"file:line: reason"')
    orphan_spans: int = Field(default=0, description="spans whose parent was never exported (kept as roots)")
    duplicate_span_ids: int = Field(default=0, description="spans sharing (trace id, span id) with another")
    duplicate_examples: list[str] = Field(default_factory=list, description='"trace_id/span_id"')
    traces_in_several_files: int = Field(default=0, description="trace ids found in more than one file")
    several_files_examples: list[str] = Field(default_factory=list, description='"trace_id: file, file"')
    skipped_files: list[str] = Field(default_factory=list, description='"path: reason" (not trace files)')


class Dataset:
    """The indexed spans of some trace files. Open with `Dataset.open(paths)`."""

    def __init__(self, paths: list[Path], segments: list[Segment], files: list[FileInfo], skipped: list[str]):
        self.paths = paths
        self.files = files
        self._segments = segments
        self._skipped = skipped
        parts: list[Part] = []
        row0 = trace0 = 0
        for i, seg in enumerate(segments):
            for chunk in seg.chunks:
                part = Part(i, chunk.arrays, chunk.raw_path, row0, trace0, chunk.raw)
                parts.append(part)
                row0 += part.n_rows
                trace0 += part.n_traces
        self._parts = parts
        self.n_spans = row0
        self.n_traces = trace0
        self.spans = SpanTable(parts, row0)
        self.traces = TraceTable(parts, trace0)
        self._raw = RawReader(self.spans, parts, [f.path for f in files])
        self.fingerprint = tuple((str(s.directory), tuple(c.id for c in s.chunks)) for s in segments)

    # -- opening ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        paths: Sequence[str | Path],
        *,
        cache_dir: Path | None = None,
        shape: str | None = None,
        progress: ProgressFn | None = None,
    ) -> Dataset:
        """Index (or reuse the index of) every trace file under `paths` and map it."""
        found = resolve_paths(paths)
        root = Path(cache_dir) if cache_dir is not None else cache.cache_root()
        total = sum(_size(path) for path, _ in found)
        done = 0
        segments: list[Segment] = []
        files: list[FileInfo] = []
        skipped: list[str] = []
        with Builder() as builder:
            fresh, prebuilt = _build_small_files([p for p, _ in found], root, shape, builder, total, progress)
            floor = sum(map(_size, prebuilt))
            for path, explicit in found:

                def file_progress(at: int, base: int = done) -> None:
                    if progress is not None:
                        progress(max(floor, min(base + at, total)), total)

                try:
                    seg = fresh.pop(path, None) or ensure_segment(
                        path, root, shape=shape, progress=file_progress, builder=builder
                    )
                except UnknownShapeError as exc:
                    if explicit:
                        raise
                    skipped.append(f"{path}: {exc}")
                    continue
                except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
                    raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
                if path in prebuilt:
                    seg.built = "built"
                done += _size(path)
                if progress is not None:
                    progress(max(floor, min(done, total)), total)
                segments.append(seg)
                files.append(_file_info(path, seg))
        if not segments:
            reasons = "; ".join(skipped[:5])
            raise DatasetError(f"no trace files could be read under {', '.join(map(str, paths))}: {reasons}")
        return cls([p for p, _ in found], segments, files, skipped)

    def snapshot(self) -> dict[str, Any]:
        """What another process needs to map exactly this dataset's index (see `open_snapshot`)."""
        return {
            "files": [f.path for f in self.files],
            "segments": [[str(s.directory), [c.id for c in s.chunks]] for s in self._segments],
            "skipped": list(self._skipped),
        }

    @classmethod
    def open_snapshot(cls, snapshot: dict[str, Any]) -> Dataset:
        """Map the very chunks a `snapshot()` lists: no fingerprint check, no rebuild, no write.

        For a child process (run_code) that must see what its parent sees even if
        a file changed since. Raises DatasetError when a listed chunk is gone (the
        segment was rebuilt since): open the files again then.
        """
        from engine.traces.index import open_segment

        segments, files = [], []
        for path, (directory, chunk_ids) in zip(snapshot["files"], snapshot["segments"], strict=True):
            try:
                meta = orjson.loads((Path(directory) / "meta.json").read_bytes())
                by_id = {c["id"]: c for c in meta["chunks"]}
                chunks = [by_id[i] for i in chunk_ids]  # KeyError: the segment was rebuilt since
                meta = dict(meta, chunks=chunks)
                for key in ("spans", "traces", "orphans", "duplicates"):
                    meta[key] = sum(int(c[key]) for c in chunks)
                segment = open_segment(Path(path), Path(directory), meta)
            except (OSError, ValueError, KeyError) as exc:
                raise DatasetError(f"the index of {path} changed since the snapshot was taken; open it again") from exc
            segments.append(segment)
            files.append(_file_info(Path(path), segment))
        return cls([Path(p) for p in snapshot["files"]], segments, files, list(snapshot.get("skipped", [])))

    def close(self) -> None:
        """Close the source files kept open for raw reads (mappings go with the object)."""
        self._raw.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<Dataset {len(self.files)} files, {self.n_traces} traces, {self.n_spans} spans>"

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The chunks' build-time summaries merged (see `summary`): what `overview` reads."""
        from engine.traces.summary import merge

        return merge([c.summary for s in self._segments for c in s.chunks])

    # -- quality ------------------------------------------------------------

    @cached_property
    def quality(self) -> DataQuality:
        q = DataQuality(skipped_files=self._skipped[:QUALITY_EXAMPLES])
        for seg, info in zip(self._segments, self.files):
            q.malformed_lines += info.malformed
            for line, reason in seg.meta["samples"]:
                if len(q.malformed_samples) < QUALITY_EXAMPLES:
                    q.malformed_samples.append(f"{info.path}:{line}: {reason}")
            q.orphan_spans += int(seg.meta["orphans"])
            q.duplicate_span_ids += int(seg.meta["duplicates"])
        if q.duplicate_span_ids:
            rows = np.flatnonzero(self.spans.flags & Flag.DUPLICATE)[: QUALITY_EXAMPLES * 2]
            seen: list[str] = []
            for r in rows.tolist():
                label = f"{self.trace_id_of_row(r)}/{self.spans.span_id[r]}"
                if label not in seen:
                    seen.append(label)
            q.duplicate_examples = seen[:QUALITY_EXAMPLES]
        if len(self.files) > 1:
            q.traces_in_several_files, q.several_files_examples = self._traces_in_several_files()
        return q

    def _traces_in_several_files(self) -> tuple[int, list[str]]:
        keys = np.asarray(self.traces.trace_key)
        files = self.traces.file
        order = np.lexsort((files, keys))
        k, f = keys[order], files[order]
        same_key = k[1:] == k[:-1]
        other_file = same_key & (f[1:] != f[:-1])
        if not other_file.any():
            return 0, []
        starts = np.flatnonzero(other_file)
        groups = np.unique(k[starts])
        examples = []
        for key in groups[:QUALITY_EXAMPLES].tolist():
            rows = order[k == key]
            tid = self.traces.trace_id[int(rows[0])]
            names = sorted({Path(self.files[int(self.traces.file[int(r)])].path).name for r in rows.tolist()})
            examples.append(f"{tid}: {', '.join(names)}")
        return len(groups), examples

    # -- lookups ------------------------------------------------------------

    @cached_property
    def _trace_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(self.traces.trace_key)
        order = np.argsort(keys, kind="stable")
        return keys[order], order

    def trace_indices(self, trace_id: str) -> list[int]:
        """TraceTable rows with this trace id (more than one if it is in several files)."""
        key = hash_strings(StringColumn.from_values([trace_id]))[0]
        keys, order = self._trace_lookup
        lo, hi = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
        return sorted(int(t) for t in order[lo:hi].tolist() if self.traces.trace_id[int(t)] == trace_id)

    def trace_rows(self, trace_id: str) -> np.ndarray:
        """Span rows of a trace (of every file it is in); raises UnknownIdError."""
        found = self.trace_indices(trace_id)
        if not found:
            raise UnknownIdError(
                f"trace id {trace_id!r} is not in the dataset ({self.n_traces} traces); "
                "list trace ids with query_traces"
            )
        return np.concatenate([np.arange(self.traces.row_start[t], self.traces.row_end[t]) for t in found])

    def span_row(self, trace_id: str, span_id: str) -> int:
        """The row of one span; raises UnknownIdError naming the unknown id."""
        rows = self.trace_rows(trace_id)
        for row, sid in zip(rows.tolist(), self.spans.span_id.take(rows)):
            if sid == span_id:
                return row
        raise UnknownIdError(
            f"span id {span_id!r} is not in trace {trace_id!r} (it has {len(rows)} spans); "
            "view_trace lists its span ids"
        )

    def trace_id_of_row(self, row: int) -> str:
        return self.traces.trace_id[int(self.spans.trace[row])] or ""

    # -- raw JSON -----------------------------------------------------------

    def raw_bytes(self, row: int) -> bytes:
        """The span's original JSON, as bytes (from the source file or the index's copy)."""
        return self._raw.raw_bytes(row)

    def raw(self, row: int) -> dict[str, Any]:
        """The span's original JSON, parsed."""
        return self._raw.raw(row)

    def raw_text(self, row: int) -> str:
        return self._raw.raw_text(row)

    def iter_raw(self, rows: np.ndarray) -> Iterator[tuple[int, bytes]]:
        """(row, raw bytes) for many rows, in order; neighbouring source spans are read in one go."""
        return self._raw.iter_raw(rows)

    def raw_batch(self, rows: np.ndarray) -> list[bytes]:
        """Raw bytes of `rows` (a few thousand at most), reading a shared file region once when dense."""
        return self._raw.raw_batch(rows)

    def raw_block(self, rows: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray] | None:
        """One read of the source region holding all `rows`' raw bytes (see `RawReader.raw_block`)."""
        return self._raw.raw_block(rows)

    # -- frames -------------------------------------------------------------

    def span_frame(self) -> pd.DataFrame:
        """The canonical span table as a DataFrame (for run_code and analysis)."""
        from engine.traces.frames import span_frame

        return span_frame(self)

    def trace_frame(self) -> pd.DataFrame:
        """Per-trace rollups as a DataFrame."""
        from engine.traces.frames import trace_frame

        return trace_frame(self)


def _file_info(path: Path, seg: Segment) -> FileInfo:
    m = seg.meta
    return FileInfo(
        path=str(path),
        shape=m["shape"],
        size=int(m["fingerprint"]["size"]),
        spans=int(m["spans"]),
        traces=int(m["traces"]),
        malformed=int(m["malformed"]),
        index=seg.built,
    )


def _build_small_files(
    paths: list[Path], root: Path, shape: str | None, builder: Builder, total: int, progress: ProgressFn | None
) -> tuple[dict[Path, Segment], set[Path]]:
    """Build stale small files in worker processes when there are many: (fresh segments opened, files built).

    A folder of thousands of one-trace files costs a few ms per file, nearly
    all in per-file work: spread over the CPUs. Problems are left to the caller,
    which opens every file not returned as fresh (built ones are then only read).
    """
    fresh: dict[Path, Segment] = {}
    if builder.workers < 2 or len(paths) < PARALLEL_MIN_FILES:
        return fresh, set()
    stale = []
    for path in paths:
        size = _size(path)
        if 0 < size < SMALL_BUILD_BYTES:
            seg = _fresh(path, root, shape)
            if seg is None:
                stale.append(path)
            else:
                fresh[path] = seg
    if len(stale) < PARALLEL_MIN_FILES:
        return fresh, set()
    built: set[Path] = set()
    done = 0

    def one_done(path: Path) -> None:
        nonlocal done
        built.add(path)
        done += _size(path)
        if progress is not None:
            progress(min(done, total), total)

    builder.build_files(stale, root, shape, one_done)
    return fresh, built


def _fresh(path: Path, root: Path, shape: str | None) -> Segment | None:
    try:
        return fresh_segment(path, root, shape)
    except OSError:
        return None  # not ours to report here: the caller's open does


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
