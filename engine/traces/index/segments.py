"""Build, refresh and extend the index segment of one trace file.

A segment is a directory in the cache holding `meta.json` (fingerprint, shape,
how far the file was read, counts, malformed samples, the list of chunks) and
two Apache Arrow IPC files per chunk (`<id>.spans.arrow`, `<id>.traces.arrow`,
see `arrow_chunk`), plus `<id>.raw` when the spans' original JSON is not a
verbatim slice of the source file. Small chunk files are read into memory on
open, big ones memory-mapped: no descriptor stays open per file, so folders of
many files open.

- Fresh (fingerprint matches): nothing is read.
- Only grew (same head, bigger, line-based, not gzip): the new tail is read from
  where the last build stopped and added as a chunk; chunks sharing a trace
  with the tail are merged with it at column level (no reparse).
- Anything else, or a chunk file whose size differs from the one meta.json
  recorded (cut short by a crash; nothing is fsynced): rebuilt from scratch.

Writers hold a per-segment `flock`; new files get fresh names and `meta.json` is
replaced atomically, so readers see the old segment or the new one, and two
processes indexing the same file wait for each other instead of corrupting it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.traces.columns.arrow_chunk import ChunkColumns, chunk_file_names, read_chunk_columns
from engine.traces.columns.file import TornFileError, read_buffer
from engine.traces.index import cache
from engine.traces.index.build import Piece
from engine.traces.index.chunk_writer import ChunkWriter, commit
from engine.traces.index.finalize import piece_from_chunk, trace_keys
from engine.traces.index.freshness import is_fresh, load_meta, only_grew
from engine.traces.index.handover import Handover, parse_range_handed, received
from engine.traces.index.parse import iter_pieces, parse_range, split_at_newlines
from engine.traces.index.unreadable import guarded, reading
from engine.traces.index.worker_life import die_with_parent
from engine.traces.readers import shape_named

__all__ = [
    "PIECE_BYTES",
    "PARALLEL_MIN_BYTES",
    "MAX_CHUNKS",
    "Segment",
    "Chunk",
    "Builder",
    "ensure_segment",
    "fresh_segment",
    "open_segment",
    "read_chunk",
]

log = logging.getLogger(__name__)

# A big line-based file is cut at newlines into pieces of about this size,
# parsed in parallel worker processes (8 MB built a 1 GB file ~5% faster than 16:
# a worker's piece stays nearer its CPU cache, and the last piece ends sooner).
PIECE_BYTES = 8 << 20
# Below this, parsing in this process is faster than starting workers.
PARALLEL_MIN_BYTES = 24 << 20
# Appends add chunks; past this many, the segment is merged back into one.
MAX_CHUNKS = 8

Progress = Callable[[int], None]  # bytes of source read so far (for this file)


@dataclass
class Chunk:
    """One chunk of a segment, read or mapped (and its raw copy, if any)."""

    id: str
    arrays: ChunkColumns
    raw_path: Path | None
    spans: int
    traces: int
    summary: dict[str, Any] = field(default_factory=dict)
    raw: np.ndarray | None = None  # the raw copies, read or mapped (when raw_path is set)


@dataclass
class Segment:
    """The index of one source file: its meta and its chunks."""

    path: Path
    directory: Path
    meta: dict[str, Any]
    chunks: list[Chunk] = field(default_factory=list)
    built: str = "fresh"  # fresh | built | appended

    @property
    def spans(self) -> int:
        return int(self.meta["spans"])

    @property
    def traces(self) -> int:
        return int(self.meta["traces"])


def ensure_segment(
    path: Path,
    root: Path,
    *,
    shape: str | None = None,
    progress: Progress | None = None,
    builder: Builder | None = None,
) -> Segment:
    """The up-to-date segment of `path`, building or extending it when needed."""
    path = path.resolve()
    directory = cache.segment_dir(root, path)
    for _attempt in range(3):
        fp = cache.fingerprint(path)
        meta = load_meta(directory)
        if meta is not None and is_fresh(meta, fp, shape):
            try:
                return _open(path, directory, meta, "fresh")
            except FileNotFoundError:
                continue  # a writer replaced the chunks since we read meta
            except TornFileError:
                pass  # rebuilt below, under the lock
        with cache.segment_lock(directory):
            fp = cache.fingerprint(path)
            meta = load_meta(directory)
            if meta is not None and is_fresh(meta, fp, shape):
                try:
                    return _open(path, directory, meta, "fresh")
                except (FileNotFoundError, TornFileError) as exc:
                    log.warning("rebuilding the index of %s: %s", path, exc)
                    meta = None
            own = builder or Builder()
            try:
                if meta is not None and only_grew(path, meta, fp, shape):
                    meta = own.append(path, directory, meta, fp, progress)
                    how = "appended"
                else:
                    meta = own.build(path, directory, fp, shape, progress)
                    how = "built"
            finally:
                if builder is None:
                    own.close()
            _collect_garbage(directory, meta)
            log.info(
                "%s %s: %d spans, %d traces, %d malformed in %.2f s",
                how, path, meta["spans"], meta["traces"], meta["malformed"], meta.get("seconds", 0.0),
            )  # fmt: skip
            return _open(path, directory, meta, how)
    raise RuntimeError(f"segment of {path} kept changing while it was opened")


def fresh_segment(path: Path, root: Path, shape: str | None = None) -> Segment | None:
    """The segment of `path` if it is up to date and whole, else None (nothing is built or locked)."""
    path = path.resolve()
    directory = cache.segment_dir(root, path)
    meta = load_meta(directory)
    if meta is None or not is_fresh(meta, cache.fingerprint(path), shape):
        return None
    try:
        return _open(path, directory, meta, "fresh")
    except (FileNotFoundError, TornFileError):
        return None


def open_segment(path: Path, directory: Path, meta: dict[str, Any], how: str = "fresh") -> Segment:
    """Open the chunks `meta` lists (no fingerprint check).

    FileNotFoundError if one is gone, TornFileError if one has not the size meta recorded.
    """
    return _open(path, directory, meta, how)


def read_chunk(directory: Path, chunk: dict[str, Any]) -> tuple[ChunkColumns, Path | None, np.ndarray | None]:
    """A chunk's columns and its raw copies (path and bytes; None when the source holds them), as meta lists it.

    Both are read or mapped now: a writer may delete the files later, a mapping
    survives that. FileNotFoundError if one is gone, TornFileError if one has
    not the size meta recorded.
    """
    arrays = read_chunk_columns(directory, chunk)
    raw_path = directory / f"{chunk['id']}.raw" if chunk["raw"] else None
    raw = np.frombuffer(read_buffer(raw_path, chunk.get("raw_bytes")), np.uint8) if raw_path is not None else None
    return arrays, raw_path, raw


def _open(path: Path, directory: Path, meta: dict[str, Any], how: str) -> Segment:
    chunks = []
    for c in meta["chunks"]:
        arrays, raw_path, raw = read_chunk(directory, c)
        chunks.append(Chunk(c["id"], arrays, raw_path, int(c["spans"]), int(c["traces"]), c["summary"], raw))
    return Segment(path, directory, meta, chunks, how)


def _collect_garbage(directory: Path, meta: dict[str, Any]) -> None:
    """Delete chunk files no longer listed (readers that mapped them keep their mapping)."""
    live = {name for c in meta["chunks"] for name in (*chunk_file_names(c["id"]), f"{c['id']}.raw")}
    for entry in directory.iterdir():
        if entry.suffix in (".arrow", ".cols", ".raw", ".tmp") and entry.name not in live:
            entry.unlink(missing_ok=True)


class Builder:
    """Parses files into segments; owns the worker pool (started on first big file)."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        piece_bytes: int = PIECE_BYTES,
        parallel_min_bytes: int = PARALLEL_MIN_BYTES,
    ) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.piece_bytes = piece_bytes
        self.parallel_min_bytes = parallel_min_bytes
        # While another thread feeds the pool too (a folder's packs), a file's build keeps it open.
        self.shared = False
        self._pool: Executor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def executor(self) -> Executor:
        if self._pool is None:
            # fork is fast and safe while this process runs no other thread;
            # otherwise start clean interpreters.
            method = "fork" if threading.active_count() == 1 else "spawn"
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context(method),
                initializer=die_with_parent, initargs=(os.getpid(),),
            )  # fmt: skip
        return self._pool

    def build(
        self, path: Path, directory: Path, fp: cache.Fingerprint, shape: str | None, progress: Progress | None
    ) -> dict[str, Any]:
        """Read the whole file into a one-chunk segment."""
        from engine.traces.readers import FileReader, detect_shape
        from engine.traces.readers._source import is_gzip

        started = time.perf_counter()
        meta = _new_meta(path, fp)
        if fp.size == 0:
            meta.update(shape=shape or "empty", detected="empty", line_based=True, gzip=False)
            return commit(directory, meta, ChunkWriter(directory), [], started)
        with reading(path):
            if shape is not None:
                meta["detected"] = _detected(path)
            shape = shape or detect_shape(path)
            gz = is_gzip(path)
            line_based = bool(FileReader(path, shape=shape).line_based)
        meta.update(shape=shape, gzip=gz, line_based=line_based)
        writer = ChunkWriter(directory)
        try:
            for piece in guarded(path, self._parse(path, shape, gz, line_based, 0, 1, fp.size, progress)):
                writer.add(piece)
                meta["end"] = piece.end
            return commit(directory, meta, writer, [], started)
        except BaseException:
            writer.abort()
            raise

    def append(
        self, path: Path, directory: Path, meta: dict[str, Any], fp: cache.Fingerprint, progress: Progress | None
    ) -> dict[str, Any]:
        """Read only the tail a grown file added; merge chunks that share a trace with it."""
        started = time.perf_counter()
        meta = dict(meta, fingerprint=fp.to_json())
        start, first_line = int(meta["end"]), int(meta["lines"]) + 1
        writer = ChunkWriter(directory, lines=int(meta["lines"]), malformed=int(meta["malformed"]))
        writer.samples = [tuple(s) for s in meta["samples"]]
        try:
            pieces = self._parse(path, meta["shape"], False, True, start, first_line, fp.size, progress)
            for piece in guarded(path, pieces):
                writer.add(piece)
                meta["end"] = piece.end
            if writer.spans == 0:
                return commit(directory, meta, writer, list(meta["chunks"]), started)
            old = meta["chunks"]
            tail_keys = trace_keys(writer.trace_ids())
            keep = []
            for c in old:
                arrays = read_chunk_columns(directory, c)
                if len(old) + 1 > MAX_CHUNKS or np.isin(arrays["t.trace_key"], tail_keys).any():
                    writer.add_old(piece_from_chunk(arrays), directory / f"{c['id']}.raw" if c["raw"] else None)
                else:
                    keep.append(c)
            return commit(directory, meta, writer, keep, started)
        except BaseException:
            writer.abort()
            raise

    def _parse(
        self,
        path: Path,
        shape: str,
        gz: bool,
        line_based: bool,
        start: int,
        first_line: int,
        size: int,
        progress: Progress | None,
    ) -> Iterator[Piece]:
        """Pieces of [start, EOF) in file order, with absolute line numbers."""
        if not line_based or gz:
            # One sequential pass (gzip cannot be split; nested JSON is one record).
            for piece in iter_pieces(str(path), shape, start, first_line):
                if progress is not None:
                    progress(min(piece.end, size) if not gz else 0)
                yield piece
            return
        source_raw = shape_named(shape).lines is not None  # its spans' raw is their lines as they are
        big = size - start >= self.parallel_min_bytes
        ranges: list[tuple[int, int | None]] = (
            split_at_newlines(path, start, size, self.piece_bytes) if big else [(start, None)]
        )
        if len(ranges) > 1 and self.workers > 1:
            results = self._map_parallel(str(path), shape, ranges, source_raw)
        else:
            results = (parse_range(str(path), shape, s, e, source_raw) for s, e in ranges)
        line = first_line
        for piece in results:
            piece.rebase(line, 0)
            line += piece.lines
            if progress is not None:
                progress(piece.end)
            yield piece

    def _map_parallel(
        self, path: str, shape: str, ranges: list[tuple[int, int | None]], source_raw: bool
    ) -> Iterator[Piece]:
        pool = self.executor()
        pending: deque[Future[Piece | str]] = deque()
        todo = deque(ranges)
        in_flight = 2 * self.workers + 2  # bounded: finished pieces wait in memory
        handover = Handover()
        try:
            while todo or pending:
                while todo and len(pending) < in_flight:
                    s, e = todo.popleft()
                    pending.append(pool.submit(parse_range_handed, handover.directory, path, shape, s, e, source_raw))
                yield received(pending.popleft().result())
        finally:
            handover.close(list(pending))
            # Workers keep their heap until they exit: end them before the merge
            # (which needs the memory); the next big file starts new ones.
            if not self.shared:
                self.close()


def _detected(path: Path) -> str | None:
    """The shape the content is detected as (None: none), recorded beside a forced one."""
    from engine.errors import UnknownShapeError
    from engine.traces.readers import detect_shape

    try:
        return detect_shape(path)
    except UnknownShapeError:
        return None


def _new_meta(path: Path, fp: cache.Fingerprint) -> dict[str, Any]:
    return {
        "format": cache.INDEX_FORMAT,
        "code": cache.code_version(),
        "source": str(path),
        "fingerprint": fp.to_json(),
        "end": 0,
        "lines": 0,
        "spans": 0,
        "traces": 0,
        "malformed": 0,
        "samples": [],
        "orphans": 0,
        "duplicates": 0,
        "chunks": [],
    }
