"""A `ToolContext` over real datasets, for tests that call the tools the way the engine does, and a
way to compare two answers apart from what says where they came from."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset

__all__ = ["opening_context", "without_keys"]


def opening_context(default: str) -> ToolContext:
    """A context whose default dataset is `default` (a path or a source URL); other specs
    open on demand, each once."""
    opened: dict[str, Dataset] = {}

    def open_dataset(spec: str | None) -> Dataset:
        key = spec or default
        if key not in opened:
            opened[key] = Dataset.open([key])
        return opened[key]

    return ToolContext(open_dataset=open_dataset)


def without_keys(value: Any, keys: Collection[str]) -> Any:
    """`value` (an answer's structured content) with every dict entry named in `keys` dropped, at any depth.

    Answers on a source and on a file of the same spans differ in what names their
    origin (paths, freshness lines); the rest must be equal.
    """
    if isinstance(value, dict):
        return {k: without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_keys(v, keys) for v in value]
    return value
