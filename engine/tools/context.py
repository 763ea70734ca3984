"""What a tool handler may use besides its arguments.

The MCP server and the diagnose engine each build a `ToolContext`; handlers
never import the server, the CLI or the agents, so the same handler serves all.
Everything a handler may reach is a typed field here: a caller that has more to
hand over (the MCP server's run manager and request context) subclasses it
(`halo_mcp.tools.ServerToolContext`) instead of passing a dictionary around.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.agents.runs import RunStore
    from engine.agents.telemetry import Telemetry
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
    `telemetry` records the caller's own model calls as spans (`--telemetry`), or None.
    `run_store` holds saved diagnose runs, for `compare` checking a finding; None
    where the caller keeps none.
    `search_timeout_s` and `synthesis_parallel` replace the tools' defaults (None: keep them).
    `sources_allowed` says remote sources may be opened: every answer then keeps room
    for `freshness`, the lines that say how fresh each opened source's copy is (the
    caller's `open_dataset` appends them).
    """

    open_dataset: Callable[[str | None], Dataset]
    llm: Any | None = None
    run_code: Callable[..., Awaitable[Any]] | None = None
    progress: Callable[[float, str], Awaitable[None]] | None = None
    telemetry: Telemetry | None = None
    run_store: RunStore | None = None
    search_timeout_s: float | None = None
    synthesis_parallel: int | None = None
    sources_allowed: bool = False
    freshness: list[str] = field(default_factory=list)
