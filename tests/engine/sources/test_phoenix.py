"""`phoenix://` sources against a real Arize Phoenix server.

The `arize-phoenix` package (the test extra) runs Phoenix's own server here, on
127.0.0.1 with SQLite in a temporary folder. Spans go in through the real OTel SDK
exporter (OTLP/HTTP protobuf, as an instrumented agent sends them); the same spans
are written to a file in OTLP/JSON; the tools' answers on `phoenix://` and on the
file are compared. Phoenix keeps neither a span's resource and scope nor its OTel
kind, and keeps times to the microsecond: the comparison leaves out exactly those.

Not tested against Phoenix itself: authentication (a server started with
PHOENIX_ENABLE_AUTH needs a secret and an admin login to mint a key); the refusal of
a key is tested against a local `http.server` answering 401, and a page failing
mid-way through a local proxy in front of the real server that fails the second page.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import engine.tools  # noqa: F401  (registers the tools)
from engine.errors import SourceError
from engine.sources import local, phoenix
from engine.tools.registry import call_tool
from engine.traces.dataset import Dataset
from tests.support.contexts import opening_context
from tests.support.otel_spans import spans_from_halo

pytestmark = pytest.mark.anyio
HALO = Path(__file__).resolve().parents[2] / "fixtures" / "halo"
PROJECT = "halo-realistic"
START_BOUND_S = 120.0  # Phoenix's first start migrates its SQLite database: seconds, more on a busy machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> Any:
    import json

    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def _span_count(base: str, project: str) -> int:
    count, cursor = 0, None
    while True:
        after = f"&cursor={cursor}" if cursor else ""
        page = _get_json(f"{base}/v1/projects/{project}/spans/otlpv1?limit=1000{after}")
        count += len(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def _send(base: str, spans: list[Any]) -> None:
    """Through the real OTLP/HTTP exporter; then wait until Phoenix has stored them all."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    project = spans[0].resource.attributes["openinference.project.name"]
    try:
        before = _span_count(base, project)
    except urllib.error.HTTPError:
        before = 0
    exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _span_count(base, project) >= before + len(spans):
                return
        except urllib.error.HTTPError:
            pass  # the project appears with its first stored span
        time.sleep(0.2)
    raise AssertionError(f"Phoenix did not store {len(spans)} spans in 60 s")


def _write_otlp_json(spans: list[Any], path: Path) -> None:
    """The same spans as an OTLP/JSON ExportTraceServiceRequest (the protobuf JSON mapping)."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    path.write_text(MessageToJson(encode_spans(spans)).replace("\n", "") + "\n")


@pytest.fixture(scope="module")
def phoenix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Phoenix server on 127.0.0.1 holding the HALO realistic traces in `PROJECT`."""
    spec = importlib.util.find_spec("phoenix")  # located, not imported: its dependencies warn on import
    if spec is None or not any((Path(d) / "server").is_dir() for d in spec.submodule_search_locations or ()):
        pytest.skip("arize-phoenix is not installed (pip install -e '.[test]')")
    work = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port), "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    code = "import sys; from phoenix.server.main import main; sys.argv = ['phoenix', 'serve']; sys.exit(main())"
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_BOUND_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (work / "server.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"the Phoenix server did not start:\n{tail}") from None
                time.sleep(0.3)
        _send(base, spans_from_halo(HALO / "realistic_traces.jsonl", **{"openinference.project.name": PROJECT}))
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def same_spans_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("phoenix-file") / "spans.jsonl"
    _write_otlp_json(spans_from_halo(HALO / "realistic_traces.jsonl", **{"openinference.project.name": PROJECT}), path)
    return path


def _url(base: str, project: str = PROJECT) -> str:
    return f"phoenix://{base.removeprefix('http://')}/{project}"


# What names where an answer came from, and what Phoenix does not keep (module docstring): the
# service (a resource attribute), and so the raw JSON's size and the raw text around a match.
_NOT_COMPARED = {
    "dataset", "sources", "freshness", "paths", "files", "services", "services_total", "service", "resource",
    "scope", "raw_size", "before", "after",
}


def _same(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items() if k not in _NOT_COMPARED}
    if isinstance(value, list):
        return [_same(v) for v in value]
    if isinstance(value, float):
        return round(value, 2)  # durations: Phoenix keeps microseconds
    return value


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("overview", {}),
    ("query", {}),
    ("query", {"has_errors": True}),
    ("search", {"pattern": "list_files"}),
    ("view_trace", {"trace_id": "84559aaf5d124026b1da35a7a66d9e94"}),
    ("view_spans", {"trace_id": "84559aaf5d124026b1da35a7a66d9e94", "span_ids": ["261fcb79ae604e8c"]}),
    ("patterns", {}),
]


@pytest.mark.parametrize(("name", "arguments"), CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
async def test_phoenix_answers_as_the_same_spans_in_a_file(
    phoenix_server: str, same_spans_file: Path, name: str, arguments: dict[str, Any]
) -> None:
    from_phoenix = await call_tool(name, opening_context(_url(phoenix_server)), dict(arguments))
    from_file = await call_tool(name, opening_context(str(same_spans_file)), dict(arguments))
    assert _same(from_phoenix.structured()) == _same(from_file.structured())
    if name == "overview":
        got = from_phoenix.structured()
        assert (got["spans"], got["traces"]) == (58, 3)


async def test_run_code_sees_the_phoenix_spans(phoenix_server: str) -> None:
    from sandbox import run_code

    with Dataset.open([_url(phoenix_server)]) as ds:
        result = await run_code("(len(spans), int(spans.trace_id.nunique()))", dataset=ds)
    assert result.ok, result.error
    assert result.value == "(58, 3)"


def test_a_reopen_fetches_only_the_new_spans(phoenix_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "0")
    project = "halo-growing"
    url = _url(phoenix_server, project)
    spans = spans_from_halo(HALO / "realistic_traces.jsonl", salt=1, **{"openinference.project.name": project})
    first_trace = spans[0].context.trace_id
    _send(phoenix_server, [s for s in spans if s.context.trace_id == first_trace])
    first = Dataset.open([url])
    assert first.n_traces == 1
    _send(phoenix_server, [s for s in spans if s.context.trace_id != first_trace])
    again = Dataset.open([url])
    assert (again.n_traces, again.n_spans) == (3, 58)
    assert again.sources[0].fetches == 2 and again.sources[0].complete
    assert again.quality.duplicate_span_ids == 0


def test_an_unknown_project_is_named_with_the_ones_there(phoenix_server: str) -> None:
    with pytest.raises(SourceError, match=r"HTTP 404\): no project 'nope'; the server has: .*halo-realistic"):
        Dataset.open([_url(phoenix_server, "nope")])


def test_an_unreachable_host_is_an_error_naming_the_url() -> None:
    with pytest.raises(SourceError, match=r"^phoenix://127\.0\.0\.1:9/x \(GET .*\): cannot reach the server"):
        Dataset.open(["phoenix://127.0.0.1:9/x"])


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request 401, as a Phoenix with authentication does to a wrong key."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_refused_key_is_named_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(phoenix.API_KEY_ENV, "secret-key-123")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError) as caught:
            Dataset.open([f"phoenix://127.0.0.1:{server.server_address[1]}/p"])
    finally:
        server.shutdown()
        server.server_close()
    assert "HTTP 401" in str(caught.value) and "$PHOENIX_API_KEY was refused" in str(caught.value)
    assert "secret-key-123" not in str(caught.value)


def _proxy(upstream: str, fail: dict[str, bool]) -> ThreadingHTTPServer:
    """Forwards to the real Phoenix; while fail["on"], a request carrying a cursor (a second page) answers 500."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if fail["on"] and "cursor=" in self.path:
                self.send_response(500)
                self.end_headers()
                return
            with urllib.request.urlopen(upstream + self.path, timeout=10) as answer:
                body = answer.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_page_failing_midway_keeps_what_was_copied_and_the_next_open_completes(
    phoenix_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "0")
    monkeypatch.setattr(phoenix, "PAGE_LIMIT", 20)
    fail = {"on": True}
    server = _proxy(phoenix_server, fail)
    url = f"phoenix://127.0.0.1:{server.server_address[1]}/{PROJECT}"
    try:
        partial = Dataset.open([url])
        [fresh] = partial.sources
        assert partial.n_spans == 20 and not fresh.complete
        assert "HTTP 500" in fresh.note and "the next open fetches the rest" in fresh.note
        fail["on"] = False
        whole = Dataset.open([url])
        assert (whole.n_spans, whole.n_traces) == (58, 3) and whole.sources[0].complete
        assert whole.quality.duplicate_span_ids == 0
    finally:
        server.shutdown()
        server.server_close()


async def test_diagnose_without_a_model_reports_on_phoenix_as_on_the_file(
    phoenix_server: str, same_spans_file: Path, tmp_path: Path
) -> None:
    from engine.agents import DiagnoseConfig, diagnose
    from engine.llm import LLMConfig

    config = DiagnoseConfig(llm=LLMConfig(), runs_dir=tmp_path / "runs")
    on_phoenix = await diagnose("Why do runs fail?", opening_context(_url(phoenix_server)), config)
    on_file = await diagnose("Why do runs fail?", opening_context(str(same_spans_file)), config)
    assert on_phoenix.produced_by == "deterministic" and on_phoenix.findings
    assert [(f.title, f.frequency.traces_affected) for f in on_phoenix.findings] == [
        (f.title, f.frequency.traces_affected) for f in on_file.findings
    ]
    assert on_phoenix.citations_failed == 0 and on_phoenix.citations_checked >= len(on_phoenix.findings)


def test_a_server_that_is_not_phoenix_is_named_as_such(tmp_path: Path) -> None:
    """A plain web server (Python's file server on an empty folder): 404 on every path, the
    project list included."""
    import functools
    from http.server import SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError, match=r"HTTP 404\): no project 'p' here, or not a Phoenix server"):
            Dataset.open([f"phoenix://127.0.0.1:{server.server_address[1]}/p"])
    finally:
        server.shutdown()
        server.server_close()
