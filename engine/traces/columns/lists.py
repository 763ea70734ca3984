"""`ListColumn`: a list of strings per row, as codes into one values column (see `columns`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.traces.columns.strings import Interner, StringColumn, remap_codes

__all__ = ["ListColumn"]


class ListColumn:
    """Per-row lists of codes into a values `StringColumn` (start, length into `items`).

    One read from the index holds Arrow's n + 1 offsets instead; `lengths` is
    derived from them on first use (opening a table computes nothing).
    """

    __slots__ = ("starts", "_lengths", "_offsets", "items", "values", "_list")

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, items: np.ndarray, values: StringColumn) -> None:
        self.starts = starts
        self._lengths: np.ndarray | None = lengths
        self._offsets: np.ndarray | None = None
        self.items = items
        self.values = values
        self._list: list[str] | None = None

    @classmethod
    def from_offsets(cls, offsets: np.ndarray, items: np.ndarray, values: StringColumn) -> ListColumn:
        col = cls(offsets[:-1], np.zeros(0, np.int32), items, values)
        col._lengths, col._offsets = None, offsets
        return col

    @property
    def lengths(self) -> np.ndarray:
        if self._lengths is None:
            assert self._offsets is not None
            self._lengths = np.diff(self._offsets).astype(np.int32)
        lengths: np.ndarray = self._lengths
        return lengths

    def _lengths_at(self, idx: np.ndarray) -> np.ndarray:
        if self._lengths is None and self._offsets is not None:
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            out: np.ndarray = self._offsets[idx + 1] - self._offsets[idx]
            return out
        picked: np.ndarray = self.lengths[idx]
        return picked

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[str]]) -> ListColumn:
        if not any(lists):
            n = len(lists)
            return cls(np.zeros(n, np.int64), np.zeros(n, np.int32), np.zeros(0, np.int32), StringColumn.empty())
        interner = Interner()
        flat = [interner.code(v) for row in lists for v in row]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        starts = np.zeros(len(lists), dtype=np.int64)
        if len(lists):
            np.cumsum(lengths[:-1], out=starts[1:])
        return cls(starts, lengths.astype(np.int32), np.asarray(flat, dtype=np.int32), interner.column())

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def categories(self) -> list[str]:
        if self._list is None:
            self._list = [v or "" for v in self.values.to_list()]
        return self._list

    def codes_at(self, row: int) -> np.ndarray:
        start = int(self.starts[row])
        if self._lengths is None and self._offsets is not None:
            return self.items[start : int(self._offsets[row + 1] if row >= 0 else self._offsets[row])]
        return self.items[start : start + int(self.lengths[row])]

    def __getitem__(self, row: int) -> list[str]:
        cats = self.categories
        return [cats[c] for c in self.codes_at(row).tolist()]

    def take(self, rows: Iterable[int] | np.ndarray) -> list[list[str]]:
        idx = rows if isinstance(rows, np.ndarray) else np.fromiter(rows, dtype=np.int64)
        lengths = self._lengths_at(idx)
        if not lengths.any():
            return [[] for _ in range(len(idx))]
        cats = self.categories
        names = [cats[c] for c in self.items.tolist()]
        return [names[a : a + n] for a, n in zip(self.starts[idx].tolist(), lengths.tolist(), strict=True)]

    def select(self, rows: np.ndarray) -> ListColumn:
        rows = np.asarray(rows)
        return ListColumn(self.starts[rows], self._lengths_at(rows).astype(np.int32), self.items, self.values)

    def contains(self, value: str) -> np.ndarray:
        """Rows whose list holds `value`."""
        try:
            code = self.categories.index(value)
        except ValueError:
            return np.zeros(len(self), dtype=bool)
        return self.rows_with_codes(np.asarray([code]))

    def rows_with_codes(self, codes: np.ndarray) -> np.ndarray:
        """Rows whose list holds any of `codes`."""
        hit = np.isin(self.items, codes)
        if not hit.any():
            return np.zeros(len(self), dtype=bool)
        cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
        any_hit: np.ndarray = (cum[self.starts + self.lengths] - cum[self.starts]) > 0
        return any_hit

    def compacted(self) -> ListColumn:
        """This column if its items are in row order with nothing between (Arrow's layout), else a compact copy."""
        if len(self.items) == 0 and not self.starts.any() and not self.lengths.any():
            return self  # every list empty, as most are
        lengths = self.lengths.astype(np.int64)
        starts = np.zeros(len(self), dtype=np.int64)
        if len(self):
            np.cumsum(lengths[:-1], out=starts[1:])
        total = int(lengths.sum())
        if total == len(self.items) and np.array_equal(starts, self.starts):
            return self
        if total:
            ends = np.cumsum(lengths)
            items = self.items[np.repeat(self.starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)]
        else:
            items = np.zeros(0, dtype=np.int32)
        return ListColumn(starts, self.lengths.astype(np.int32), items.astype(np.int32), self.values)

    @staticmethod
    def concat(columns: Sequence[ListColumn]) -> ListColumn:
        if len(columns) == 1:
            return columns[0]
        interner = Interner()
        starts, lengths, items = [], [], []
        shift = 0
        for col in columns:
            remap = np.fromiter((interner.code(v) for v in col.categories), dtype=np.int32, count=len(col.values))
            starts.append(col.starts + shift)
            lengths.append(col.lengths)
            items.append(remap_codes(col.items, remap))
            shift += len(col.items)
        return ListColumn(
            np.concatenate(starts) if starts else np.zeros(0, np.int64),
            np.concatenate(lengths) if lengths else np.zeros(0, np.int32),
            np.concatenate(items) if items else np.zeros(0, np.int32),
            interner.column(),
        )
