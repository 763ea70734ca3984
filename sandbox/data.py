"""The dataset inside the child: the parent's index reopened, frames and raw spans.

The parent passes its dataset's files and the cache holding their index; the
child opens that index with `Dataset.open` before lock-down (fresh segments are
only mapped, nothing is parsed) and builds the frames from its columns. After
lock-down the data files and the index directories stay readable, so raw spans
load on demand, and nothing there is writable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidArgumentError, UnknownIdError

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["dataset_spec", "open_dataset", "raw_loader"]


def dataset_spec(dataset: Dataset) -> dict[str, Any]:
    """What the child needs to reopen `dataset`: its files, the cache root, the index dirs, the snapshot."""
    return {
        "files": [info.path for info in dataset.files],
        "cache_dir": str(dataset.cache_root),
        "index_dirs": [str(d) for d in dataset.index_dirs],
        "snapshot": dataset.snapshot(),
    }


def open_dataset(spec: dict[str, Any]) -> Dataset:
    """Reopen the parent's dataset: the very segments and packs it mapped, never rebuilt.

    `Dataset.open` would rebuild an index whose code version or fingerprint no
    longer matches (the package was upgraded, the file grew), writing into the
    cache and showing the code other data than the caller sees; and the child,
    bound by Landlock before it gets here, can neither write the cache nor read
    a chunk its view does not list. So it maps the parent's chunks as they are;
    if they are gone (rebuilt meanwhile by someone else) the call fails, saying so.
    """
    from engine.errors import DatasetError
    from engine.traces.dataset import Dataset

    try:
        return Dataset.open_snapshot(spec["snapshot"])
    except (DatasetError, OSError, KeyError, ValueError, TypeError):
        raise DatasetError(
            "the dataset's index was rebuilt while run_code was starting (its files changed "
            "or another process re-indexed them); call run_code again"
        ) from None


def raw_loader(dataset: Dataset) -> Callable[..., dict[str, Any]]:
    """`load_raw(span_id)`, `load_raw(trace_id, span_id)` or `load_raw(row)`: a span's JSON.

    Each call parses a fresh dict from the source file (or the index's copy), so
    nothing the code does to it reaches the data.
    """
    by_span_id: dict[str, list[int]] | None = None

    def rows_of(span_id: str) -> list[int]:
        nonlocal by_span_id
        if by_span_id is None:
            by_span_id = {}
            for row, sid in enumerate(dataset.spans.span_id.to_list()):
                by_span_id.setdefault(sid or "", []).append(row)
        return by_span_id.get(span_id, [])

    def load_raw(*ids: Any) -> dict[str, Any]:
        if len(ids) == 1 and isinstance(ids[0], tuple):
            ids = ids[0]
        if len(ids) == 2:
            return dataset.raw(dataset.span_row(str(ids[0]), str(ids[1])))
        if len(ids) != 1:
            raise InvalidArgumentError("load_raw takes a span id, (trace_id, span_id), or a row of spans")
        key = ids[0]
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < dataset.n_spans:
                raise UnknownIdError(f"row {key} is not in spans (it has {dataset.n_spans} rows)")
            return dataset.raw(key)
        rows = rows_of(str(key))
        if not rows:
            raise UnknownIdError(f"span id {key!r} is not in the dataset; spans.span_id lists them")
        if len(rows) > 1:
            traces = sorted({dataset.trace_id_of_row(r) for r in rows})
            raise InvalidArgumentError(
                f"span id {key!r} occurs {len(rows)} times (traces {', '.join(traces[:5])}); "
                "call load_raw(trace_id, span_id)"
            )
        return dataset.raw(rows[0])

    return load_raw
