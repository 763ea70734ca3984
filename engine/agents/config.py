"""Settings of one diagnose run: models, recursion, budgets, where runs are saved."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from engine.llm import LLMConfig

__all__ = ["DiagnoseConfig", "default_runs_dir"]

DEFAULT_MAX_DEPTH = 2
DEFAULT_MAX_PARALLEL = 4
DEFAULT_MAX_TURNS = 30
DEFAULT_SUBAGENT_MAX_TURNS = 15
DEFAULT_TOKEN_BUDGET = 2_000_000
DEFAULT_WALL_CLOCK_S = 1800.0
DEFAULT_CONTEXT_LIMIT_TOKENS = 100_000
# Tool results an agent reads are held to this size, so a few fit in its context.
DEFAULT_TOOL_RESULT_TOKENS = 8_000
# Refusals retried (same request again) before the agent gives up.
DEFAULT_MAX_REFUSALS = 2
# Compaction starts when the context estimate passes this share of the limit ...
COMPACT_AT = 0.7
# ... and never touches the newest tool results, which the agent is working on.
KEEP_RECENT_TOOL_RESULTS = 3


def default_runs_dir() -> Path:
    """$HALO_MCP_RUNS_DIR, else $XDG_STATE_HOME/halo-mcp/runs, else ~/.local/state/halo-mcp/runs."""
    explicit = os.environ.get("HALO_MCP_RUNS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "halo-mcp" / "runs"


class DiagnoseConfig(BaseModel):
    """Everything a run may use. Every limit is here, named, with its default."""

    llm: LLMConfig = Field(default_factory=LLMConfig.from_env)
    max_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=0)
    max_parallel: int = Field(default=DEFAULT_MAX_PARALLEL, ge=1)
    max_turns: int = Field(default=DEFAULT_MAX_TURNS, ge=1)
    subagent_max_turns: int = Field(default=DEFAULT_SUBAGENT_MAX_TURNS, ge=1)
    token_budget: int = Field(default=DEFAULT_TOKEN_BUDGET, ge=1)
    wall_clock_s: float = Field(default=DEFAULT_WALL_CLOCK_S, gt=0)
    context_limit_tokens: int = Field(default=DEFAULT_CONTEXT_LIMIT_TOKENS, ge=1000)
    tool_result_tokens: int = Field(default=DEFAULT_TOOL_RESULT_TOKENS, ge=500)
    max_refusals: int = Field(default=DEFAULT_MAX_REFUSALS, ge=0)
    temperature: float | None = None
    runs_dir: Path | None = None  # None: default_runs_dir()
    save: bool = True  # False: no run directory is written
    # The agent's own code (a git work tree, usually): agents get read-only tools over it
    # and findings cite its lines as path:line. None: no repository tools.
    repo: Path | None = None
    # Where the run writes OpenInference spans of its own model calls, tool calls and
    # agents: a path (HALO JSONL, appended; halo-mcp reads them back), or a collector as
    # otlp://HOST:PORT or an http(s)://…/v1/traces URL (OTLP/HTTP). None: no telemetry.
    telemetry: Path | str | None = None

    def resolved_runs_dir(self) -> Path:
        return self.runs_dir if self.runs_dir is not None else default_runs_dir()
