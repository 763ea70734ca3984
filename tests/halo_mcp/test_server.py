"""The server in process, through the SDK's own client: tools, schemas, errors, roots, load."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
import pytest
from mcp import Client
from mcp_types import ListRootsResult, Root

from engine.tools.registry import REGISTRY
from engine.tools.tokens import count_tokens
from halo_mcp.server import HaloServer
from halo_mcp.tools import TOOLS_LIST_TOKENS

FIXED_TOOLS = {"overview", "query", "search", "view_trace", "view_spans", "synthesize", "run_code", "diagnose"}
SERVER_TOOLS = {"diagnose", "diagnose_status", "diagnose_cancel", "diagnose_runs", "datasets"}

pytestmark = pytest.mark.anyio


async def test_every_registry_tool_is_listed_with_its_own_schemas_and_hints(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert FIXED_TOOLS | SERVER_TOOLS <= set(listed)
    assert set(listed) == set(REGISTRY)
    for name, tool in listed.items():
        spec = REGISTRY[name]
        assert tool.input_schema == spec.input_schema()
        assert tool.output_schema is None  # optional in the spec; 35k of 61k characters when sent
        assert tool.description == spec.description
        assert tool.title == spec.title
        assert tool.annotations is not None and tool.annotations.read_only_hint is spec.read_only
    assert listed["overview"].annotations.read_only_hint is True
    assert listed["overview"].annotations.open_world_hint is False
    assert listed["diagnose"].annotations.read_only_hint is False
    assert listed["diagnose"].annotations.destructive_hint is False


async def test_tools_list_costs_a_client_at_most_its_token_budget(server: HaloServer) -> None:
    """Every client pays for tools/list in every session, before the user asks anything."""
    async with Client(server.mcp) as client:
        listed = await client.list_tools()
    wire = orjson.dumps({"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]})
    assert count_tokens(wire.decode()) <= TOOLS_LIST_TOKENS


async def test_structured_content_still_comes_without_an_output_schema(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        await client.list_tools()
        result = await client.call_tool("query", {"limit": 2})
    assert not result.is_error
    assert result.structured_content is not None and result.structured_content["total"] >= 1


async def test_every_trace_tool_takes_an_optional_dataset(server: HaloServer) -> None:
    for name in FIXED_TOOLS:
        schema = REGISTRY[name].input_schema()
        assert "dataset" in schema["properties"], name
        assert "dataset" not in schema.get("required", []), name


async def test_overview_answers_with_text_and_structured_content(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("overview", {})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.content[0].text.strip()


async def test_an_unknown_trace_id_is_a_tool_error_that_names_it(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("view_trace", {"trace_id": "0123456789abcdef-nope"})
    assert result.is_error
    assert "0123456789abcdef-nope" in result.content[0].text


async def test_invalid_arguments_are_explained_by_field(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("diagnose_status", {"wait_seconds": 600})
    assert result.is_error
    assert "wait_seconds" in result.content[0].text


async def test_an_unknown_tool_is_an_error_result_not_a_crash(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("drop_tables", {})
        assert result.is_error
        assert "drop_tables" in result.content[0].text
        assert not (await client.call_tool("datasets", {})).is_error


async def test_a_path_outside_the_roots_is_refused_with_a_clear_error(server: HaloServer, outside_dir: Path) -> None:
    async with Client(server.mcp) as client:
        for dataset in (str(outside_dir / "secret.jsonl"), "../../etc/passwd", "/etc/passwd"):
            result = await client.call_tool("overview", {"dataset": dataset})
            assert result.is_error, dataset
            assert "outside the paths this server may read" in result.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_roots_extend_what_may_be_read(server: HaloServer, outside_dir: Path, mode: str) -> None:
    asked = []

    async def roots(context) -> ListRootsResult:
        asked.append(True)
        return ListRootsResult(roots=[Root(uri=outside_dir.as_uri(), name="elsewhere")])

    async with Client(server.mcp, mode=mode, list_roots_callback=roots) as client:
        inside = await client.call_tool("overview", {})
        assert not inside.is_error and not asked  # static roots never ask the client
        result = await client.call_tool("overview", {"dataset": str(outside_dir / "secret.jsonl")})
        assert not result.is_error, result.content[0].text
        assert asked
        refused = await client.call_tool("overview", {"dataset": "/etc/passwd"})
        assert refused.is_error


async def test_a_client_without_roots_is_not_asked(server: HaloServer, outside_dir: Path) -> None:
    async with Client(server.mcp, mode="legacy") as client:
        result = await client.call_tool("overview", {"dataset": str(outside_dir)})
    assert result.is_error and "outside" in result.content[0].text


async def test_fifty_concurrent_calls_all_answer(server: HaloServer, traces_dir: Path) -> None:
    results: list = []
    calls = [
        ("overview", {}),
        ("overview", {"dataset": str(traces_dir / "tiny.jsonl")}),
        ("search", {"pattern": "error", "ignore_case": True}),
        ("query", {}),
        ("datasets", {}),
    ]

    async def one(i: int) -> None:
        name, args = calls[i % len(calls)]
        results.append((name, await client.call_tool(name, args)))

    async with Client(server.mcp) as client:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(one, i)
    assert len(results) == 50
    assert [name for name, r in results if r.is_error] == []


async def test_the_datasets_tool_lists_the_default_and_the_roots(server: HaloServer, traces_dir: Path) -> None:
    async with Client(server.mcp) as client:
        result = await client.call_tool("datasets", {})
    data = result.structured_content
    assert data["roots"] == [str(traces_dir.resolve())]
    assert {Path(f["path"]).name for f in data["files"]} == {"realistic.jsonl", "tiny.jsonl"}


async def test_a_dataset_that_grows_is_reread(make_server, tmp_path: Path) -> None:
    root = tmp_path / "live"
    root.mkdir()
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "halo" / "realistic_traces.jsonl"
    lines = fixture.read_bytes().splitlines(keepends=True)
    (root / "t.jsonl").write_bytes(b"".join(lines[:10]))
    halo = make_server([str(root)])
    async with Client(halo.mcp) as client:
        before = (await client.call_tool("datasets", {})).structured_content
        await client.call_tool("overview", {})
        with open(root / "t.jsonl", "ab") as f:
            f.write(b"".join(lines[10:]))
        await client.call_tool("overview", {})
        after = (await client.call_tool("datasets", {})).structured_content
    assert before["opened"] == []
    assert after["opened"][-1]["spans"] == len(lines)


async def test_without_a_default_dataset_the_datasets_tool_lists_the_root_files(make_server, traces_dir: Path) -> None:
    halo = make_server([], roots=[str(traces_dir)])
    async with Client(halo.mcp) as client:
        result = await client.call_tool("datasets", {})
    assert not result.is_error, result.content
    assert {Path(f["path"]).name for f in result.structured_content["files"]} == {"realistic.jsonl", "tiny.jsonl"}
