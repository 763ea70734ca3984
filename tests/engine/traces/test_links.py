"""Parent rows from 64-bit keys: the earliest row with the parent's key, duplicates flagged, as a plain loop says."""

from __future__ import annotations

import numpy as np
import pytest

from engine.traces.index import links
from engine.traces.index.build import Flag
from engine.traces.index.links import parent_rows


def _by_loop(key: np.ndarray, parent_key: np.ndarray) -> tuple[list[int], list[bool]]:
    """The rule spelled out: first row of each key; a key held by two rows is a duplicate."""
    first: dict[int, int] = {}
    count: dict[int, int] = {}
    for row, k in enumerate(key.tolist()):
        first.setdefault(k, row)
        count[k] = count.get(k, 0) + 1
    rows = []
    for row, p in enumerate(parent_key.tolist()):
        parent = first.get(p, -1) if p != 0 else -1
        rows.append(-1 if parent == row else parent)
    return rows, [count[k] > 1 for k in key.tolist()]


@pytest.mark.parametrize("hashed", [True, False])  # a big chunk's hash table, a small one's sort
@pytest.mark.parametrize("duplicates", [0, 3, 500])
def test_parent_rows_equal_the_rule_with_and_without_duplicate_keys(
    duplicates: int, hashed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(links, "HASH_LINK_MIN_SPANS", 0 if hashed else 1 << 40)
    rng = np.random.default_rng(duplicates)
    n = 20_000
    key = rng.integers(1, 2**63, n, dtype=np.int64).astype(np.uint64)
    for _ in range(duplicates):  # a span id exported twice in a trace
        a, b = rng.integers(0, n, 2)
        key[b] = key[a]
    parent_key = key[rng.integers(0, n, n)].copy()
    parent_key[rng.random(n) < 0.2] = 0  # roots
    parent_key[rng.random(n) < 0.05] = rng.integers(1, 2**63, dtype=np.int64)  # parents never exported
    parent_key[7] = key[7]  # a span that names itself

    flags = np.zeros(n, np.uint8)
    got = parent_rows(key, parent_key, parent_key != 0, flags)

    rows, dup = _by_loop(key, parent_key)
    assert got.dtype == np.int32
    assert got.tolist() == rows
    assert ((flags & Flag.DUPLICATE) > 0).tolist() == dup
    assert got[7] == -1
    assert (len(set(key.tolist())) < n) == bool(duplicates)
