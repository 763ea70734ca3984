"""The registry after `import engine.tools`: every tool, described for a model, with schemas."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgumentError, SandboxError
from engine.tools.registry import REGISTRY

TOOLS = ("overview", "patterns", "query", "search", "view_trace", "view_spans", "synthesize", "run_code")


@pytest.mark.parametrize("name", TOOLS)
def test_each_tool_is_registered_with_a_description_and_schemas(name: str) -> None:
    spec = REGISTRY[name]
    assert len(spec.description) > 200 and "\n" in spec.description
    assert spec.input_schema()["type"] == "object"
    assert spec.output_schema()["type"] == "object"
    assert all("description" in p or "$ref" in p or "anyOf" in p for p in spec.input_schema()["properties"].values())


@pytest.mark.parametrize("name", [t for t in TOOLS if t != "run_code"])
def test_every_trace_tool_takes_a_dataset(name: str) -> None:
    assert "dataset" in REGISTRY[name].input_schema()["properties"]


@pytest.mark.anyio
async def test_run_code_without_a_sandbox_says_so(context_for, tool, fixture_dir) -> None:
    with pytest.raises(SandboxError, match="without a sandbox"):
        await tool("run_code", context_for(fixture_dir / "analytics" / "clean.jsonl"), code="1 + 1")


@pytest.mark.anyio
async def test_a_missing_argument_is_reported_by_name(context_for, tool, fixture_dir) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid arguments for view_trace: trace_id"):
        await tool("view_trace", context_for(fixture_dir / "analytics" / "clean.jsonl"))


@pytest.mark.anyio
async def test_a_misspelt_argument_is_an_error_not_ignored(context_for, tool, fixture_dir) -> None:
    with pytest.raises(InvalidArgumentError, match="trace_ids: not an argument of this tool"):
        await tool("view_trace", context_for(fixture_dir / "analytics" / "clean.jsonl"), trace_id="x", trace_ids=["x"])
