"""What a tool handler may use besides its arguments.

The MCP server and the diagnose engine each build a `ToolContext`; handlers
never import the server, the CLI or the agents, so the same handler serves all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["ToolContext"]


@dataclass
class ToolContext:
    """Dataset access, model access and sandbox access for one caller.

    `open_dataset(None)` gives the caller's default dataset; `open_dataset(path)`
    resolves a path, directory or glob, and raises `PathNotAllowedError` or
    `DatasetError` when it may not or cannot be read.
    `llm` is an `engine.llm.LLMConfig` or None when no model is configured
    (synthesize then says so instead of failing).
    `run_code` is the sandbox entry point (`sandbox.run_code`-compatible) or None.
    `progress` reports (done fraction 0..1, message) to whoever waits.
    """

    open_dataset: Callable[[str | None], Dataset]
    llm: Any | None = None
    run_code: Callable[..., Awaitable[Any]] | None = None
    progress: Callable[[float, str], Awaitable[None]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
