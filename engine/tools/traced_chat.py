"""Model calls of a tool recorded as OpenInference spans, when its caller traces its runs.

A diagnose run with `--telemetry` puts its recorder in `ToolContext.telemetry`
(an `engine.agents.telemetry.Telemetry`, read here by duck type so the tools do not
import the agents). `synthesize` then records one CHAIN span for itself and one LLM span
per model call (prompt, reply, model, token counts) under the agent's TOOL span; without
a recorder nothing is recorded and the calls are plain `engine.llm.chat` calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from engine.tools.context import ToolContext

__all__ = ["recorder", "traced_span", "traced_chat"]


def recorder(ctx: ToolContext) -> Any | None:
    """The caller's span recorder, or None when its runs are not traced."""
    return ctx.telemetry


@contextmanager
def traced_span(telemetry: Any | None, name: str, kind: str, **attributes: Any) -> Iterator[Any | None]:
    """`telemetry.span(...)`, or nothing (None) without a recorder."""
    if telemetry is None:
        with nullcontext():
            yield None
        return
    with telemetry.span(name, kind, **attributes) as span:
        yield span


async def traced_chat(telemetry: Any | None, name: str, config: Any, messages: list[dict[str, Any]], **kw: Any) -> Any:
    """`engine.llm.chat(config, messages, **kw)`, as an LLM span `name` when traced."""
    from engine.llm import chat, usage_of  # openai is imported by a model call, not by importing the tools

    model = kw.get("model") or getattr(config, "model", None)
    with traced_span(telemetry, name, "LLM", llm__model_name=model) as span:
        if span is None:
            return await chat(config, messages, **kw)
        span.io(input=messages)
        reply = await chat(config, messages, **kw)
        usage = usage_of(reply)
        total = usage.input_tokens + usage.output_tokens
        span.set(llm__token_count__prompt=usage.input_tokens, llm__token_count__completion=usage.output_tokens,
                 llm__token_count__total=total, llm__cost__total=usage.cost)  # fmt: skip
        message = reply.choices[0].message if reply.choices else None
        span.io(output=(message.content or "") if message is not None else "")
        return reply
