"""Parent links and depths of a chunk's spans, from their 64-bit keys (the last steps of `segment.finalize`).

A span's key mixes its trace and span id; its parent key, its trace and parent
id. The parent row of a span is the earliest row whose key is its parent key:
a hash table of the keys finds it in a big chunk, a sort in a small one (`parent_rows`).
"""

from __future__ import annotations

import importlib
import sys
import threading

import numpy as np

from engine.traces.index.build import Flag

__all__ = ["FILE_MIX", "HASH_LINK_MIN_SPANS", "MAX_TREE_DEPTH", "depths", "first_rows", "import_pandas_meanwhile",
           "link", "parent_rows"]

# Parent chains deeper than this are cut (and flagged ORPHAN): only a cycle of
# parent ids gets here, and it must not loop forever.
MAX_TREE_DEPTH = 4096

# From this many spans on, a chunk's parents are found by a hash table (pandas): below it a
# sort costs less than importing pandas (0.2-0.3 s and ~45 MB in each process that builds packs).
HASH_LINK_MIN_SPANS = 1 << 18

# Multiplies a span's file number into its link keys (file 0 keeps its keys).
FILE_MIX = np.uint64(0x9E3779B97F4A7C15)


def link(
    key: np.ndarray, parent_key: np.ndarray, flags: np.ndarray, file: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parent row per span (-1 for roots and orphans), and flags with DUPLICATE / ORPHAN set.

    Keys are mixed with the span's file, so spans of two files of a pack never
    link to each other or count as duplicates of each other.
    """
    n = len(key)
    flags = flags.copy()
    if n == 0:
        return np.zeros(0, np.int32), flags
    has_parent = parent_key != 0
    if file.any():
        mix = file.astype(np.uint64) * FILE_MIX  # wraps modulo 2**64, as meant
        key = key ^ mix
        parent_key = np.where(has_parent, parent_key ^ mix, np.uint64(0))
    parent_row = parent_rows(key, parent_key, has_parent, flags)
    flags[has_parent & (parent_row < 0)] |= Flag.ORPHAN
    return parent_row, flags


def import_pandas_meanwhile() -> None:
    """Start importing pandas in a thread (0.2-0.3 s), so that `parent_rows` does not wait for it.

    A build calls this once it holds HASH_LINK_MIN_SPANS spans, while its
    workers parse on: the merge that links parents comes after, and in a process
    that has not imported pandas yet (the CLI; the MCP server has) the import
    would otherwise lie on the build's serial end.
    """
    if "pandas" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("pandas",), name="import-pandas", daemon=True).start()


def parent_rows(key: np.ndarray, parent_key: np.ndarray, has_parent: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The earliest row whose key is each span's parent key, -1 where none is (sets DUPLICATE in `flags`).

    From HASH_LINK_MIN_SPANS spans on by a hash table of the keys, pandas'
    khash in C: where all keys differ (the usual case) one `pd.Index` is hashed
    and looked up; otherwise keys and parent keys are factorized together, and
    as codes number the distinct keys in order of first appearance, a parent
    key that is some span's key has a code below their count, and its row is
    that key's first row. 1.41M spans: 0.11 s (0.19 s with duplicates) where
    the sort took 0.30-0.47 s. Fewer spans (a pack's chunk) are sorted.
    """
    if len(key) < HASH_LINK_MIN_SPANS:
        return _parent_rows_by_sorting(key, parent_key, has_parent, flags)
    import pandas as pd  # here, not at import: only a big build needs it, and opening an index must stay light

    n = len(key)
    index = pd.Index(key)
    if index.is_unique:
        row = index.get_indexer(parent_key)
    else:
        codes, _ = pd.factorize(np.concatenate([key, parent_key]))
        key_code, parent_code = codes[:n], codes[n:]
        firsts = first_rows(key_code)
        flags[np.bincount(key_code, minlength=len(firsts))[key_code] > 1] |= Flag.DUPLICATE
        row = np.where(parent_code < len(firsts), firsts[np.minimum(parent_code, len(firsts) - 1)], -1)
    parent_row = np.where(has_parent, row, -1).astype(np.int32)
    parent_row[parent_row == np.arange(n, dtype=np.int32)] = -1  # a span naming itself as parent is a root
    return parent_row


def first_rows(codes: np.ndarray) -> np.ndarray:
    """The row where each code first appears, for codes numbered in order of first appearance (`pd.factorize`)."""
    return np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)


def _parent_rows_by_sorting(
    key: np.ndarray, parent_key: np.ndarray, has_parent: np.ndarray, flags: np.ndarray
) -> np.ndarray:
    """Parent rows by one sort of the keys and a binary search per parent (sets DUPLICATE in `flags`)."""
    n = len(key)
    by_key = np.argsort(key)
    sorted_keys = key[by_key]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if same.any():
        by_key = np.argsort(key, kind="stable")  # among duplicates, the earliest row comes first
        sorted_keys = key[by_key]
        dup = np.zeros(n, dtype=bool)
        dup[1:] |= same
        dup[:-1] |= same
        flags[by_key[dup]] |= Flag.DUPLICATE
    pos = _lookup(sorted_keys, parent_key)
    pos_ok = np.minimum(pos, n - 1)
    found = has_parent & (sorted_keys[pos_ok] == parent_key)
    parent_row = np.where(found, by_key[pos_ok], -1).astype(np.int32)
    parent_row[parent_row == np.arange(n, dtype=np.int32)] = -1  # a span naming itself as parent is a root
    return parent_row


def _lookup(sorted_keys: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """`np.searchsorted(sorted_keys, needles)`, with the needles searched in sorted order.

    Random needles into a big sorted array miss the CPU cache at every step; sorted
    ones walk it forwards (an argsort and a scatter cost less than the misses).
    """
    if len(needles) < 1 << 16:
        return np.searchsorted(sorted_keys, needles)
    order = np.argsort(needles)
    pos = np.empty(len(needles), dtype=np.intp)
    pos[order] = np.searchsorted(sorted_keys, needles[order])
    return pos


def depths(parent_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth of every span (roots 0) by walking all parent chains one level per step."""
    n = len(parent_row)
    depth = np.zeros(n, dtype=np.int32)
    active = np.flatnonzero(parent_row >= 0)
    ancestor = parent_row[active]
    steps = 0
    while len(active) and steps < MAX_TREE_DEPTH:
        depth[active] += 1
        ancestor = parent_row[ancestor]
        keep = ancestor >= 0
        active, ancestor = active[keep], ancestor[keep]
        steps += 1
    cut = np.zeros(n, dtype=bool)
    cut[active] = True  # still climbing: a cycle of parent ids
    return np.minimum(depth, np.iinfo(np.int16).max).astype(np.int16), cut
