"""A chunk of the index on disk: two Apache Arrow IPC files, written and memory-mapped by pyarrow.

Arrow is the exchange format of the tools people point at trace data (pandas,
polars, DuckDB, chDB read it without copying), so the index is stored as Arrow
rather than as a layout of our own: `pyarrow.ipc.open_file(path).read_all()`
gives a chunk's spans with their proper types, and reopening it here is a
`pa.memory_map` plus numpy views over its buffers.

A chunk has rows of two lengths, so it is two files, each one record batch:

- `<id>.spans.arrow`: one row per span, sorted as `finalize` says. `trace_id`
  is a dictionary of the chunk's trace ids whose codes are the trace numbers
  (the `trace` column of the span table; a reader sees ids). Numbers are
  plain int / float columns (-1 and NaN keep their meaning of "unknown");
  `span_id`, `parent_id` and the free-text fields are `string` with nulls
  (`large_string` in a chunk whose column holds 2 GiB of text or more: 32-bit
  offsets where they suffice: the bench HALO file's spans file is 10 % smaller,
  and a column's row starts are a view of its offsets either way); the
  categorical fields are `dictionary<int32, string>` (the codes, -1 kept in
  null slots, and the distinct values); the tool lists are
  `list<dictionary<int32, string>>` (`large_list` past 2**31 items).
- `<id>.traces.arrow`: one row per trace, the `t.` columns without the prefix
  (trace_id, row_start, ..., services / models / agents / tools).

Nothing is left that is not row-aligned: what rows point into (string bytes,
distinct values, list items) are the Arrow arrays' own child buffers.

Files of MAP_FROM_BYTES or more are mapped, smaller ones read: pyarrow's map
closes its descriptor once the batch is read (the mapping lives as long as its
buffers), so a folder's thousands of pack chunks hold no descriptor each. A
reopen of 10 pack chunks of ~400 KB took 3.5-4.2 ms read, 2.3-2.9 ms mapped.
Sizes are recorded in the segment's meta and checked on open, with Arrow's
magic at both ends of the file: a torn file raises `TornFileError`, and the
segment is rebuilt. The batch itself is parsed on first use (its row count is
in meta): a reopen of a folder's 28 chunk files spent ~8 ms parsing footers
and batches no query had asked for yet. A file whose size and magic are right
but whose inside is not Arrow raises `TornFileError` at that first use.

Our column classes (`StringColumn`, `CategoricalColumn`, `ListColumn`) stay
the query layer's types, fed with views of the Arrow buffers; replacing them by
Arrow arrays (and pyarrow.compute) is a later step. The cost measured here:
a record batch is written whole, so a build holds its chunk's columns once
until the end (bench/README.md, "Chunks as Apache Arrow IPC").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from engine.traces.columns.file import TornFileError, read_buffer
from engine.traces.columns.lists import ListColumn
from engine.traces.columns.reserved_file import ReservedFile
from engine.traces.columns.strings import CategoricalColumn, StringColumn

__all__ = [
    "SPANS_SUFFIX",
    "TRACES_SUFFIX",
    "ChunkColumns",
    "Column",
    "to_arrow",
    "write_chunk",
    "write_file",
    "read_chunk_columns",
    "chunk_file_names",
]

# Chunk files this big or bigger are memory-mapped; smaller ones are read (mapping costs more than a copy).
MAP_FROM_BYTES = 64 << 10
# A string column with this many bytes or more, or a list column with this many items, gets 64-bit offsets.
WIDE_OFFSETS_FROM = 1 << 31

SPANS_SUFFIX = ".spans.arrow"
TRACES_SUFFIX = ".traces.arrow"
TRACE_PREFIX = "t."
# What an Arrow IPC file starts and ends with (the start is padded to 8 bytes).
_MAGIC = b"ARROW1"
# Span columns written first.
_FIRST = ("trace_id", "span_id", "parent_id", "name", "kind", "status", "start_ns", "end_ns")

Column = np.ndarray | StringColumn | CategoricalColumn | ListColumn


def chunk_file_names(chunk_id: str) -> tuple[str, str]:
    return chunk_id + SPANS_SUFFIX, chunk_id + TRACES_SUFFIX


# -- columns -> Arrow (no copies of numbers, codes or compact strings) --


def _buffer(array: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.ascontiguousarray(array))


def _validity(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = len(valid) - int(np.count_nonzero(valid))
    return (None, 0) if nulls == 0 else (_buffer(np.packbits(valid, bitorder="little")), nulls)


def _numbers(array: np.ndarray) -> pa.Array:
    array = np.ascontiguousarray(array)
    return pa.Array.from_buffers(pa.from_numpy_dtype(array.dtype), len(array), [None, _buffer(array)])


def _strings(col: StringColumn) -> pa.Array:
    col = col.compacted()
    offsets = col.offsets()
    kind = pa.large_string() if int(offsets[-1]) >= WIDE_OFFSETS_FROM else pa.string()
    offsets = offsets.astype(np.int64 if kind == pa.large_string() else np.int32, copy=False)
    validity, nulls = _validity(col.lengths >= 0)
    return pa.Array.from_buffers(kind, len(col), [validity, _buffer(offsets), _buffer(col.blob)], nulls)


def _dictionary(codes: np.ndarray, values: StringColumn) -> pa.Array:
    codes = np.ascontiguousarray(codes, dtype=np.int32)
    validity, nulls = _validity(codes >= 0)
    # null slots keep their -1: the reader takes the codes as they are
    indices = pa.Array.from_buffers(pa.int32(), len(codes), [validity, _buffer(codes)], nulls)
    return pa.DictionaryArray.from_arrays(indices, _strings(values))


def to_arrow(column: Column) -> pa.Array:
    """The Arrow array of one column (string and list columns are compacted first when they are not)."""
    if isinstance(column, StringColumn):
        return _strings(column)
    if isinstance(column, CategoricalColumn):
        return _dictionary(column.codes, column.values)
    if isinstance(column, ListColumn):
        col = column.compacted()
        wide = len(col.items) >= WIDE_OFFSETS_FROM
        offsets = np.append(col.starts, len(col.items)).astype(np.int64 if wide else np.int32)
        items = pa.DictionaryArray.from_arrays(_numbers(col.items.astype(np.int32)), _strings(col.values))
        return (pa.LargeListArray if wide else pa.ListArray).from_arrays(_numbers(offsets), items)
    return _numbers(column)


def write_file(path: Path, columns: Mapping[str, pa.Array], reserved: ReservedFile | None = None) -> int:
    """Write columns as one record batch in an IPC file (trace columns without their `t.`); its size.

    With `reserved` (the same path), the batch is written over the zeros
    reserved so far and the file cut where it ends. No fsync: the index is a
    cache, and the recorded sizes catch a torn file.
    """
    first = [k for k in _FIRST if k in columns]  # what a person reading the table looks at first
    names = list(dict.fromkeys([*first, *columns]))
    batch = pa.RecordBatch.from_arrays([columns[k] for k in names], names=[k.removeprefix(TRACE_PREFIX) for k in names])
    try:
        if reserved is not None and reserved.stop():
            with pa.PythonFile(open(path, "r+b", buffering=0), mode="w") as sink:  # the sink closes it
                with pa.ipc.new_file(sink, batch.schema) as writer:
                    writer.write_batch(batch)
                size: int = sink.tell()
            os.truncate(path, size)
            return size
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_batch(batch)
    except OSError as exc:  # pyarrow's carries the errno, not its message: say it as Python does
        if exc.errno:
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from None
        raise
    return os.stat(path).st_size


def write_chunk(directory: Path, chunk_id: str, columns: Mapping[str, pa.Array]) -> dict[str, int]:
    """Write a chunk's columns (span names, and `t.` names for traces) as its two files; their sizes."""
    spans_name, traces_name = chunk_file_names(chunk_id)
    spans = {k: v for k, v in columns.items() if not k.startswith(TRACE_PREFIX)}
    traces = {k: v for k, v in columns.items() if k.startswith(TRACE_PREFIX)}
    sizes = {"spans_bytes": write_file(directory / spans_name, spans)}
    sizes["traces_bytes"] = write_file(directory / traces_name, traces)
    return sizes


# -- Arrow -> numpy views (no copies) --


class _Unparsed(NamedTuple):
    """An IPC file's bytes (read, or a view of its mapping), checked for size and magic, not yet parsed.

    `total` is the number of rows meta recorded; `rows` the range of them wanted
    (a slice taken before the parse). `num_rows` and `slice` are a record batch's.
    """

    path: Path
    data: pa.Buffer
    total: int
    rows: tuple[int, int]

    @property
    def num_rows(self) -> int:
        return self.rows[1] - self.rows[0]

    def slice(self, offset: int, length: int) -> _Unparsed:
        lo = self.rows[0] + offset
        return self._replace(rows=(lo, lo + length))


def _load(path: Path, size: int | None, rows: int | None) -> _Unparsed | pa.RecordBatch:
    """An IPC file's bytes: read when small, mapped when big; TornFileError when cut short or not Arrow.

    Parsed now when the number of its rows is not known (meta written before the count was kept).
    """
    if size is not None and size < MAP_FROM_BYTES:
        data = pa.py_buffer(read_buffer(path, size))
    else:
        mapped = pa.memory_map(str(path))
        try:
            if size is not None and mapped.size() != size:
                raise TornFileError(f"{path}: {os.stat(path).st_size} bytes, {size} expected")
            data = mapped.read_buffer()
        finally:
            mapped.close()  # the descriptor; the mapping lives as long as the buffer
    view = memoryview(data)
    if len(view) < 2 * len(_MAGIC) or view[: len(_MAGIC)] != _MAGIC or view[-len(_MAGIC) :] != _MAGIC:
        raise TornFileError(f"{path}: not a whole Arrow file (no magic at both ends)")
    return _batch(path, data) if rows is None else _Unparsed(path, data, rows, (0, rows))


def _batch(path: Path, data: pa.Buffer) -> pa.RecordBatch:
    """The one record batch of an IPC file's bytes; TornFileError when they are not one."""
    try:
        reader = pa.ipc.open_file(pa.BufferReader(data))
        if reader.num_record_batches != 1:
            raise TornFileError(f"{path}: {reader.num_record_batches} record batches, 1 expected")
        return reader.get_batch(0)
    except pa.ArrowInvalid as exc:
        raise TornFileError(f"{path}: not a whole Arrow file ({exc})") from exc


def _parse(file: _Unparsed) -> pa.RecordBatch:
    """A loaded file's batch, sliced as asked; TornFileError when it has not the rows meta recorded."""
    batch = _batch(file.path, file.data)
    if batch.num_rows != file.total:
        raise TornFileError(f"{file.path}: {batch.num_rows} rows, {file.total} expected")
    lo, hi = file.rows
    return batch if (lo, hi) == (0, file.total) else batch.slice(lo, hi - lo)


def read_chunk_columns(directory: Path, chunk: Mapping[str, Any]) -> ChunkColumns:
    """A chunk's columns as meta lists it. FileNotFoundError if a file is gone, TornFileError if cut short."""
    spans_name, traces_name = chunk_file_names(str(chunk["id"]))
    spans, traces = chunk.get("spans"), chunk.get("traces")
    return ChunkColumns(
        _load(directory / spans_name, chunk.get("spans_bytes"), None if spans is None else int(spans)),
        _load(directory / traces_name, chunk.get("traces_bytes"), None if traces is None else int(traces)),
    )


def _values(array: pa.Array) -> np.ndarray:
    """The numbers of a primitive array without nulls, as a read-only view."""
    data = array.buffers()[1]
    dtype = np.dtype(array.type.to_pandas_dtype())
    if data is None:
        return np.zeros(0, dtype)
    view: np.ndarray = np.frombuffer(data, dtype)[array.offset : array.offset + len(array)]
    return view


def _string_column(array: pa.Array) -> StringColumn:
    if len(array) == 0:
        return StringColumn.empty()
    validity, offsets_buffer, data = array.buffers()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(offsets_buffer, np.int64 if wide else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    blob = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    bitmap = np.frombuffer(validity, np.uint8) if validity is not None and array.null_count else None
    return StringColumn.from_offsets(offsets, blob, bitmap, array.offset)


def _categorical(array: pa.Array) -> CategoricalColumn:
    return CategoricalColumn(_values(array.indices), _string_column(array.dictionary))


def _list_column(array: pa.Array) -> ListColumn:
    if len(array) == 0:
        return ListColumn(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), StringColumn.empty())
    child = array.values
    return ListColumn.from_offsets(_values(array.offsets), _values(child.indices), _string_column(child.dictionary))


class ChunkColumns(Mapping[str, np.ndarray]):
    """The columns of a chunk's two record batches, made into numpy-backed columns on demand.

    As a mapping it gives the number columns (span names, `t.` names for
    traces) as read-only views; `string`, `categorical` and `list` give the
    other kinds. Views are made on first use: a query touches a few of ~60
    columns, and opening thousands of chunks builds none.
    """

    __slots__ = ("_spans", "_traces", "_numbers")

    def __init__(self, spans: pa.RecordBatch | _Unparsed, traces: pa.RecordBatch | _Unparsed) -> None:
        self._spans = spans
        self._traces = traces
        self._numbers: dict[str, np.ndarray] = {}

    @property
    def n_rows(self) -> int:
        """The number of spans (known before the parse)."""
        return int(self._spans.num_rows)

    @property
    def n_traces(self) -> int:
        """The number of traces (known before the parse)."""
        return int(self._traces.num_rows)

    @property
    def spans(self) -> pa.RecordBatch:
        """The spans' record batch (parsed on first use: a reopen maps every chunk, a query reads a few)."""
        batch = self._spans
        if isinstance(batch, _Unparsed):
            batch = self._spans = _parse(batch)
        return batch

    @property
    def traces(self) -> pa.RecordBatch:
        """The traces' record batch (parsed on first use)."""
        batch = self._traces
        if isinstance(batch, _Unparsed):
            batch = self._traces = _parse(batch)
        return batch

    def _array(self, name: str) -> pa.Array:
        if name.startswith(TRACE_PREFIX):
            return self.traces.column(name[len(TRACE_PREFIX) :])
        return self.spans.column(name)

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._numbers.get(name)
        if array is None:
            if name == "trace":  # the codes of the spans' trace ids
                array = self._numbers[name] = _values(self.spans.column("trace_id").indices)
                return array
            try:
                arrow = self._array(name)
            except KeyError:
                raise KeyError(name) from None
            if not _is_number(arrow.type):
                raise KeyError(f"{name} is not a number column")
            array = self._numbers[name] = _values(arrow)
        return array

    def __iter__(self) -> Iterator[str]:
        yield "trace"
        for prefix, batch in (("", self.spans), (TRACE_PREFIX, self.traces)):
            yield from (prefix + f.name for f in batch.schema if _is_number(f.type))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def string(self, name: str) -> StringColumn:
        return _string_column(self._array(name))

    def categorical(self, name: str) -> CategoricalColumn:
        return _categorical(self._array(name))

    def list(self, name: str) -> ListColumn:
        return _list_column(self._array(name))

    def slice(self, rows: tuple[int, int], traces: tuple[int, int]) -> ChunkColumns:
        """The rows and traces of a range (zero-copy: Arrow slices; what rows point into stays whole)."""
        return ChunkColumns(
            self._spans.slice(rows[0], rows[1] - rows[0]), self._traces.slice(traces[0], traces[1] - traces[0])
        )


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))
