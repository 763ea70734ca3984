"""`diagnose --telemetry otlp://HOST:PORT`: a run's own spans over OTLP/HTTP to a real `halo-mcp receive`."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event
from engine.agents.otlp_export import endpoint_of
from engine.tools.context import ToolContext
from engine.tools.registry import call_tool
from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio

ROOT = "# Question"
FINDING = {
    "title": "Final answers are not checked", "category": "wrong_final_answer", "impact": "high",
    "traces_affected": 1, "total_traces": 3,
    "evidence": [{"trace_id": "f39aec9b8a61fd2aaed5849cc00bc165", "span_id": "b5dd8eb7f514a817",
                  "quote": "Tomasz Karolak portrayed a character whose first name is “Marek.”"}],
}  # fmt: skip
Collect = Callable[..., Awaitable[list[Event]]]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real `halo-mcp receive` subprocess on an ephemeral port: (its URL, its directory)."""
    directory = tmp_path / "received"
    env = {**os.environ, "HALO_MCP_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "receive", str(directory), "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "receiving OTLP traces at " in line, line + proc.stderr.read()
    try:
        yield line.split(" at ", 1)[1].split(",", 1)[0], directory
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stderr.close()


def _script(llm: ScriptedLLM) -> None:
    llm.script_for(
        ROOT,
        reply.call("overview", {}),
        reply.call("final_report", {"summary": "Answers go unchecked.", "findings": [FINDING]}),
    )


async def test_a_diagnose_run_sends_its_spans_to_halo_mcp_receive_and_overview_reads_them(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, receiver: tuple[str, Path]
) -> None:
    url, directory = receiver
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    _script(llm)
    report = (await collect(make_config(telemetry=f"otlp://{host_port}")))[-1].report
    assert not any("telemetry" in note for note in report.notes)  # nothing was lost

    # the run ends after its spans were acknowledged, and acknowledged means stored
    expected = report.facts.model_calls + 4  # model calls, overview and final_report, the root agent, the run
    received = Dataset.open([directory])
    context = ToolContext(open_dataset=lambda path: received)
    overview = await call_tool("overview", context, {})
    assert (received.n_traces, received.n_spans) == (1, expected)
    assert "halo-mcp-diagnose" in overview.text and "overview" in overview.text


async def test_a_collector_that_is_down_loses_the_spans_but_not_the_run(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _script(llm)
    with caplog.at_level(logging.WARNING, logger="engine.agents.otlp_export"):
        report = (await collect(make_config(telemetry=f"otlp://127.0.0.1:{port}")))[-1].report
    assert not report.partial and report.findings
    (note,) = [n for n in report.notes if n.startswith("telemetry:")]
    assert f"could not be sent to http://127.0.0.1:{port}/v1/traces" in note and "could not reach" in note
    assert any("being dropped" in r.getMessage() for r in caplog.records)


def test_telemetry_targets_name_a_collector_or_say_what_is_missing() -> None:
    assert endpoint_of("otlp://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert endpoint_of("otlp+http://collector:4318/") == "http://collector:4318/v1/traces"
    assert endpoint_of("http://127.0.0.1:9/custom/v1/traces") == "http://127.0.0.1:9/custom/v1/traces"
    with pytest.raises(ValueError, match="needs a host and a port"):
        endpoint_of("otlp://localhost")
