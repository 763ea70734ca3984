"""The trace tools: one registry (`registry.REGISTRY`), one module per tool.

Importing `engine.tools` registers every tool, so the MCP server and the
diagnose engine see the same set:

    compare      before against after: pattern rates, tests, verdicts, run costs
    overview     the dataset at a glance + failure patterns (first call of every analysis)
    patterns     the failure analytics, filtered and paged
    query        filtered, sorted trace summaries (or a count), paged by cursor
    search       regex over raw span content: dataset, trace or span
    view_trace   one trace as a tree; a skeleton plus a plan when too big
    view_spans   chosen spans in detail, long values readable in pieces
    synthesize   a model reads chosen traces' content and sums them up
    run_code     Python over the span / trace tables, in the sandbox
"""

from __future__ import annotations

from engine.tools import (  # noqa: F401  (imported to register the tools)
    compare,
    overview,
    patterns,
    query,
    run_code,
    search,
    synthesize,
    view_spans,
    view_trace,
)
from engine.tools.registry import REGISTRY, ToolAnswer, ToolResult, ToolSpec, call_tool, register

__all__ = ["REGISTRY", "ToolAnswer", "ToolResult", "ToolSpec", "call_tool", "register"]
