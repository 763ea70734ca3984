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

    lists = ListColumn.from_lists([[t] if t else [] for t in texts])
    assert [reorder.lists(lists)[i] for i in range(n)] == [[texts[i]] if texts[i] else [] for i in order.tolist()]


def test_moved_rows_are_exactly_the_rows_of_blocks_that_change() -> None:
    order = np.array([0, 2, 1, 3, 6, 4, 5, 7])
    assert RowOrder(order).moved.tolist() == [1, 2, 4, 5, 6]
    assert RowOrder(np.arange(0)).identity
