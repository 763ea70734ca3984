"""A dataset: the indexed spans of a set of trace files, as memory-mapped columns.

`Dataset.open(paths)` resolves files, directories and globs, brings each file's
index up to date (its own segment, see `index.segments`, or a pack of many small files,
see `index.pack`), and maps it. Nothing is parsed on a reopen: columns are numpy
views of the cache files, and strings are decoded only when asked for. Parts
(segment chunks, pack runs) are concatenated lazily, column by column, when a
column is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from functools import cached_property
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import DatasetError, UnknownIdError
from engine.sources.base import is_source_url
from engine.sources.local import Freshness, materialize
from engine.traces.columns.hashing import hash_strings
from engine.traces.columns.strings import StringColumn
from engine.traces.index import cache
from engine.traces.index.build import Flag
from engine.traces.index.gc_pause import gc_paused
from engine.traces.index.listings import Listings
from engine.traces.index.parts import FileInfo, FileTable, Location, Opened, open_locations
from engine.traces.index.paths import TRACE_SUFFIXES, Found, find_files, resolve_paths
from engine.traces.index.prune import maybe_prune
from engine.traces.index.raw import RawReader
from engine.traces.index.serving import open_sources
from engine.traces.index.tables import SpanTable, TraceTable
from engine.traces.index.unwritable import with_fallback

if TYPE_CHECKING:
    from engine.traces.quality import DataQuality

__all__ = [
    "TRACE_SUFFIXES",
    "QUALITY_EXAMPLES",
    "FileInfo",
    "FileTable",
    "SpanTable",
    "TraceTable",
    "Dataset",
    "resolve_paths",
]

# Examples kept per data-quality problem (counts are exact).
QUALITY_EXAMPLES = 10

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


class Dataset:
    """The indexed spans of some trace files. Open with `Dataset.open(paths)`."""

    def __init__(self, paths: Sequence[str | Path], opened: Opened, cache_root: Path):
        self._paths: list[str] = list(map(str, paths))
        self.files = opened.files
        self.cache_root = cache_root
        self._opened = opened
        parts = opened.parts
        self._parts = parts
        self.n_spans = sum(p.n_rows for p in parts)
        self.n_traces = sum(p.n_traces for p in parts)
        self.spans = SpanTable(parts, self.n_spans)
        self.traces = TraceTable(parts, self.n_traces)
        self._raw = RawReader(self.spans, parts, list(opened.files.paths), self._source_changed)
        # Set when a raw read found a file changed under its index: reopen before using it again.
        self.stale = False
        # What the dataset's columns are: equal fingerprints, equal data (analytics cache key).
        self.fingerprint = tuple((loc.directory, loc.chunk, loc.rows) for loc in opened.locations)
        # The remote sources (URLs) this dataset copies, and how fresh each copy is (see `engine.sources`).
        self.sources: list[Freshness] = []
        self.source_specs: list[str] = []

    @cached_property
    def paths(self) -> list[Path]:
        """The dataset's files, real paths (made on first use: a folder of 20,000 files needs no Path to open)."""
        return [Path(p) for p in self._paths]

    @property
    def index_dirs(self) -> list[Path]:
        """The cache directories holding this dataset's columns (segments and packs)."""
        return sorted({Path(loc.directory) for loc in self._opened.locations})

    # -- opening ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        paths: Sequence[str | Path],
        *,
        cache_dir: Path | None = None,
        shape: str | None = None,
        progress: ProgressFn | None = None,
        found: Found | None = None,
    ) -> Dataset:
        """Index (or reuse the index of) every trace file under `paths` and map it.

        A path that is a source URL (`chdb:///...`, `phoenix://...`, see
        `engine.sources`) is fetched into its folder of the cache first (only what
        is newer than the copy), and `sources` says how fresh each copy is.
        `found` is the listing of `paths` when the caller has just made it (with
        its stats): the MCP catalog lists a dataset on every call, and a folder of
        20,000 files is not listed and stat-ed twice.
        """
        root = Path(cache_dir) if cache_dir is not None else cache.cache_root()
        specs, sources = materialize([str(p) for p in paths], root)
        with gc_paused():  # the listing too: 20,000 stat results set off collections that find nothing
            found = find_files(specs, listings=Listings(root)) if found is None else found
            opened, root = with_fallback(root, lambda at: open_sources(found, at, shape, progress))
        maybe_prune(root)
        if not opened.files:
            reasons = "; ".join(opened.skipped[:5])
            raise DatasetError(f"no trace files could be read under {', '.join(map(str, paths))}: {reasons}")
        ds = cls(found.paths, opened, root)
        ds.sources = sources
        ds.source_specs = [str(p) for p in paths if is_source_url(str(p))]
        return ds

    def snapshot(self) -> dict[str, Any]:
        """What another process needs to map exactly this dataset's index (see `open_snapshot`)."""
        o = self._opened
        return {
            "cache_root": str(self.cache_root),
            "paths": list(self._paths),
            "files": [f._asdict() for f in o.files],
            "samples": [[list(s) for s in samples] for samples in o.samples],
            "locations": [asdict(loc) for loc in o.locations],
            "skipped": list(o.skipped),
        }

    @classmethod
    def open_snapshot(cls, snapshot: dict[str, Any]) -> Dataset:
        """Map the very chunks a `snapshot()` lists: no fingerprint check, no rebuild, no write.

        For a child process (run_code) that must see what its parent sees even if
        a file changed since. Raises DatasetError when a listed chunk is gone (the
        segment was rebuilt since): open the files again then.
        """
        locations = [
            Location(
                loc["directory"], loc["chunk"], tuple(loc["files"]),
                tuple(loc["rows"]) if loc["rows"] else None, tuple(loc["traces"]) if loc["traces"] else None,
            )
            for loc in snapshot["locations"]
        ]  # fmt: skip
        parts, summaries = open_locations(locations)
        opened = Opened(
            files=FileTable.of([FileInfo(**f) for f in snapshot["files"]]),
            samples=[[(int(a), str(b)) for a, b in s] for s in snapshot["samples"]],
            parts=parts,
            summaries=summaries,
            locations=locations,
            skipped=list(snapshot.get("skipped", [])),
        )
        return cls(snapshot["paths"], opened, Path(snapshot["cache_root"]))

    def _source_changed(self, file: int) -> None:
        """A raw read found file `file` no longer as indexed: drop the index entries holding it."""
        self.stale = True
        for loc in self._opened.locations:
            if file in loc.files:
                cache.drop_index(Path(loc.directory))

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
        """The parts' build-time summaries merged (see `summary`): what `overview` reads."""
        from engine.traces.index.summary import merge

        return merge(self._opened.summaries)

    # -- quality ------------------------------------------------------------

    @cached_property
    def quality(self) -> DataQuality:
        from engine.traces.quality import DataQuality  # pydantic: not on the run_code child's path

        skipped = self._opened.skipped
        q = DataQuality(
            skipped_files=skipped[:QUALITY_EXAMPLES],
            skipped_total=len(skipped),
            sources=[s.line() for s in self.sources],
        )
        q.malformed_lines = self.files.malformed_total()  # one assignment: pydantic checks each
        samples = self._opened.samples
        for i in compress(range(len(samples)), samples):  # only files with samples (in C: 20,000 files, a few)
            room = QUALITY_EXAMPLES - len(q.malformed_samples)
            if room <= 0:
                break
            q.malformed_samples.extend(f"{self.files[i].path}:{line}: {reason}" for line, reason in samples[i][:room])
        flags = np.asarray(self.spans.flags) if self.n_spans else np.zeros(0, np.uint8)
        q.orphan_spans = int(np.count_nonzero(flags & Flag.ORPHAN))
        q.duplicate_span_ids = int(np.count_nonzero(flags & Flag.DUPLICATE))
        if q.duplicate_span_ids:
            rows = np.flatnonzero(flags & Flag.DUPLICATE)[: QUALITY_EXAMPLES * 2]
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
        keys, order = self._trace_lookup  # sorted keys; rows of equal keys in row order
        files = np.asarray(self.traces.file)[order]
        # a key found in two files has two neighbours (in key order) from different files
        split = (keys[1:] == keys[:-1]) & (files[1:] != files[:-1])
        if not split.any():
            return 0, []
        groups = keys[1:][split]
        groups = groups[np.concatenate(([True], groups[1:] != groups[:-1]))]
        examples = []
        shown = groups[:QUALITY_EXAMPLES]  # one search for all: a Python int searched for casts the 232k keys
        for lo, hi in zip(
            np.searchsorted(keys, shown, "left").tolist(), np.searchsorted(keys, shown, "right").tolist(), strict=True
        ):
            rows = order[lo:hi]
            tid = self.traces.trace_id[int(rows[0])]
            names = sorted({Path(self.files[int(self.traces.file[int(r)])].path).name for r in rows.tolist()})
            examples.append(f"{tid}: {', '.join(names)}")
        return len(groups), examples

    # -- lookups ------------------------------------------------------------

    @cached_property
    def _trace_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The trace keys sorted, and the trace rows in that order (rows of one key in row order).

        Sorted unstably, then each run of equal keys put in row order: runs are
        rare (a trace in several files), and on 232k random 64-bit keys a stable
        argsort took 19 ms, this 14 ms.
        """
        keys = np.asarray(self.traces.trace_key)
        order = np.argsort(keys)
        keys = keys[order]
        tie = keys[1:] == keys[:-1]
        if tie.any():
            at = np.flatnonzero(np.concatenate(([False], tie)) | np.concatenate((tie, [False])))
            order[at] = order[at][np.lexsort((order[at], keys[at]))]
        return keys, order

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
                'use query(...) to list trace ids, or search(pattern="...") to find them by content'
            )
        return np.concatenate([np.arange(self.traces.row_start[t], self.traces.row_end[t]) for t in found])

    def span_row(self, trace_id: str, span_id: str) -> int:
        """The row of one span; raises UnknownIdError naming the unknown id."""
        rows = self.trace_rows(trace_id)
        row: int
        for row, sid in zip(rows.tolist(), self.spans.span_id.take(rows), strict=True):
            if sid == span_id:
                return row
        raise UnknownIdError(
            f"span id {span_id!r} is not in trace {trace_id!r} (it has {len(rows)} spans); "
            f'view_trace(trace_id="{trace_id}") lists its span ids'
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
