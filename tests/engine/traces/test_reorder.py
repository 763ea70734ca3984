"""Columns put in row order by patching the rows that move give what a full gather by the order gives."""

from __future__ import annotations

import numpy as np
import pytest

from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn, StringColumn
from engine.traces.index.reorder import PATCH_MAX_SHARE, RowOrder


def _nearly_sorted(n: int, blocks: int, rng: np.random.Generator) -> np.ndarray:
    """The identity with `blocks` short runs shuffled in place (a parent written after its children)."""
    order = np.arange(n)
    for start in rng.choice(n - 30, blocks, replace=False):
        run = order[start : start + rng.integers(2, 30)]
        order[start : start + len(run)] = rng.permutation(run)
    return order


def _texts(n: int, rng: np.random.Generator) -> list[str | None]:
    pool = [None, "", "a", "parent-0001", "ünïcode ✓", "x" * 300]
    return [pool[i] if i < len(pool) else f"span-{i}" for i in rng.integers(0, 12, n).tolist()]


@pytest.mark.parametrize("blocks", [0, 40, 4000])  # none, a few, more than PATCH_MAX_SHARE of the rows move
def test_patched_columns_equal_the_columns_gathered_by_the_order(blocks: int) -> None:
    rng = np.random.default_rng(blocks)
    n = 5_000
    order = _nearly_sorted(n, blocks, rng) if blocks < 4000 else rng.permutation(n)
    reorder = RowOrder(order)
    assert reorder.identity == (blocks == 0)
    assert reorder.whole == (blocks == 4000)
    assert len(reorder.moved) <= PATCH_MAX_SHARE * n or reorder.whole

    numbers = rng.integers(0, 1 << 40, n)
    assert reorder.numbers(numbers.copy()).tolist() == numbers[order].tolist()
    frozen = numbers.copy()
    frozen.flags.writeable = False  # a stored chunk's mapped column
    assert reorder.numbers(frozen).tolist() == numbers[order].tolist()
    assert frozen.tolist() == numbers.tolist()

    texts = _texts(n, rng)
    halves = [StringColumn.from_values(texts[: n // 2]), StringColumn.from_values(texts[n // 2 :])]
    merged = reorder.strings(StringColumn.concat(halves))
    assert merged.to_list() == [texts[i] for i in order.tolist()]
    assert merged.compacted() is merged  # Arrow's layout: the rows' bytes in row order

    expected = CategoricalColumn.from_values(texts).select(order).to_list()  # the methods consume their column
    assert reorder.categorical(CategoricalColumn.from_values(texts)).to_list() == expected

    lists = reorder.lists(ListColumn.from_lists([[t] if t else [] for t in texts]))
    assert [lists[i] for i in range(n)] == [[texts[i]] if texts[i] else [] for i in order.tolist()]


@pytest.mark.parametrize("blocks", [0, 40, 4000])
def test_lists_of_many_items_and_columns_with_nothing_in_them_reorder_alike(blocks: int) -> None:
    rng = np.random.default_rng(100 + blocks)
    n = 5_000
    order = _nearly_sorted(n, blocks, rng) if blocks < 4000 else rng.permutation(n)
    reorder = RowOrder(order)
    names = ["search", "fetch", "write", "ünïcode ✓"]
    rows = [[names[j] for j in rng.integers(0, 4, k).tolist()] for k in rng.integers(0, 4, n).tolist()]
    merged = ListColumn.concat([ListColumn.from_lists(rows[: n // 3]), ListColumn.from_lists(rows[n // 3 :])])
    merged.items.flags.writeable = False  # a stored chunk's mapped items are copied, not changed
    moved = reorder.lists(merged)
    assert [moved[i] for i in range(n)] == [rows[i] for i in order.tolist()]
    assert moved.compacted() is moved

    empty = reorder.lists(ListColumn.concat([ListColumn.from_lists([()] * (n // 2))] * 2))
    assert len(empty) == n and [empty[i] for i in range(0, n, 97)] == [[]] * len(range(0, n, 97))

    nothing = [None if i % 3 else "" for i in range(n)]  # nulls and empty texts: a column with no bytes
    column = reorder.strings(StringColumn.concat([StringColumn.from_values(nothing[: n // 2]),
                                                  StringColumn.from_values(nothing[n // 2 :])]))  # fmt: skip
    assert column.to_list() == [nothing[i] for i in order.tolist()]
    assert column.compacted() is column and column.offsets().tolist() == [0] * (n + 1)


def test_moved_rows_are_exactly_the_rows_of_blocks_that_change() -> None:
    order = np.array([0, 2, 1, 3, 6, 4, 5, 7])
    assert RowOrder(order).moved.tolist() == [1, 2, 4, 5, 6]
    assert RowOrder(np.arange(0)).identity
