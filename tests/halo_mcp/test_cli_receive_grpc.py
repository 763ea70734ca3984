"""`halo-mcp receive DIR --grpc-port`: the real OTLP/gRPC exporter into the real CLI receiver.

Every receiver is a subprocess of the real CLI on an ephemeral port; raw calls go
through a real `grpc` channel to the service's full method name, so what a
Collector or an SDK sees is what is checked.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

grpc = pytest.importorskip("grpc", reason="the OTLP/gRPC receiver needs the grpc extra (grpcio)")
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: E402
from support.otlp_export import sdk_spans, span_ids  # noqa: E402

TOKEN = "grpc-test-token"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Receiver:
    def __init__(self, proc: subprocess.Popen, http_url: str, grpc_target: str) -> None:
        self.proc, self.http_url, self.grpc_target = proc, http_url, grpc_target


def _start(directory: Path, env: dict[str, str], *extra: str) -> Receiver:
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "receive", str(directory), "--port", "0", "--grpc-port", "0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    line = proc.stderr.readline()
    if "OTLP/gRPC at grpc://" not in line:
        proc.wait(timeout=30)
        raise AssertionError(f"receiver did not start with gRPC: {line}{proc.stderr.read()}")
    http_url = line.split(" at ", 1)[1].split(",", 1)[0]
    return Receiver(proc, http_url, line.rsplit("grpc://", 1)[1].strip())


@pytest.fixture
def start(tmp_path: Path, server_env) -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def run(directory: Path, *extra: str) -> Receiver:
        started.append(_start(directory, server_env(tmp_path), *extra))
        return started[-1]

    yield run
    for receiver in started:
        if receiver.proc.poll() is None:
            receiver.proc.send_signal(signal.SIGINT)
            receiver.proc.wait(timeout=30)
        receiver.proc.stderr.close()


def _overview(directory: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "overview", str(directory), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def _raw_export(target: str, body: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return call(body, metadata=metadata, timeout=10)


def test_the_real_grpc_exporter_sends_spans_that_overview_reads(start, tmp_path: Path, server_env) -> None:
    directory = tmp_path / "live"
    receiver = start(directory)
    exporter = OTLPSpanExporter(endpoint=receiver.grpc_target, insecure=True, timeout=10)
    first = sdk_spans(4)
    assert exporter.export(first) is SpanExportResult.SUCCESS
    env = server_env(tmp_path)
    assert _overview(directory, env)["spans"] == 4  # acknowledged means stored
    # One store behind both transports: the same spans retried over HTTP are not stored twice.
    http = HttpExporter(endpoint=receiver.http_url, timeout=10)
    assert http.export(first) is SpanExportResult.SUCCESS
    assert http.export(sdk_spans(3)) is SpanExportResult.SUCCESS
    overview = _overview(directory, env)
    assert (overview["spans"], overview["traces"]) == (7, 2)
    assert overview["kinds"] == {"agent": 2, "llm": 5}
    stored = {s["spanId"] for line in (directory.glob("*.jsonl")) for raw in line.read_bytes().splitlines()
              for rs in orjson.loads(raw)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}  # fmt: skip
    assert span_ids(first) <= stored
    exporter.shutdown()
    http.shutdown()


def test_grpc_answers_carry_otlp_status_codes(start, tmp_path: Path) -> None:
    receiver = start(tmp_path / "rx", "--max-body-bytes", "2000")
    with pytest.raises(grpc.RpcError) as garbage:
        _raw_export(receiver.grpc_target, b"\xff\x00garbage")
    assert garbage.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a protobuf ExportTraceServiceRequest" in garbage.value.details()
    big = ExportTraceServiceRequest()
    big.resource_spans.add().scope_spans.add().spans.add(name="x" * 5000, trace_id=b"\1" * 16, span_id=b"\2" * 8)
    with pytest.raises(grpc.RpcError) as too_big:
        _raw_export(receiver.grpc_target, big.SerializeToString())
    assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not list((tmp_path / "rx").iterdir())  # nothing stored


def test_unusable_spans_are_answered_as_partial_success(start, tmp_path: Path, server_env) -> None:
    directory = tmp_path / "rx"
    receiver = start(directory)
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(name="ok", trace_id=b"\1" * 16, span_id=b"\2" * 8, start_time_unix_nano=1, end_time_unix_nano=2)
    spans.add(name="short id", trace_id=b"\1" * 16, span_id=b"\3" * 4)
    response = ExportTraceServiceResponse()
    response.ParseFromString(_raw_export(receiver.grpc_target, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message.startswith("1 of 2 spans rejected")
    assert _overview(directory, server_env(tmp_path))["spans"] == 1


def test_with_a_token_grpc_exports_need_the_bearer_metadata(start, tmp_path: Path, server_env) -> None:
    directory = tmp_path / "rx"
    receiver = start(directory, "--token", TOKEN)
    body = ExportTraceServiceRequest()
    body.resource_spans.add().scope_spans.add().spans.add(name="n", trace_id=b"\1" * 16, span_id=b"\2" * 8)
    for metadata in ((), (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as refused:
            _raw_export(receiver.grpc_target, body.SerializeToString(), metadata)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    exporter = OTLPSpanExporter(
        endpoint=receiver.grpc_target, insecure=True, timeout=10, headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert exporter.export(sdk_spans(2)) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert _overview(directory, server_env(tmp_path))["spans"] == 2


def test_a_grpc_port_in_use_is_refused_with_a_sentence(start, tmp_path: Path, server_env) -> None:
    receiver = start(tmp_path / "a")
    port = receiver.grpc_target.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "receive", str(tmp_path / "b"), "--port", "0", "--grpc-port", port],
        capture_output=True, text=True, env=server_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot receive OTLP" in done.stderr and "gRPC" in done.stderr and "Traceback" not in done.stderr


def test_without_grpcio_the_grpc_port_names_the_extra(tmp_path: Path, server_env) -> None:
    shadow = tmp_path / "shadow" / "grpc"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('grpcio is not installed here')\n")
    env = server_env(tmp_path)
    env["PYTHONPATH"] = f"{shadow.parent}:{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "receive", str(tmp_path / "rx"), "--port", "0", "--grpc-port", "0"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pip install 'halo-mcp[grpc]'" in done.stderr and "Traceback" not in done.stderr
