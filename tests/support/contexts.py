"""A `ToolContext` over real datasets, for tests that call the tools the way the engine does."""

from __future__ import annotations

from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset

__all__ = ["opening_context"]


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
