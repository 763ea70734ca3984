"""`python -m bench.receive [--batches 200] [--spans 20]`: the OTLP receiver, from export to query.

Starts `halo-mcp receive` on an ephemeral 127.0.0.1 port, exports real SDK spans
with the real OTLP/HTTP exporter (protobuf), and prints: the acknowledgement
latency of one export (p50 / p90 / max; each includes the fsync), spans per
second acknowledged, and how long after the acknowledgement `Dataset.open` in
this process sees the new spans (the index reading only the grown tail).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engine.traces.dataset import Dataset


def _spans(count: int) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("agent"):
        for n in range(count - 1):
            with tracer.start_as_current_span(f"llm {n}") as span:
                span.set_attribute("openinference.span.kind", "LLM")
                span.set_attribute("input.value", "x" * 400)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receive")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--spans", type=int, default=20, help="spans per export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory, cache = Path(tmp) / "rx", Path(tmp) / "cache"
        proc = subprocess.Popen(
            [sys.executable, "-m", "halo_mcp", "receive", str(directory), "--port", "0"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            acks, seen, elapsed = _measure(proc, directory, cache, args)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    total = args.batches * args.spans
    print(f"export ack: p50 {statistics.median(acks) * 1e3:.1f} ms, p90 {_pct(acks, 0.9) * 1e3:.1f} ms, "
          f"max {max(acks) * 1e3:.1f} ms ({args.spans} spans per export, fsync included)")  # fmt: skip
    print(f"throughput: {total / elapsed:.0f} spans/s acknowledged, one exporter, {total} spans")
    print(f"ack -> Dataset.open sees it: p50 {statistics.median(seen) * 1e3:.1f} ms, max {max(seen) * 1e3:.1f} ms")
    return 0


def _measure(
    proc: subprocess.Popen, directory: Path, cache: Path, args: argparse.Namespace
) -> tuple[list[float], list[float], float]:
    url = proc.stderr.readline().split(" at ", 1)[1].split(",", 1)[0]
    exporter = OTLPSpanExporter(endpoint=url)
    batches = [_spans(args.spans) for _ in range(args.batches)]
    acks: list[float] = []
    start = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        assert exporter.export(batch) is SpanExportResult.SUCCESS
        acks.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    seen: list[float] = []
    for _ in range(20):
        assert exporter.export(_spans(args.spans)) is SpanExportResult.SUCCESS
        t0 = time.perf_counter()
        with Dataset.open([directory], cache_dir=cache) as dataset:
            assert dataset.summary
        seen.append(time.perf_counter() - t0)
    return acks, seen, elapsed


if __name__ == "__main__":
    sys.exit(main())
