"""The registry -> MCP bridge: every `ToolSpec` becomes one MCP tool.

The MCP tool publishes the spec's description, its compact input schema and the
annotations that differ from the spec's defaults, and runs through
`registry.call_tool`, so validation, budgets and results are the ones the
diagnose engine's agents get.

No output schema is published. Every client pays for tools/list in every
session, and the result schemas were 35k of its 61k characters; the MCP spec
makes `outputSchema` optional, and `structuredContent` may be returned without
one (the SDK's client validates structured content only against a declared
schema). The model reads each answer's text; the structured content still
comes with it for programs, and `ToolSpec.output_schema()` documents it.
This module is the one place where a `HaloError` becomes the SDK's `ToolError`
(the model reads the message); anything else is a bug and surfaces as one.

Before a tool that reads traces runs, the bridge resolves its `dataset` argument
against the allowed roots (asking the client for its MCP roots only when the
path lies outside the static ones) and opens the dataset in a worker thread, so
a first index build never blocks other calls on the event loop.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    CallToolResult,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    TextContent,
    ToolAnnotations,
)
from mcp_types.version import is_version_at_least
from pydantic import Field, ValidationError

from engine.errors import HaloError, SourceChangedError
from engine.tools.arguments import field_problems, screen_arguments
from engine.tools.context import ToolContext
from engine.tools.registry import ToolSpec, call_tool
from halo_mcp.app import tool_meta
from halo_mcp.datasets import DatasetCatalog
from halo_mcp.mcp_progress import index_progress

if TYPE_CHECKING:
    from halo_mcp.runs import RunManager

__all__ = [
    "ServerState",
    "ServerToolContext",
    "server_context",
    "RegistryTool",
    "mcp_tool",
    "tool_context",
    "client_roots",
    "ROOTS_KEY",
    "TOOLS_LIST_TOKENS",
]

logger = logging.getLogger(__name__)

# The most the whole tools/list result may cost a client, in o200k_base tokens
# (`engine.tools.tokens`); a test holds it. It was ~15k before descriptions and
# schemas were tightened and output schemas left out.
TOOLS_LIST_TOKENS = 4_500
# Key of our roots question in an `InputRequiredResult` (2026-07-28 clients).
ROOTS_KEY = "halo-mcp/roots"
_INPUT_REQUIRED_VERSION = "2026-07-28"
# Connections told about new resources; an HTTP server's oldest are forgotten past this.
MAX_NOTIFIED_SESSIONS = 64


@dataclass
class ServerState:
    """What every call shares: dataset access, model config, sandbox, background runs."""

    catalog: DatasetCatalog
    llm: Any | None = None
    run_code: Callable[..., Awaitable[Any]] | None = None
    # Background diagnose runs (None in a one-shot CLI command that starts none).
    runs: RunManager | None = None
    # Where traced calls (synthesize) send their own spans (`--telemetry`), or None.
    telemetry_target: Path | str | None = None
    # Sessions that called a tool, by connection, told when the resource list grows (a run's
    # report). Kept after the call: a run's report usually lands after its call answered.
    sessions: dict[int, Any] = field(default_factory=dict)

    def remember_session(self, session: Any) -> None:
        """Keep the most recent session of each connection, at most MAX_NOTIFIED_SESSIONS."""
        key = id(getattr(session, "_connection", session))
        self.sessions.pop(key, None)
        self.sessions[key] = session
        while len(self.sessions) > MAX_NOTIFIED_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))


def tool_context(
    state: ServerState,
    *,
    extra_roots: tuple[Path, ...] = (),
    progress: Callable[[float, str], Awaitable[None]] | None = None,
    default_dataset: str | None = None,
) -> ServerToolContext:
    """A `ToolContext` for one call (or one diagnose run) over the server's state.

    `default_dataset` replaces the server's default for `open_dataset(None)`: a
    diagnose run started on one dataset keeps reading that dataset.
    """
    catalog = state.catalog
    freshness: list[str] = []

    def open_dataset(spec: str | None) -> Any:
        dataset = catalog.open(spec if spec is not None else default_dataset, extra_roots)
        # every answer on a remote source says how fresh its copy is
        freshness.extend(line for line in (f.line() for f in dataset.sources) if line not in freshness)
        return dataset

    return ServerToolContext(
        open_dataset=open_dataset,
        llm=state.llm,
        run_code=state.run_code,
        progress=progress,
        run_store=state.runs.store if state.runs is not None else None,
        sources_allowed=bool(catalog.sources),
        freshness=freshness,
        state=state,
        client_roots=extra_roots,
    )


@dataclass
class ServerToolContext(ToolContext):
    """A `ToolContext` of the MCP server: what the server's own tools (datasets, diagnose
    runs) need besides what every tool gets. `state` is always set by `tool_context`."""

    state: ServerState | None = None
    client_roots: tuple[Path, ...] = ()
    # The MCP request context of the call, for progress notifications; None inside a run.
    mcp_context: Context | None = None


def server_context(ctx: ToolContext) -> tuple[ServerToolContext, ServerState]:
    """The server's context and state of a call to one of the server's own tools."""
    if not isinstance(ctx, ServerToolContext) or ctx.state is None:
        raise TypeError("this tool runs only inside the halo-mcp server")
    return ctx, ctx.state


@contextmanager
def traced_call(spec: ToolSpec[Any, Any], tool_ctx: ToolContext) -> Iterator[None]:
    """A call of a `traced` tool (synthesize) on a server given `--telemetry` is one trace of
    OpenInference spans of its own model calls, as a diagnose run is; other calls pass through."""
    target = tool_ctx.state.telemetry_target if isinstance(tool_ctx, ServerToolContext) and tool_ctx.state else None
    if not spec.extra.get("traced") or target is None:
        yield
        return
    from engine.agents.telemetry import Telemetry

    telemetry = Telemetry(target, run_id=f"{spec.name}-{secrets.token_hex(4)}")
    tool_ctx.telemetry = telemetry
    try:
        yield
    finally:
        lost = telemetry.close()
        if lost:
            logger.warning("%s telemetry: %s", spec.name, lost)


def annotations_for(spec: ToolSpec[Any, Any]) -> ToolAnnotations:
    """Hints for clients: trace tools only read; a spec may say more in `extra`.

    Only what differs from the spec's defaults is sent (read-only is always
    stated): the title is the tool's own `title`, and the destructive and
    idempotent hints mean something only for a tool that writes.
    """
    hints: dict[str, Any] = {"read_only_hint": spec.read_only, "open_world_hint": False}
    if not spec.read_only:
        hints["destructive_hint"] = False
    hints.update(spec.extra.get("annotations", {}))
    return ToolAnnotations(**hints)


def _path_from_uri(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


async def client_roots(ctx: Context[Any, Any]) -> tuple[Path, ...] | InputRequiredResult:
    """The client's MCP roots as paths; () when it declared none.

    Handshake-era clients are asked with a `roots/list` request; 2026-07-28 clients
    get an `InputRequiredResult` and answer on the retry of the same call.
    """
    caps = ctx.client_capabilities
    if caps is None or caps.roots is None:
        return ()
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION):
        answer = (ctx.input_responses or {}).get(ROOTS_KEY)
        if answer is None:
            return InputRequiredResult(input_requests={ROOTS_KEY: ListRootsRequest()})
        wire = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
        result = ListRootsResult.model_validate(wire)
    else:
        result = await ctx.session.send_request(
            ListRootsRequest(),
            ListRootsResult,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_context.request_id),
        )
    paths = (_path_from_uri(str(root.uri)) for root in result.roots)
    return tuple(p for p in paths if p is not None)


class RegistryTool(Tool):
    """An MCP tool whose schemas, validation and handler come from a `ToolSpec`."""

    spec: Any = Field(exclude=True)
    state: Any = Field(exclude=True)

    async def run(
        self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False
    ) -> CallToolResult | InputRequiredResult:
        spec: ToolSpec[Any, Any] = self.spec
        state: ServerState = self.state
        try:
            # Before any path is looked at: a NUL byte or a 70-bit integer is refused by name.
            screen_arguments(spec.name, arguments)
            state.remember_session(context.session)
            fields = spec.args.model_fields
            extra_roots: tuple[Path, ...] = ()
            paths = [arguments.get(name) for name in spec.extra.get("path_args", ("dataset",)) if name in fields]
            if any(isinstance(p, str) and state.catalog.needs_client_roots(p) for p in paths):
                roots = await client_roots(context)
                if isinstance(roots, InputRequiredResult):
                    return roots
                extra_roots = roots
            dataset = arguments.get("dataset")
            if "dataset" in fields and (isinstance(dataset, str) or (dataset is None and state.catalog.default)):
                # Warm the memo off the event loop; the handler's own open is then a lookup.
                # A first use indexes: the client hears progress if it asked for it.
                progress_fn = index_progress(context)
                await anyio.to_thread.run_sync(lambda: state.catalog.open(dataset, extra_roots, progress_fn))

            async def progress(fraction: float, message: str) -> None:
                await context.report_progress(fraction, 1.0, message)

            tool_ctx = tool_context(state, extra_roots=extra_roots, progress=progress)
            tool_ctx.mcp_context = context
            with traced_call(spec, tool_ctx):
                try:
                    answer = await call_tool(spec.name, tool_ctx, arguments)
                except SourceChangedError:
                    # a file changed under its index: the index was dropped, the next open rebuilds it
                    answer = await call_tool(spec.name, tool_ctx, arguments)
        except HaloError as err:
            raise ToolError(str(err)) from err
        except ValidationError as err:
            # A model built from the call's values refused them: still the caller's values, in a sentence.
            raise ToolError(f"{spec.name} could not use these arguments: {field_problems(err)}") from err
        return CallToolResult(
            content=[TextContent(type="text", text=answer.text)],
            structured_content=answer.structured(),
            is_error=answer.result.failed,
        )


def mcp_tool(spec: ToolSpec[Any, Any], state: ServerState) -> RegistryTool:
    """Wrap one registry spec as an MCP tool bound to the server's state."""

    async def _unused(**_: Any) -> None:  # `Tool.fn` is required; `run` never calls it
        raise AssertionError("RegistryTool.run is the entry point")

    return RegistryTool(
        fn=_unused,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=spec.input_schema(),
        fn_metadata=FuncMetadata(arg_model=ArgModelBase, output_schema=None),
        is_async=True,
        annotations=annotations_for(spec),
        meta=tool_meta(spec.name),
        context_kwarg=None,
        spec=spec,
        state=state,
    )
