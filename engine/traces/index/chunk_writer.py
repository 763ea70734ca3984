"""Writing one chunk of a segment: raw copies streamed to disk, columns finalized, meta replaced.

A `ChunkWriter` takes the pieces of one build or append as they arrive (raw
bytes go to `<id>.raw` at once, trace ids are numbered while workers still
parse), then `commit` finalizes the columns into the chunk's two Arrow files
(`<id>.spans.arrow`, `<id>.traces.arrow`, see `arrow_chunk`), computes the
chunk's summary and replaces `meta.json` atomically: the segment's new version.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from engine.traces.columns.arrow_chunk import chunk_file_names, read_chunk_columns
from engine.traces.index import cache
from engine.traces.index.build import MALFORMED_SAMPLES, Piece
from engine.traces.index.finalize import TraceNumbering, finalize
from engine.traces.index.links import HASH_LINK_MIN_SPANS, import_pandas_meanwhile
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
        if self.spans >= HASH_LINK_MIN_SPANS:  # the merge will link by a hash table: pandas, imported meanwhile
            import_pandas_meanwhile()
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
        for name in chunk_file_names(self.id):
            (self.directory / name).unlink(missing_ok=True)

    def _write(self, data: bytes) -> None:
        self._raw.write(data)
        self.raw_size += len(data)

    def trace_ids(self) -> list[str]:
        """Trace ids of the pieces added with `add` (the new tail)."""
        return self.tail_trace_ids

    def finish(self) -> dict[str, Any] | None:
        """Write the chunk's Arrow files; the chunk's meta entry, or None when there are no spans."""
        self._raw.close()  # no fsync: the sizes kept in meta catch a file torn by a crash
        has_raw = self.raw_size > 0
        if not has_raw:
            self.raw_path.unlink(missing_ok=True)
        if not any(p.n for p in self.pieces):
            self.raw_path.unlink(missing_ok=True)
            return None
        sizes, counts = finalize(self.pieces, self.directory, self.id, self.numbering)
        self.pieces = []
        entry: dict[str, Any] = {"id": self.id, "raw": has_raw, **counts, **sizes, "raw_bytes": self.raw_size}
        part = Part([0], read_chunk_columns(self.directory, entry), None, 0, 0)
        entry["summary"] = summarize(SpanTable([part], part.n_rows), TraceTable([part], part.n_traces))
        return entry


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
