"""Writing one chunk of a segment: raw copies streamed to disk, columns finalized, meta replaced.

A `ChunkWriter` takes the pieces of one build or append as they arrive (raw
bytes go to `<id>.raw` at once, trace ids are numbered while workers still
parse), then `commit` finalizes the columns into `<id>.cols`, computes the
chunk's summary and replaces `meta.json` atomically: the segment's new version.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from engine.traces.columns.file import read_column_file
from engine.traces.index import cache
from engine.traces.index.build import MALFORMED_SAMPLES, Piece
from engine.traces.index.finalize import TraceNumbering, finalize
from engine.traces.index.summary import summarize
from engine.traces.index.tables import Part, SpanTable, TraceTable

__all__ = ["ChunkWriter", "commit"]


class ChunkWriter:
    """Collects the pieces of one new chunk; raw copies go to disk as they arrive.

    Streaming the raw bytes keeps memory at the size of the columns, not of the
    file (a 1 GB gzip file must not be held in memory).
    """

    def __init__(self, directory: Path, *, lines: int = 0, malformed: int = 0) -> None:
        cache.ensure_dir(directory)
        self.directory = directory
        self.id = uuid.uuid4().hex[:16]
        self.raw_path = directory / f"{self.id}.raw"
        self._raw = open(self.raw_path, "wb")
        self.raw_size = 0
        self.pieces: list[Piece] = []
        self.numbering = TraceNumbering()
        self.tail_trace_ids: list[str] = []
        self.spans = 0  # new spans (not counting merged chunks)
        self.lines = lines
        self.malformed = malformed
        self.samples: list[tuple[int, str]] = []

    def add(self, piece: Piece) -> None:
        if piece.raw:
            piece.rebase(1, self.raw_size)
            self._write(piece.raw)
            piece.raw = b""
        self.tail_trace_ids += piece.trace_ids
        self.numbering.number(piece)
        self.pieces.append(piece)
        self.spans += piece.n
        self.lines += piece.lines
        self.malformed += piece.malformed
        room = MALFORMED_SAMPLES - len(self.samples)
        self.samples.extend(piece.samples[: max(0, room)])

    def add_old(self, piece: Piece, raw_path: Path | None) -> None:
        """A stored chunk merged into this one (its raw file is copied, offsets shifted)."""
        if raw_path is not None:
            piece.rebase(1, self.raw_size)
            with open(raw_path, "rb") as src:
                while block := src.read(1 << 22):
                    self._write(block)
        self.pieces.append(piece)

    def abort(self) -> None:
        """Drop the chunk being written (the segment keeps its previous version)."""
        self._raw.close()
        self.raw_path.unlink(missing_ok=True)
        (self.directory / f"{self.id}.cols").unlink(missing_ok=True)

    def _write(self, data: bytes) -> None:
        self._raw.write(data)
        self.raw_size += len(data)

    def trace_ids(self) -> list[str]:
        """Trace ids of the pieces added with `add` (the new tail)."""
        return self.tail_trace_ids

    def finish(self) -> dict[str, Any] | None:
        """Write the column file; the chunk's meta entry, or None when there are no spans."""
        self._raw.close()  # no fsync: the sizes kept in meta catch a file torn by a crash
        has_raw = self.raw_size > 0
        if not has_raw:
            self.raw_path.unlink(missing_ok=True)
        if not any(p.n for p in self.pieces):
            self.raw_path.unlink(missing_ok=True)
            return None
        path = self.directory / f"{self.id}.cols"
        columns, counts = finalize(self.pieces, path, self.numbering)
        self.pieces = []
        cols_bytes = path.stat().st_size
        part = Part([0], read_column_file(path, columns, cols_bytes), None, 0, 0)
        summary = summarize(SpanTable([part], part.n_rows), TraceTable([part], part.n_traces))
        return {
            "id": self.id, "columns": columns, "raw": has_raw, **counts, "summary": summary,
            "cols_bytes": cols_bytes, "raw_bytes": self.raw_size,
        }  # fmt: skip


def commit(
    directory: Path, meta: dict[str, Any], writer: ChunkWriter, keep: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    """Finish the new chunk and replace meta.json atomically: the segment's new version."""
    entry = writer.finish()
    chunks = list(keep) + ([entry] if entry else [])
    meta = dict(meta)
    meta.update(
        lines=writer.lines,
        malformed=writer.malformed,
        samples=[list(s) for s in writer.samples],
        chunks=chunks,
        spans=sum(int(c["spans"]) for c in chunks),
        traces=sum(int(c["traces"]) for c in chunks),
        orphans=sum(int(c["orphans"]) for c in chunks),
        duplicates=sum(int(c["duplicates"]) for c in chunks),
        seconds=round(time.perf_counter() - started, 3),
    )
    cache.atomic_write_bytes(directory / "meta.json", orjson.dumps(meta))
    return meta
