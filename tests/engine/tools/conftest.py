"""Tool tests: a ToolContext over real fixture files, and a way to call a tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import engine.tools  # noqa: F401  (registers the tools)
from engine.tools.context import ToolContext
from engine.tools.registry import ToolAnswer, call_tool
from engine.traces.dataset import Dataset

FIXTURES = Path(__file__).parents[2] / "fixtures"


def make_context(default: Path | str, **kwargs: Any) -> ToolContext:
    """A context whose default dataset is `default`; other paths open on demand."""
    opened: dict[str, Dataset] = {}

    def open_dataset(spec: str | None) -> Dataset:
        key = str(spec or default)
        if key not in opened:
            opened[key] = Dataset.open([key])
        return opened[key]

    return ToolContext(open_dataset=open_dataset, **kwargs)


async def call(name: str, ctx: ToolContext, budget_tokens: int | None = None, **arguments: Any) -> ToolAnswer:
    return await call_tool(name, ctx, arguments, budget_tokens=budget_tokens)


@pytest.fixture
def context_for() -> Callable[..., ToolContext]:
    """make_context(default_dataset, **ToolContext fields)."""
    return make_context


@pytest.fixture
def tool() -> Callable[..., Any]:
    """await tool(name, ctx, budget_tokens=None, **arguments) -> ToolAnswer."""
    return call


@pytest.fixture
def fixture_dir() -> Path:
    return FIXTURES
