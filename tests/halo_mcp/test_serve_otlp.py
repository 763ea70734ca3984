"""`halo-mcp serve --otlp`: the receiver beside the MCP stdio transport, its spans read by the tools."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from support.otlp_export import POLL_BOUND_S, sdk_spans

pytestmark = pytest.mark.anyio


def _export_when_up(exporter: OTLPSpanExporter, count: int) -> None:
    """The server starts its receiver before the transport: retry until it listens."""
    deadline = time.monotonic() + POLL_BOUND_S
    while exporter.export(sdk_spans(count)) is not SpanExportResult.SUCCESS:
        if time.monotonic() > deadline:
            raise AssertionError("the --otlp receiver never answered")


async def _spans_seen(client: Client, want: int) -> dict:
    with anyio.fail_after(POLL_BOUND_S):
        while True:
            result = await client.call_tool("overview", {})
            if not result.is_error and result.structured_content["spans"] == want:
                return result.structured_content
            await anyio.sleep(0.05)


async def test_spans_sent_to_serve_otlp_are_queryable_over_mcp_as_they_arrive(
    tmp_path: Path, stdio_params, free_port: int
) -> None:
    live = tmp_path / "live"  # does not exist yet: --otlp creates it
    params = stdio_params(tmp_path, str(live), "--otlp", f"127.0.0.1:{free_port}")
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{free_port}/v1/traces", timeout=2)
    async with Client(params) as client:
        await anyio.to_thread.run_sync(_export_when_up, exporter, 4)
        first = await _spans_seen(client, 4)
        assert first["shapes"] == {"otlp": 1}
        await anyio.to_thread.run_sync(_export_when_up, exporter, 3)
        grown = await _spans_seen(client, 7)
        assert grown["traces"] == 2
    exporter.shutdown()
    assert [p.suffix for p in live.iterdir()] == [".jsonl"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_spans_sent_over_grpc_to_serve_otlp_are_queryable_over_mcp(tmp_path: Path, stdio_params) -> None:
    grpc_exporter = pytest.importorskip(
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", reason="gRPC needs the grpc extra"
    )
    live = tmp_path / "live"
    http_port, grpc_port = _free_port(), _free_port()
    params = stdio_params(tmp_path, str(live), "--otlp", f"127.0.0.1:{http_port}", "--otlp-grpc", str(grpc_port))
    exporter = grpc_exporter.OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=2)
    async with Client(params) as client:
        await anyio.to_thread.run_sync(_export_when_up, exporter, 5)
        seen = await _spans_seen(client, 5)
        assert seen["kinds"] == {"agent": 1, "llm": 4}
    exporter.shutdown()


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--otlp", "nope"], "is not [HOST:]PORT"),
        (["--otlp", "0.0.0.0:4318", "DIR"], "without a bearer token"),
        (["--otlp", "4318", "DIR", "DIR2"], "--otlp needs --otlp-dir"),
        (["--otlp-grpc", "4317", "DIR"], "--otlp-grpc PORT goes with --otlp"),
    ],
)
def test_bad_otlp_settings_are_refused_with_a_sentence(
    tmp_path: Path, server_env, arguments: list[str], complaint: str
) -> None:
    for name in ("DIR", "DIR2"):
        (tmp_path / name).mkdir()
    arguments = [str(tmp_path / a) if a.startswith("DIR") else a for a in arguments]
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "serve", *arguments],
        capture_output=True, text=True, env=server_env(tmp_path), timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert complaint in done.stderr
