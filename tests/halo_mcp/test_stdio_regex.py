"""A regex can never freeze the real server: other calls are answered, stdin's end stops it.

`(.|..){0,100}#` backtracks for hours in Python's `re` on one long span line;
RE2 runs it in linear time. With a lookbehind in front it needs a backtracking
engine, so it runs in the guard's child, which never finishes on its own: the
server must answer other calls meanwhile, stop it at its deadline, and not
leave it behind when the client goes away.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

CATASTROPHIC = "(.|..){0,100}#"
# The same, behind a lookbehind RE2 cannot run: it goes to the killable child.
CATASTROPHIC_BACKTRACKING = "(?<=a)(.|..){0,100}#"
# Seconds for things that take a fraction of that; never a measurement.
GENEROUS_S = 120


def _span(span_id: str, value: str) -> dict[str, Any]:
    return {
        "trace_id": "t-long", "span_id": span_id, "parent_span_id": "" if span_id == "s1" else "s1",
        "name": "tool", "kind": "SPAN_KIND_INTERNAL",
        "start_time": "2026-01-01T00:00:00.000000000Z", "end_time": "2026-01-01T00:00:01.000000000Z",
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {"output.value": value},
    }  # fmt: skip


@pytest.fixture
def long_line(tmp_path: Path) -> Path:
    """A dataset whose one span holds a 5,000-character value and no '#'."""
    root = tmp_path / "traces"
    root.mkdir()
    path = root / "long.jsonl"
    path.write_text(json.dumps(_span("s1", "a" * 5000)) + "\n" + json.dumps(_span("s2", "short")) + "\n")
    return path


async def _concurrently(client: Client, first: tuple[str, dict], second: tuple[str, dict]) -> tuple[list[str], dict]:
    """Call `first`, then `second` while it runs; the order they were answered in, and the answers."""
    order: list[str] = []
    answers: dict[str, Any] = {}

    async def call(name: str, arguments: dict) -> None:
        answers[name] = await client.call_tool(name, arguments)
        order.append(name)

    with anyio.fail_after(GENEROUS_S):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, *first)
            await anyio.sleep(0)  # the first request goes out first
            tg.start_soon(call, *second)
    return order, answers


@pytest.mark.parametrize("tool", ["search", "query"])
async def test_a_catastrophic_pattern_is_answered_and_other_calls_are_too(
    tool: str, long_line: Path, tmp_path: Path, stdio_params
) -> None:
    async with Client(stdio_params(tmp_path, str(long_line))) as client:
        await client.call_tool("overview", {})  # indexed before the race
        order, answers = await _concurrently(client, (tool, {"pattern": CATASTROPHIC}), ("datasets", {}))
    assert sorted(order) == sorted([tool, "datasets"])
    found = answers[tool]
    assert not found.is_error, found.content[0].text
    assert found.structured_content["total_matches" if tool == "search" else "total"] == 0


@pytest.mark.parametrize("tool", ["search", "query"])
async def test_a_backtracking_pattern_is_stopped_in_its_child_while_other_calls_are_answered(
    tool: str, long_line: Path, tmp_path: Path, stdio_params
) -> None:
    async with Client(stdio_params(tmp_path, str(long_line))) as client:
        await client.call_tool("overview", {})
        order, answers = await _concurrently(client, (tool, {"pattern": CATASTROPHIC_BACKTRACKING}), ("overview", {}))
        after = await client.call_tool(tool, {"pattern": "short"})
    assert order == ["overview", tool]  # answered while the pattern was still running
    stopped = answers[tool]
    assert stopped.is_error and "ran past its time limit" in stopped.content[0].text
    assert not after.is_error  # the tool still works afterwards


def _rpc(proc: subprocess.Popen, message: dict) -> None:
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def _reader(proc: subprocess.Popen) -> tuple[queue.Queue[str], threading.Thread]:
    """The server's stdout lines, read by a thread so that waiting for one can be bounded."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        with proc.stdout:
            for line in proc.stdout:
                lines.put(line)
        lines.put("")

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return lines, thread


def _answer(lines: queue.Queue[str], request_id: int) -> dict:
    """The response to `request_id` (notifications and other responses skipped)."""
    while True:
        try:
            line = lines.get(timeout=GENEROUS_S)
        except queue.Empty:
            raise AssertionError(f"request {request_id} was not answered in {GENEROUS_S}s") from None
        assert line, "the server closed stdout"
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def _guard_children(pid: int) -> list[int]:
    """Pids of `pid`'s children that are regex-guard children."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"regex_guard" in cmdline:
                found.append(int(child))
    return found


def _wait_for(probe: Any) -> Any:
    """`probe()` once it is truthy, or its last value after GENEROUS_S (a bound, not a measurement)."""
    deadline = time.monotonic() + GENEROUS_S
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_closing_stdin_mid_search_ends_the_server_and_its_regex_child(
    long_line: Path, tmp_path: Path, server_env
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "serve", "--stdio", str(long_line)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=server_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    lines, pump = _reader(proc)
    children: list[int] = []
    try:
        _rpc(proc, {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "raw", "version": "0"}},
        })  # fmt: skip
        assert _answer(lines, 1)["result"]["serverInfo"]["name"] == "halo-mcp"
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {"jsonrpc": "2.0", "method": "tools/call"}
        _rpc(proc, {**call, "id": 2, "params": {"name": "overview", "arguments": {}}})
        _answer(lines, 2)
        _rpc(proc, {**call, "id": 3, "params": {"name": "search", "arguments": {"pattern": CATASTROPHIC_BACKTRACKING}}})
        children = _wait_for(lambda: _guard_children(proc.pid))  # the search never ends by itself
        proc.stdin.close()
        try:
            proc.wait(timeout=GENEROUS_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server still runs {GENEROUS_S}s after its stdin closed") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pump.join(GENEROUS_S)  # stdout ends with the process; the pump closes it
    assert children, "the backtracking search did not run in a guard child"
    assert _wait_for(lambda: all(_gone(c) for c in children)), "the regex child outlived the server"
