"""run_code through the real server process: a failure of the code is an MCP tool error."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

# Each failure and what its text must name; the model reads the traceback to fix its code.
FAILURES = {
    "syntax error": ("def f(:\n    pass", "SyntaxError"),
    "permission denied": ("open('/etc/passwd').read()", "PermissionError"),
    "exception in the code": ("spans.no_such_column", "AttributeError"),
    "nonzero exit": ("raise SystemExit(3)", "SystemExit: 3"),
}


async def test_failing_code_is_a_tool_error_with_its_traceback(traces_dir: Path, tmp_path: Path, stdio_params) -> None:
    params = stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"))
    async with Client(params) as client:
        with anyio.fail_after(60):
            fine = await client.call_tool("run_code", {"code": "len(spans)"})
        assert not fine.is_error, fine.content[0].text
        for label, (code, named) in FAILURES.items():
            with anyio.fail_after(60):
                answer = await client.call_tool("run_code", {"code": code})
            assert answer.is_error, label
            text = answer.content[0].text
            assert text.startswith("FAILED") and named in text, (label, text)
            assert answer.structured_content["ok"] is False  # the details still travel
            assert answer.structured_content["protections"]


async def test_code_stopped_by_the_wall_clock_is_a_tool_error(traces_dir: Path, tmp_path: Path, stdio_params) -> None:
    params = stdio_params(tmp_path, str(traces_dir / "tiny.jsonl"), HALO_SANDBOX_WALL_S="1")
    async with Client(params) as client:
        with anyio.fail_after(60):
            answer = await client.call_tool("run_code", {"code": "import time; time.sleep(30)"})
    assert answer.is_error
    assert "wall-clock limit of 1 s" in answer.content[0].text


async def test_a_dataset_without_spans_runs_with_empty_frames(tmp_path: Path, stdio_params) -> None:
    root = tmp_path / "traces"
    root.mkdir()
    (root / "empty.jsonl").write_text("")
    params = stdio_params(tmp_path, str(root / "empty.jsonl"))
    async with Client(params) as client:
        with anyio.fail_after(60):
            answer = await client.call_tool("run_code", {"code": "len(spans), len(traces), list(spans.columns)[:3]"})
    assert not answer.is_error, answer.content[0].text
    assert answer.structured_content["value"] == "(0, 0, ['trace_id', 'span_id', 'parent_id'])"
