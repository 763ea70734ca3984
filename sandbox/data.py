"""The dataset inside the child: reopen the parent's index read-only, expose frames and raw spans.

The parent passes the file list and the cache directory of its already-built
index; the child opens the same index (nothing is reparsed) before lock-down,
after which the data files and the index are readable and nothing is writable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["dataset_spec", "open_dataset", "raw_loader"]


def dataset_spec(dataset: Dataset) -> dict[str, Any]:
    """What the child needs to reopen `dataset`: its files, shapes and index location."""
    raise NotImplementedError("waiting for engine.traces.dataset")


def open_dataset(spec: dict[str, Any]) -> Dataset:
    raise NotImplementedError("waiting for engine.traces.dataset")


def raw_loader(dataset: Dataset, spans: Any) -> Any:
    raise NotImplementedError("waiting for engine.traces.dataset")
