"""Building a pack: many small files parsed into one chunk, with a member entry per file.

Runs in worker processes (`refresh` hands each a batch of file names). The
pack is written in a `.tmp-*` directory and renamed into place, so readers see
a whole pack or none (see `pack` for the layout and when members are fresh).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.errors import HaloError, UnknownShapeError
from engine.traces.columns.arrow_chunk import read_chunk_columns
from engine.traces.index import cache
from engine.traces.index.build import MALFORMED_SAMPLES, PieceBuilder
from engine.traces.index.chunk_writer import ChunkWriter
from engine.traces.index.members import Members
from engine.traces.index.pack import RACY_NS, sha256_of, stat_key
from engine.traces.index.parse import PIECE_SPANS
from engine.traces.index.unreadable import unreadable
from engine.traces.model import Span
from engine.traces.readers._source import GZIP_MAGIC

__all__ = ["build_pack"]


def build_pack(home: str, source_dir: str, names: list[str], shape: str | None) -> str:
    """Index files `names` of `source_dir` into a new pack under `home` (runs in workers); its id.

    A file that cannot be read is recorded as a member with an error, so the
    caller can report it as it would for a file of its own segment. Members
    are written as a table (`members`), not listed in meta.json.
    """
    started = time.perf_counter()
    created = time.time_ns()
    pack_id = f"{created:x}-{uuid.uuid4().hex[:8]}"
    tmp = Path(home) / f".tmp-{pack_id}"
    writer = ChunkWriter(tmp)
    try:
        reader = _MemberReader(writer)
        base = Path(source_dir)
        entries = [reader.read(base / name, no, shape) for no, name in enumerate(names)]
        reader.flush()
        chunk = writer.finish()
        if chunk is not None:
            _place_members(tmp, chunk, entries)
        meta = {
            "format": cache.INDEX_FORMAT,
            "code": cache.code_version(),
            "source_dir": source_dir,
            "created": created,
            "forced_shape": shape,  # the shape is part of the cache key (see `pack.plan`)
            **Members.from_entries(entries).write(tmp),
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
        from engine.traces.index.parse import parse_range
        from engine.traces.readers import FileReader, detect_shape
        from engine.traces.readers._detect import detect_document

        try:
            st = os.stat(path)
        except OSError as exc:
            return {"name": path.name, "size": 0, "mtime_ns": 0, "ctime_ns": 0, "ino": 0, "shape": shape,
                    "error": f"cannot read {path}: {exc.strerror or exc}", "error_kind": "io"}  # fmt: skip
        entry: dict[str, Any] = {"name": path.name, **stat_key(st), "shape": shape or "empty"}
        racy = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS
        digest = sha256_of(path) if racy else None
        samples: list[tuple[int, str]] = []
        lines = spans = malformed = 0
        try:
            if st.st_size > 0:
                content, document = _plain_content(path), None
                if shape is None and content is not None:
                    member_shape, document = detect_document(path, content)
                else:
                    member_shape = shape or detect_shape(path)
                entry["shape"] = member_shape
                reader = FileReader(path, shape=member_shape, content=content, document=document)
                if reader.fast_lines is not None:
                    piece = parse_range(str(path), member_shape, 0, None, True, content)
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
        except Exception as exc:  # a reader broke on this file: it is skipped, named, the others are served
            return dict(entry, error=str(unreadable(path, exc)), error_kind="unreadable")
        entry.update(lines=lines, spans=spans, malformed=malformed, samples=[list(s) for s in samples])
        if racy:
            if digest is None or sha256_of(path) != digest:
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


def _plain_content(path: Path) -> bytes | None:
    """The whole file, read once for detection and parsing alike; None for gzip, or when it cannot
    be read (the readers then open it themselves, and say why as they always do)."""
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError:
        return None
    return None if content[:2] == GZIP_MAGIC else content


def _place_members(directory: Path, chunk: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Each member's row and trace range in the finished chunk (files are contiguous, in order)."""
    arrays = read_chunk_columns(directory, chunk)
    if (np.diff(arrays["t.file"]) < 0).any():
        raise RuntimeError("a pack's files reached its writer out of order")  # a bug, not bad input
    numbers = np.arange(len(entries))
    rows = [np.searchsorted(arrays["file"], numbers, side) for side in ("left", "right")]
    traces = [np.searchsorted(arrays["t.file"], numbers, side) for side in ("left", "right")]
    for no, entry in enumerate(entries):
        entry["rows"] = [int(rows[0][no]), int(rows[1][no])]
        entry["traces"] = [int(traces[0][no]), int(traces[1][no])]
        entry.setdefault("spans", 0)
