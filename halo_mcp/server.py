"""The halo-mcp MCP server: the tool registry, resources and prompts over one engine.

`build_server` assembles an `MCPServer` from the registry (every trace tool plus
the server's own diagnose and datasets tools), the halo:// resources and the
prompts. The `RunManager` that owns background diagnose runs is entered by the
server's lifespan when nobody entered it before; `serve` enters it around the
transport so runs outlive any one client connection.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool

import engine.tools  # noqa: F401  (fills REGISTRY with the trace tools)
import halo_mcp.dataset_tools  # registers `datasets`
import halo_mcp.run_tools  # noqa: F401  (registers `diagnose` and friends)
from engine.agents import DiagnoseConfig
from engine.llm import LLMConfig
from engine.tools.registry import REGISTRY
from halo_mcp import __version__
from halo_mcp.app import apps
from halo_mcp.datasets import DatasetCatalog
from halo_mcp.prompts import register_prompts, text
from halo_mcp.resources import register_resources
from halo_mcp.runs import RunManager
from halo_mcp.tools import ServerState, mcp_tool

__all__ = ["ServerConfig", "HaloServer", "build_server", "SERVER_NAME"]

logger = logging.getLogger(__name__)

SERVER_NAME = "halo-mcp"


@dataclass
class ServerConfig:
    """Everything `serve` decides from its command line."""

    datasets: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    llm: LLMConfig | None = None
    diagnose_config: Callable[..., DiagnoseConfig] | None = None
    runs_dir: Path | None = None
    cache_dir: Path | None = None
    shape: str | None = None
    sandbox_limits: Any | None = None
    sandbox_policy: Any | None = None  # sandbox.Policy; None: from $HALO_SANDBOX_POLICY per call
    cwd: Path | None = None


@dataclass
class HaloServer:
    """The MCP server and what it is built on (tests and `serve` reach in here)."""

    mcp: MCPServer
    state: ServerState
    runs: RunManager


def sandbox_run_code(limits: Any | None = None, policy: Any | None = None) -> Callable[..., Any]:
    """`sandbox.run_code` with this server's limits and policy (None: the environment's)."""
    from sandbox import run_code

    fixed = {name: value for name, value in (("limits", limits), ("policy", policy)) if value is not None}
    return functools.partial(run_code, **fixed) if fixed else run_code


def _declare_resource_list_changes(mcp: MCPServer) -> None:
    """Declare `resources.listChanged: true`: each finished run adds its report to resources/list.

    The SDK derives the flag from the `NotificationOptions` each call site that
    builds capabilities (stdio, HTTP, in-process) passes, all False; it is set
    here, once, for this server. (2026-07-28 clients get it from `subscriptions/listen`.)
    """
    lowlevel = mcp._lowlevel_server
    base = lowlevel.get_capabilities

    def get_capabilities(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        given = notification_options or NotificationOptions()
        options = NotificationOptions(
            prompts_changed=given.prompts_changed, resources_changed=True, tools_changed=given.tools_changed
        )
        return base(options, *args, **kwargs)

    lowlevel.get_capabilities = get_capabilities  # type: ignore[method-assign]


def build_server(config: ServerConfig | None = None) -> HaloServer:
    config = config or ServerConfig()
    llm = config.llm or LLMConfig.from_env()
    make_config = config.diagnose_config or (lambda **kw: DiagnoseConfig(**{"llm": llm, **kw}))
    runs_dir = config.runs_dir or make_config().resolved_runs_dir()
    catalog = DatasetCatalog(
        config.datasets, config.roots, cwd=config.cwd, cache_dir=config.cache_dir, shape=config.shape
    )
    state = ServerState(
        catalog=catalog,
        llm=llm if llm.configured else None,
        run_code=sandbox_run_code(config.sandbox_limits, config.sandbox_policy),
    )
    runs = RunManager(runs_dir, lambda **kw: make_config(**{"runs_dir": runs_dir, **kw}))
    state.runs = runs
    state.telemetry_target = make_config().telemetry

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        async with runs.ensure_running():
            yield {}

    tools: list[Tool] = [mcp_tool(spec, state) for spec in REGISTRY.values()]
    mcp = MCPServer(
        SERVER_NAME,
        title="HALO trace diagnosis",
        instructions=text("server_instructions"),
        version=__version__,
        tools=tools,
        lifespan=lifespan,
        log_level="WARNING",
        extensions=[apps()],
    )
    _declare_resource_list_changes(mcp)
    register_resources(mcp, state, runs)
    register_prompts(mcp)
    logger.info("halo-mcp: %d tools, datasets %s, roots %s", len(tools), catalog.default, catalog.roots)
    return HaloServer(mcp=mcp, state=state, runs=runs)
