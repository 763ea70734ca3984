"""Stable 64-bit hashes of string columns, computed in numpy.

Parents are linked to spans and trace ids looked up through these keys, sorted
and binary-searched in numpy instead of a Python dict per span. The hash is
plain arithmetic on the UTF-8 bytes, so it agrees across processes, runs and
library versions (keys are stored in the index).
"""

from __future__ import annotations

import hashlib

import numpy as np

from engine.traces.columns.strings import StringColumn

__all__ = ["mix64", "hash_strings", "combine_keys"]

# Rows hashed per block, to bound temporary memory.
_GATHER_BLOCK = 1 << 16

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S33 = np.uint64(33)
# Strings up to this many bytes are hashed in numpy; longer ones (rare) one by one.
_VECTOR_HASH_BYTES = 64


def mix64(h: np.ndarray) -> np.ndarray:
    """A bijective 64-bit finaliser (MurmurHash3's), applied element-wise."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> _S33)
        h = h * _M1
        h = h ^ (h >> _S33)
        h = h * _M2
        mixed: np.ndarray = h ^ (h >> _S33)
        return mixed


def hash_strings(col: StringColumn) -> np.ndarray:
    """Stable 64-bit hashes of a string column's rows (0 for None), computed in numpy.

    Plain arithmetic on the UTF-8 bytes, so hashes agree across processes,
    runs and library versions (they are stored in the index).
    """
    n = len(col)
    lengths = col.lengths.astype(np.int64)
    out = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return out
    short = (lengths >= 0) & (lengths <= _VECTOR_HASH_BYTES)
    rows = np.flatnonzero(short)
    if len(rows) and (fixed := _fixed_width(col, rows, lengths[rows])) is not None:
        out[rows] = fixed
    elif len(rows):
        width = max(8, int(-(-int(lengths[rows].max()) // 8) * 8))
        for lo in range(0, len(rows), _GATHER_BLOCK):
            block = rows[lo : lo + _GATHER_BLOCK]
            lens = lengths[block]
            cols = np.arange(width, dtype=np.int64)
            inside = cols[None, :] < lens[:, None]
            pos = np.where(inside, col.starts[block][:, None] + cols[None, :], 0)
            matrix = np.where(inside, col.blob[pos] if len(col.blob) else 0, 0).astype(np.uint8)
            words = matrix.view("<u8")
            with np.errstate(over="ignore"):
                h = mix64(lens.astype(np.uint64) + _GOLDEN)
                for j in range(words.shape[1]):
                    # only words inside the string count: the hash must not depend on
                    # the longest string of the column (padding)
                    h = np.where(lens > 8 * j, mix64(h ^ words[:, j]), h)
            out[block] = h
    for r in np.flatnonzero(lengths > _VECTOR_HASH_BYTES).tolist():
        data = col.blob[col.starts[r] : col.starts[r] + lengths[r]].tobytes()
        out[r] = np.frombuffer(hashlib.blake2b(data, digest_size=8).digest(), dtype=np.uint64)[0]
    out[out == 0] = 1  # 0 is reserved for None
    out[lengths < 0] = 0
    return out


def _fixed_width(col: StringColumn, rows: np.ndarray, lens: np.ndarray) -> np.ndarray | None:
    """Hashes of `rows` when they all have one length and lie back to back in the blob (ids), else None.

    The same arithmetic as the general path, on the blob itself as a matrix
    instead of a gathered copy: the common case of fixed-width hex ids.
    """
    size = int(lens[0])
    starts = col.starts[rows]
    if (lens != size).any() or (len(rows) > 1 and (np.diff(starts) != size).any()):
        return None
    n, first = len(rows), int(starts[0])
    width = max(8, -(-size // 8) * 8)
    matrix = np.zeros((n, width), dtype=np.uint8)
    if size:
        matrix[:, :size] = col.blob[first : first + n * size].reshape(n, size)
    words = matrix.view("<u8")
    with np.errstate(over="ignore"):
        h = mix64(np.full(n, size, dtype=np.uint64) + _GOLDEN)
        for j in range(-(-size // 8)):
            h = mix64(h ^ words[:, j])
    return h


def combine_keys(scope: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Keys of (scope, key) pairs; 0 stays 0 (no id)."""
    with np.errstate(over="ignore"):
        out = mix64(scope * _GOLDEN ^ mix64(keys))
    out[out == 0] = 1
    out[keys == 0] = 0
    return out
