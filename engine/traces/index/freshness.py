"""When a stored segment still answers for its file: fingerprint, shape, or a file that only grew.

The checks that run on every open (`index.ensure_segment`), before anything
is mapped: they read meta.json and a few bounded blocks of the file, never
the whole of it (see `cache.fingerprint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.traces.index import cache

__all__ = ["load_meta", "is_fresh", "serves_shape", "only_grew"]


def load_meta(directory: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = orjson.loads((directory / "meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if meta.get("format") != cache.INDEX_FORMAT or meta.get("code") != cache.code_version():
        return None
    return meta


def is_fresh(meta: dict[str, Any], fp: cache.Fingerprint, shape: str | None) -> bool:
    return cache.Fingerprint.from_json(meta["fingerprint"]) == fp and serves_shape(meta, shape)


def serves_shape(meta: dict[str, Any], shape: str | None) -> bool:
    """Whether a segment answers for `shape` (None: the detected one).

    The shape is part of the cache key: a segment built with a forced shape
    records the shape the content was detected as, and serves an open without
    `shape` only when the two agree.
    """
    wanted = shape if shape is not None else meta.get("detected", meta["shape"])
    return bool(wanted == meta["shape"])


def only_grew(path: Path, meta: dict[str, Any], fp: cache.Fingerprint, shape: str | None) -> bool:
    """True when the file kept its indexed bytes and only has more after them."""
    old = cache.Fingerprint.from_json(meta["fingerprint"])
    if not meta.get("line_based") or meta.get("gzip") or fp.size <= old.size:
        return False
    if not serves_shape(meta, shape):
        return False
    if cache.head_hash(path, old.head_len) != old.head_sha256:
        return False
    if old.sampled_sha256 and cache.sampled_hash(path, old.size) != old.sampled_sha256:
        return False  # the indexed bytes changed too
    end = int(meta["end"])
    if end > 0:
        with open(path, "rb") as f:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                return False
    return True
