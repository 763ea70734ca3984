"""Column types of the index: numpy arrays that are written once and memory-mapped back.

Three kinds cover every span and trace field:

- `StringColumn`: per-row (start, length) into one UTF-8 blob. Rows may point
  anywhere in the blob, so reordering or slicing rows never moves bytes, and a
  row is decoded only when someone asks for it. Length -1 means None.
- `CategoricalColumn`: int32 codes into a small `StringColumn` of distinct
  values (-1 means none). Filters compare codes, never strings.
- `ListColumn` (`lists`): per-row (start, length) into a flat int32 array
  of codes into a values `StringColumn` (tool names offered to a model,
  services of a trace).

They are stored as Apache Arrow arrays and read back as views of them
(`arrow_chunk`); stable hashes of string columns are
`hashing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from operator import is_
from typing import cast

import numpy as np

__all__ = [
    "NONE",
    "StringColumn",
    "CategoricalColumn",
    "Interner",
    "byte_index",
    "remap_codes",
]

NONE = -1  # code / length meaning "no value"
# Rows decoded per block when gathering string bytes, to bound temporary memory.
_GATHER_BLOCK = 1 << 16
# From this many rows on, `take` decodes a shared blob region at once.
_BULK_MIN = 64


class StringColumn:
    """Strings as (start, length) per row into one UTF-8 blob; length -1 is None.

    A column read from the index holds Arrow's offsets (and validity bitmap)
    instead: a row is `blob[offsets[i]:offsets[i + 1]]`, and `starts` /
    `lengths` are derived only when something needs them whole (hashing,
    reordering), so opening and looking up rows stays zero-copy.
    """

    __slots__ = ("_starts", "_lengths", "blob", "_offsets", "_bitmap", "_bit0")

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, blob: np.ndarray) -> None:
        self._starts: np.ndarray | None = starts  # int64
        self._lengths: np.ndarray | None = lengths  # int32, -1 for None
        self.blob = blob  # uint8
        self._offsets: np.ndarray | None = None
        self._bitmap: np.ndarray | None = None
        self._bit0 = 0

    @classmethod
    def from_offsets(
        cls, offsets: np.ndarray, blob: np.ndarray, bitmap: np.ndarray | None = None, bit0: int = 0
    ) -> StringColumn:
        """Arrow's layout: n + 1 offsets into `blob`, validity bits from bit `bit0` of `bitmap` (None: no nulls)."""
        col = cls.__new__(cls)
        col._starts = col._lengths = None
        col.blob, col._offsets, col._bitmap, col._bit0 = blob, offsets, bitmap, bit0
        return col

    @property
    def starts(self) -> np.ndarray:
        if self._starts is None:
            assert self._offsets is not None
            self._starts = self._offsets[:-1].astype(np.int64, copy=False)
        return self._starts

    @property
    def lengths(self) -> np.ndarray:
        if self._lengths is None:
            assert self._offsets is not None
            lengths = np.diff(self._offsets).astype(np.int32)
            if self._bitmap is not None:
                valid = np.unpackbits(self._bitmap, bitorder="little")[self._bit0 : self._bit0 + len(lengths)]
                lengths[valid == 0] = NONE
            self._lengths = lengths
        return self._lengths

    def _valid(self, rows: np.ndarray) -> np.ndarray:
        assert self._bitmap is not None
        bits = rows + self._bit0
        valid: np.ndarray = ((self._bitmap[bits >> 3] >> (bits & 7).astype(np.uint8)) & 1).astype(bool)
        return valid

    def _rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Starts (int64) and lengths (int64, -1 for None) of some rows."""
        if self._offsets is None or self._lengths is not None:
            return self.starts[idx], self.lengths[idx].astype(np.int64)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        starts = self._offsets[idx].astype(np.int64)
        lengths = self._offsets[idx + 1] - starts
        if self._bitmap is not None:
            lengths[~self._valid(idx)] = NONE
        return starts, lengths

    def offsets(self) -> np.ndarray:
        """Arrow's n + 1 offsets (int64) of a compact column (see `compacted`)."""
        if self._offsets is not None and self._offsets.dtype == np.int64 and int(self._offsets[0]) == 0:
            return self._offsets
        if len(self.blob) == 0:  # no row has a byte (nulls and empty texts: most free-text fields)
            return np.zeros(len(self) + 1, dtype=np.int64)
        out = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(self.byte_lengths(), out=out[1:])
        return out

    def compacted(self) -> StringColumn:
        """This column if its rows are its blob in order with nothing between (Arrow's layout), else `compact()`."""
        if self._offsets is not None and int(self._offsets[0]) == 0 and int(self._offsets[-1]) == len(self.blob):
            return self
        if len(self.blob) == 0 and not self.starts.any():
            return self
        offsets = self.offsets()
        if int(offsets[-1]) == len(self.blob) and np.array_equal(offsets[:-1], self.starts):
            return self
        return self.compact()

    @classmethod
    def from_values(cls, values: Sequence[str | None]) -> StringColumn:
        n = len(values)
        nones = values.count(None)
        if nones == n and n:
            return cls(np.zeros(n, dtype=np.int64), np.full(n, NONE, dtype=np.int32), np.zeros(0, dtype=np.uint8))
        # None becomes "" (its length stays NONE below).
        texts = cast("Sequence[str]", list(map(_EMPTY_FOR_NONE.get, values, values)) if nones else values)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        blob_bytes = "".join(texts).encode("utf-8", "surrogatepass")
        if len(blob_bytes) != int(lengths.sum()):  # not all ASCII: byte lengths differ
            encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
            return cls.from_bytes(encoded, _nulls(values) if nones else None)
        starts = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(lengths[:-1], out=starts[1:])
        lengths = lengths.astype(np.int32)
        if nones:
            lengths[np.fromiter(_nulls(values), dtype=bool, count=n)] = NONE
        return cls(starts, lengths, np.frombuffer(blob_bytes, dtype=np.uint8))

    @classmethod
    def from_bytes(cls, encoded: Sequence[bytes], nulls: Iterable[bool] | None = None) -> StringColumn:
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        starts = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(lengths[:-1], out=starts[1:])
        lengths = lengths.astype(np.int32)
        if nulls is not None:
            lengths[np.fromiter(nulls, dtype=bool, count=n)] = NONE
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(starts, lengths, blob)

    @classmethod
    def empty(cls) -> StringColumn:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self._offsets) - 1 if self._lengths is None and self._offsets is not None else len(self.lengths)

    def __getitem__(self, row: int) -> str | None:
        if self._lengths is None and self._offsets is not None:
            if row < 0:
                row += len(self)
            if self._bitmap is not None:
                bit = row + self._bit0
                if not (int(self._bitmap[bit >> 3]) >> (bit & 7)) & 1:
                    return None
            start, end = int(self._offsets[row]), int(self._offsets[row + 1])
            return self.blob[start:end].tobytes().decode("utf-8", "surrogatepass")
        length = int(self.lengths[row])
        if length < 0:
            return None
        start = int(self.starts[row])
        return self.blob[start : start + length].tobytes().decode("utf-8", "surrogatepass")

    def take(self, rows: Iterable[int] | np.ndarray) -> list[str | None]:
        """The strings of many rows; decodes the blob region they share in one go when it is dense."""
        idx = rows if isinstance(rows, np.ndarray) else np.fromiter(rows, dtype=np.int64)
        if len(idx) < _BULK_MIN:
            return [self[int(r)] for r in idx]
        starts, lengths = self._rows(idx)
        sizes = np.maximum(lengths, 0)
        lo = int(starts.min())
        hi = int((starts + sizes).max())
        rel, lens = (starts - lo).tolist(), lengths.tolist()
        if hi - lo <= 8 * int(sizes.sum()) + (1 << 16):
            region = self.blob[lo:hi].tobytes()
            if region.isascii():
                text = region.decode("ascii")
                return [None if n < 0 else text[a : a + n] for a, n in zip(rel, lens, strict=True)]
            return [
                None if n < 0 else region[a : a + n].decode("utf-8", "surrogatepass")
                for a, n in zip(rel, lens, strict=True)
            ]
        view = self.blob.data  # memoryview(self.blob); numpy's stubs give ndarray no buffer before 3.12
        return [
            None if n < 0 else bytes(view[lo + a : lo + a + n]).decode("utf-8", "surrogatepass")
            for a, n in zip(rel, lens, strict=True)
        ]

    def __iter__(self) -> Iterator[str | None]:
        return iter(self.take(range(len(self))))

    def to_list(self) -> list[str | None]:
        return self.take(range(len(self)))

    def select(self, rows: np.ndarray) -> StringColumn:
        """Rows in a new order; shares the blob (no bytes move)."""
        starts, lengths = self._rows(np.asarray(rows))
        return StringColumn(starts, lengths.astype(np.int32), self.blob)

    def byte_lengths(self) -> np.ndarray:
        """Lengths with None as 0, as int64."""
        out: np.ndarray = np.maximum(self.lengths, 0).astype(np.int64)
        return out

    def compact(self) -> StringColumn:
        """A copy whose blob holds exactly its rows' bytes, in row order (for writing)."""
        lengths = self.byte_lengths()
        starts = np.zeros(len(self), dtype=np.int64)
        if len(self):
            np.cumsum(lengths[:-1], out=starts[1:])
        blob = np.empty(int(lengths.sum()), dtype=np.uint8)
        if self._gather_fixed_width(lengths, blob):
            return StringColumn(starts, self.lengths.copy(), blob)
        for lo in range(0, len(self), _GATHER_BLOCK):
            hi = min(lo + _GATHER_BLOCK, len(self))
            idx = byte_index(self.starts[lo:hi], lengths[lo:hi])
            blob[starts[lo] : starts[lo] + len(idx)] = self.blob[idx]
        return StringColumn(starts, self.lengths.copy(), blob)

    def _gather_fixed_width(self, lengths: np.ndarray, out: np.ndarray) -> bool:
        """`compact` for rows of one byte width (ids) lying on a grid of that width: rows of a matrix.

        False (nothing done) when the rows are not like that.
        """
        present = self.lengths >= 0
        if not present.any():
            return False
        width = int(lengths[present][0]) if len(lengths) else 0
        starts = self.starts[present]
        if width == 0 or len(self.blob) % width or (lengths[present] != width).any() or (starts % width).any():
            return False
        # rows as one opaque item each: numpy then moves `width` bytes per row, not one byte per element
        item = np.dtype((np.void, width))
        np.take(np.ascontiguousarray(self.blob).view(item), starts // width, out=out.view(item))
        return True

    @staticmethod
    def concat(columns: Sequence[StringColumn]) -> StringColumn:
        if not columns:
            return StringColumn.empty()
        if len(columns) == 1:
            return columns[0]
        shifts = np.cumsum([0] + [len(c.blob) for c in columns[:-1]])
        return StringColumn(
            np.concatenate([c.starts + s for c, s in zip(columns, shifts, strict=True)]),
            np.concatenate([c.lengths for c in columns]),
            np.concatenate([c.blob for c in columns]),
        )


_EMPTY_FOR_NONE: dict[str | None, str] = {None: ""}


def _nulls(values: Sequence[str | None]) -> Iterator[bool]:
    return map(is_, values, repeat(None))


def byte_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Blob positions of the bytes of the given rows, concatenated in row order."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    row_base = np.repeat(starts - (ends - lengths), lengths)
    return row_base + np.arange(total, dtype=np.int64)


class CategoricalColumn:
    """int32 codes into a `StringColumn` of distinct values; -1 is none.

    The values list and the value -> code map are built on first use, so opening
    a table does not decode anything.
    """

    __slots__ = ("codes", "values", "_list", "_index")

    def __init__(self, codes: np.ndarray, values: StringColumn) -> None:
        self.codes = codes
        self.values = values
        self._list: list[str] | None = None
        self._index: dict[str, int] | None = None

    @classmethod
    def from_values(cls, values: Sequence[str | None]) -> CategoricalColumn:
        """Codes in order of first appearance; None and "" are none (-1)."""
        distinct = dict.fromkeys(values)
        distinct.pop(None, None)
        distinct.pop("", None)
        index: dict[str | None, int] = {v: i for i, v in enumerate(distinct)}
        index[None] = index[""] = NONE
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
        return cls(codes, StringColumn.from_values(list(distinct)))

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def categories(self) -> list[str]:
        if self._list is None:
            self._list = [v or "" for v in self.values.to_list()]
        return self._list

    def code_of(self, value: str) -> int:
        """The code of `value`, or -1 when no row has it."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.categories)}
        return self._index.get(value, NONE)

    def __getitem__(self, row: int) -> str | None:
        code = int(self.codes[row])
        return None if code < 0 else self.categories[code]

    def take(self, rows: Iterable[int] | np.ndarray) -> list[str | None]:
        cats = self.categories
        return [None if c < 0 else cats[c] for c in np.asarray(self.codes[np.asarray(rows, dtype=np.int64)]).tolist()]

    def to_list(self) -> list[str | None]:
        return self.take(np.arange(len(self)))

    def select(self, rows: np.ndarray) -> CategoricalColumn:
        return CategoricalColumn(self.codes[rows], self.values)

    def mask(self, value: str) -> np.ndarray:
        """Rows whose value equals `value` exactly."""
        code = self.code_of(value)
        if code < 0:
            return np.zeros(len(self), dtype=bool)
        same: np.ndarray = self.codes == code
        return same

    @staticmethod
    def concat(columns: Sequence[CategoricalColumn]) -> CategoricalColumn:
        """One column over all rows, the union of the values: codes remapped in one gather (-1: the last slot)."""
        if len(columns) == 1:
            return columns[0]
        interner = Interner()
        remaps = [np.fromiter(map(interner.code, col.categories), np.int32, len(col.values)) for col in columns]
        table = np.concatenate([*remaps, np.array([NONE], np.int32)])
        first = np.cumsum([0, *map(len, remaps)])[:-1].astype(np.int32)
        codes = np.concatenate([col.codes for col in columns]) if columns else np.zeros(0, np.int32)
        at = codes + np.repeat(first, [len(col.codes) for col in columns])
        at[codes < 0] = len(table) - 1
        return CategoricalColumn(table[at], interner.column())


def remap_codes(codes: np.ndarray, remap: np.ndarray) -> np.ndarray:
    """Codes translated through `remap`, -1 staying -1."""
    if len(remap) == 0:
        return np.full(len(codes), NONE, dtype=np.int32)
    out = remap[np.maximum(codes, 0)]
    out[codes < 0] = NONE
    as_int32: np.ndarray = out.astype(np.int32, copy=False)
    return as_int32


class Interner:
    """Assigns codes 0, 1, 2... to distinct strings in order of first sight; None is -1."""

    __slots__ = ("_codes",)

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return NONE
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._codes)
        return code

    @property
    def values(self) -> list[str]:
        return list(self._codes)

    def column(self) -> StringColumn:
        return StringColumn.from_values(list(self._codes))
