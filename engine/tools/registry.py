"""The one tool registry: every trace tool is defined here once.

A `ToolSpec` carries pydantic arguments and result, a description written for a
model, an async handler and a size budget. The MCP server (`halo_mcp`) and the
diagnose engine's agents (`engine.agents`) both list tools from `REGISTRY` and
call them through `call_tool`, so a tool behaves the same for Claude Code and for
a subagent, and nothing reaches around the budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidArgumentError
from engine.tools.arguments import explain_validation, screen_arguments
from engine.tools.context import ToolContext
from engine.tools.schema import compact_schema
from engine.tools.tokens import answer_tokens

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_BUDGET_TOKENS",
    "ToolResult",
    "ToolSpec",
    "ToolAnswer",
    "REGISTRY",
    "register",
    "call_tool",
]

# A typical ratio, for estimates only (a first guess that a real count then checks):
# budgets are counted with `tokens.count_tokens`.
CHARS_PER_TOKEN = 4
# Claude Code rejects answers over ~25k tokens; 20k (counted in o200k_base, text
# plus structured content) leaves room for the envelope and for tokenizers that differ.
DEFAULT_BUDGET_TOKENS = 20_000
# Tokens kept out of a tool's budget, when the dataset may be a remote source, for the
# freshness lines every answer on one ends with (a source URL, two times, a note).
FRESHNESS_TOKENS = 400


class ToolResult(BaseModel):
    """Base of every tool result: structured content plus a compact text rendering."""

    def render(self) -> str:
        """The text a model reads. Override with something tighter than JSON."""
        return self.model_dump_json(exclude_none=True)

    @property
    def failed(self) -> bool:
        """The call ran but did not do what was asked (run_code's code raised or was stopped):
        MCP reports it as a tool error (isError) and still sends the details."""
        return False


A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=ToolResult)

# A handler gets the context the caller provides (the server's or the engine's),
# the validated arguments and the token budget its whole answer (text rendering
# plus structured content, see `tokens.answer_tokens`) must fit into.
Handler = Callable[[Any, A, int], Awaitable[R]]


@dataclass(frozen=True)
class ToolSpec(Generic[A, R]):
    """One tool: what it takes, what it returns, what it does, how big it may answer."""

    name: str
    title: str
    description: str
    args: type[A]
    result: type[R]
    handler: Handler[A, R]
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    read_only: bool = True
    # Tools the diagnose engine's agents may not call (e.g. diagnose itself).
    agent_visible: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def input_schema(self) -> dict[str, Any]:
        """The arguments' schema as clients and agents are shown it (see `schema.compact_schema`)."""
        return compact_schema(self.args.model_json_schema())

    def output_schema(self) -> dict[str, Any]:
        """The result's full schema; not published in tools/list (see `halo_mcp.tools`)."""
        return self.result.model_json_schema()


REGISTRY: dict[str, ToolSpec[Any, Any]] = {}


def register(spec: ToolSpec[A, R]) -> ToolSpec[A, R]:
    """Add a tool to the registry; a name can be registered once."""
    if spec.name in REGISTRY:
        raise ValueError(f"tool {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


@dataclass(frozen=True)
class ToolAnswer:
    """What a call returns to either caller: the result model and its rendering."""

    result: ToolResult
    text: str
    # How fresh the copies of the remote sources the answer read are (see `engine.sources.local`).
    freshness: tuple[str, ...] = ()

    def structured(self) -> dict[str, Any]:
        out = self.result.model_dump(mode="json", exclude_none=True)
        if self.freshness:
            out["freshness"] = list(self.freshness)
        return out


async def call_tool(
    name: str,
    context: Any,
    arguments: dict[str, Any],
    *,
    budget_tokens: int | None = None,
    registry: dict[str, ToolSpec[Any, Any]] | None = None,
) -> ToolAnswer:
    """Validate `arguments`, run the tool, and check its answer against the budget.

    The handler is given the whole budget in tokens; its text rendering and its
    structured content both travel to the client and both count. A result that
    still comes back over budget is a bug in the handler: it is refused here
    rather than sent to a client that would reject it. `registry` holds tools that
    are not trace tools (the agents' repository tools, `engine.repo.REPO_TOOLS`).
    """
    tools = REGISTRY if registry is None else registry
    spec = tools.get(name)
    if spec is None:
        known = ", ".join(sorted(tools))
        raise InvalidArgumentError(f"unknown tool {name!r}; the tools are: {known}")
    screen_arguments(name, arguments)
    try:
        args = spec.args.model_validate(arguments)
    except ValidationError as exc:
        raise InvalidArgumentError(explain_validation(name, exc, spec.args)) from None
    budget = budget_tokens or spec.budget_tokens
    # A server that may read remote sources keeps room for their freshness in every answer.
    # (Other registries, as the repository tools', have contexts of their own.)
    on_sources = isinstance(context, ToolContext) and context.sources_allowed
    result = await spec.handler(context, args, budget - FRESHNESS_TOKENS if on_sources else budget)
    answer = ToolAnswer(result=result, text=result.render())
    fresh = tuple(context.freshness) if isinstance(context, ToolContext) else ()
    if fresh:
        text = answer.text.rstrip("\n") + "\n" + "\n".join(f"freshness: {line}" for line in fresh)
        answer = ToolAnswer(result=result, text=text, freshness=fresh)
    size = answer_tokens(answer.text, answer.structured())
    if size > budget:
        raise RuntimeError(f"tool {name} answered {size:,} tokens, over its budget of {budget:,}")
    return answer

