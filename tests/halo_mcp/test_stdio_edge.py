"""halo_mcp/stdio.py over the real process: raw bytes in, every request answered, a quiet end."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_mcp.stdio import lone_surrogate_at

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


def _spawn(traces_dir: Path, tmp_path: Path, server_env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "serve", "--stdio", str(traces_dir / "tiny.jsonl")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(tmp_path),
        cwd=tmp_path,
    )


# Longest wait for one answer line before the test calls it unanswered (a hang guard, not a speed check).
ANSWER_WAIT_S = 60


def _answer(proc: subprocess.Popen) -> dict:
    # selectors, not select.select: a process with over 1,024 descriptors open (chDB leaves some
    # behind, see the README) would have select() refuse the pipe's.
    with selectors.DefaultSelector() as waiting:
        waiting.register(proc.stdout, selectors.EVENT_READ)
        ready = waiting.select(ANSWER_WAIT_S)
    assert ready, f"no answer within {ANSWER_WAIT_S}s"
    return json.loads(proc.stdout.readline())


def _send(proc: subprocess.Popen, raw: bytes) -> None:
    proc.stdin.write(raw + b"\n")
    proc.stdin.flush()


def _start(proc: subprocess.Popen) -> None:
    _send(proc, json.dumps(INIT).encode())
    assert _answer(proc)["id"] == 1
    _send(proc, b'{"jsonrpc":"2.0","method":"notifications/initialized"}')


def _call(request_id: int, name: str, arguments: str) -> bytes:
    """A tools/call written by hand, so `arguments` can hold escapes json.dumps would not write."""
    return (
        f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call",'
        f'"params":{{"name":"{name}","arguments":{arguments}}}}}'
    ).encode()


@pytest.mark.parametrize(
    ("name", "arguments", "where"),
    [
        ("search", r'{"pattern":"\ud800"}', "params.arguments.pattern"),
        ("query", r'{"model":"gpt\udfff-5"}', "params.arguments.model"),
        ("view_spans", r'{"trace_id":"t-bbbb","span_ids":["s-bbbb-2","\ud83d"]}', "params.arguments.span_ids.1"),
        ("overview", r'{"dataset":"x\ud800"}', "params.arguments.dataset"),
        ("overview", r'{"x\ud800":1}', "params.arguments.x\\ud800"),
    ],
)
def test_a_lone_surrogate_in_an_argument_is_answered_with_an_error_naming_it(
    traces_dir: Path, tmp_path: Path, server_env, name: str, arguments: str, where: str
) -> None:
    proc = _spawn(traces_dir, tmp_path, server_env)
    try:
        _start(proc)
        _send(proc, _call(7, name, arguments))
        answer = _answer(proc)
        assert answer["id"] == 7
        assert answer["error"]["code"] == -32602
        assert where in answer["error"]["message"] and "surrogate" in answer["error"]["message"]
        # The server goes on serving, and a proper pair (an emoji) is fine.
        _send(proc, _call(8, "search", r'{"pattern":"\ud83d\ude00"}'))
        after = _answer(proc)
        assert after["id"] == 8 and after["result"]["isError"] is False
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0


def test_a_client_that_leaves_mid_call_ends_the_server_quietly(traces_dir: Path, tmp_path: Path, server_env) -> None:
    proc = _spawn(traces_dir, tmp_path, server_env)
    _start(proc)
    _send(proc, _call(2, "run_code", '{"code":"import time\\ntime.sleep(3)\\n1"}'))
    time.sleep(0.5)  # the call is in flight; then the client goes away, pipes and all
    proc.stdout.close()
    proc.stdin.close()
    proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert "Traceback" not in stderr and "ExceptionGroup" not in stderr, stderr
    assert proc.returncode == 0


def test_lone_surrogates_are_found_at_their_path_and_pairs_are_not() -> None:
    assert lone_surrogate_at({"a": ["ok", {"b": "x\ud800"}]}, "params") == "params.a.1.b"
    assert lone_surrogate_at({"a": "\U0001f600", "n": 3, "none": None}) is None
    assert lone_surrogate_at({"k\udc00": 1}) == "k\\udc00"
