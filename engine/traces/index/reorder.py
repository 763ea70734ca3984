"""Putting a chunk's merged columns in row order, moving only the rows that are out of it.

`finalize` sorts a chunk's rows by (trace, start time, file order). Files are
mostly written in that order already: in the bench's HALO file 97 % of rows
keep their place, and the others move within small blocks (a parent written
after its children: 1,023 blocks of at most 28 rows among 705,244 rows). A
full gather of every column by the sort order copied all of a chunk's bytes a
second time on the build's serial end; `RowOrder` instead patches the merged
columns where the order moves rows, in place, and gathers in full only when
more than PATCH_MAX_SHARE of the rows move (interleaved traces).
"""

from __future__ import annotations

import numpy as np

from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn, StringColumn, byte_index

__all__ = ["PATCH_MAX_SHARE", "RowOrder"]

# Above this share of rows that move, columns are gathered whole by the order.
PATCH_MAX_SHARE = 0.25


class RowOrder:
    """The permutation that sorts a chunk's rows, applied to its merged columns.

    The order is cut into blocks: a block ends at row i when rows 0..i are a
    permutation of themselves (the running maximum of the order is i). Rows
    of blocks of one row stay; the others (`moved`) move within their block,
    so a block keeps its row range, and in a compact string column its byte
    range. Columns given to the methods are consumed: they may be changed in
    place and the result returned.
    """

    def __init__(self, order: np.ndarray) -> None:
        self.order = order
        n = len(order)
        closed = np.maximum.accumulate(order) == np.arange(n) if n else np.zeros(0, bool)
        opens_block = np.concatenate(([True], closed[:-1])) if n else closed
        self.moved = np.flatnonzero(~(closed & opens_block))
        self.whole = len(self.moved) > PATCH_MAX_SHARE * n
        self._source = order[self.moved]

    @property
    def identity(self) -> bool:
        return len(self.moved) == 0

    def numbers(self, column: np.ndarray) -> np.ndarray:
        """`column[order]`."""
        if self.whole:
            gathered: np.ndarray = column[self.order]
            return gathered
        if self.identity:
            return column
        out = column if column.flags.writeable else column.copy()
        out[self.moved] = column[self._source]  # the right side is gathered before anything is written
        return out

    def categorical(self, column: CategoricalColumn) -> CategoricalColumn:
        """`column.select(order)`."""
        if self.whole:
            return column.select(self.order)
        return CategoricalColumn(self.numbers(column.codes), column.values)

    def strings(self, column: StringColumn) -> StringColumn:
        """`column.select(order).compact()`: the rows in order, their bytes too."""
        if len(column.blob) == 0:  # nulls and empty texts only: their lengths are all that moves
            return StringColumn(np.zeros(len(column), np.int64), self.numbers(column.lengths.copy()), column.blob)
        if self.whole:
            return column.select(self.order).compact()
        column = column.compacted()
        if self.identity:
            return column
        return StringColumn(*self._patched(column.starts, column.lengths, column.byte_lengths(), column.blob))

    def lists(self, column: ListColumn) -> ListColumn:
        """`column.select(order).compacted()`: the rows in order, their items too (as `strings` moves bytes)."""
        if len(column.items) == 0:  # every list empty: nothing moves
            n = len(column)
            return ListColumn(np.zeros(n, np.int64), np.zeros(n, np.int32), column.items, column.values)
        if self.whole:
            return column.select(self.order).compacted()
        column = column.compacted()
        if self.identity:
            return column
        starts, lengths, items = self._patched(column.starts, column.lengths, column.lengths.astype(np.int64),
                                               column.items)  # fmt: skip
        return ListColumn(starts, lengths, items, column.values)

    def _patched(
        self, starts: np.ndarray, lengths: np.ndarray, sizes: np.ndarray, data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starts, lengths and elements of a compact column (rows' `sizes` elements of `data`) in the order.

        A block's rows take its range of `data` again, in their new order (`data`
        is changed in place unless it is read-only; `sizes` is consumed).
        """
        moved, source = self.moved, self._source
        out = data if data.flags.writeable else data.copy()
        out[byte_index(starts[moved], sizes[moved])] = data[byte_index(starts[source], sizes[source])]
        new_lengths = lengths.copy()
        new_lengths[moved] = lengths[source]
        sizes[moved] = sizes[source]
        new_starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths):
            np.cumsum(sizes[:-1], out=new_starts[1:])
        return new_starts, new_lengths, out
