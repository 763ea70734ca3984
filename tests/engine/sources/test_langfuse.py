"""`langfuse://` sources against a real local HTTP server that replays recorded API pages.

No Langfuse server runs here. The server below is Python's own `http.server` on
127.0.0.1, answering `GET /api/public/v2/observations` with the pages recorded in
tests/fixtures/langfuse/api_pages.json (made with the SDK's `ObservationV2` model,
see that folder's README), cursor by cursor, checking the basic-auth keys and
honouring `fromStartTime` as the API does; `/api/public/projects` names the keys'
project. What was not tested against a real Langfuse: its ordering of pages and
its exact error bodies.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support.contexts import without_keys

import engine.tools  # noqa: F401  (registers the tools)
from engine.errors import SourceError
from engine.sources import langfuse, local
from engine.tools.registry import call_tool
from engine.traces.dataset import Dataset
from engine.traces.readers._values import to_ns
from tests.support.contexts import opening_context

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "langfuse"
PUBLIC, SECRET = "pk-lf-test", "sk-lf-test"


@dataclass
class Replay:
    """What the replay server answers, and what it was asked."""

    pages: list[dict[str, Any]]
    fail_page: int | None = None  # this page (0-based) answers 500
    rate_limited: int = 0  # the first N observation requests answer 429
    v1_only: bool = False  # a server before Langfuse v3: no v2 observations, v1 paged by number
    requests: list[str] = field(default_factory=list)


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # stderr stays quiet
            pass

        def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            replay.requests.append(self.path)
            keys = base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {keys}":
                return self._send(401, {"message": "Invalid credentials"})
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/api/public/projects":
                return self._send(200, {"data": [{"id": "proj-demo", "name": "support-bot"}]})
            if replay.v1_only and parts.path == "/api/public/observations":
                return self._v1(query)
            if parts.path != "/api/public/v2/observations" or replay.v1_only:
                return self._send(404, {"message": "not found"})
            if replay.rate_limited > 0:
                replay.rate_limited -= 1
                return self._send(429, {"message": "rate limited"}, {"Retry-After": "0"})
            index = int(query["cursor"][1:]) if "cursor" in query else 0
            if index == replay.fail_page:
                return self._send(500, {"message": "internal error"})
            page = replay.pages[index]
            since = to_ns(query["fromStartTime"], "fromStartTime") if "fromStartTime" in query else None
            data = [o for o in page["data"] if since is None or to_ns(o["startTime"], "startTime") >= since]
            return self._send(200, {"data": data, "meta": page["meta"]})

        def _v1(self, query: dict[str, str]) -> None:
            every = [o for page in replay.pages for o in page["data"]]
            number, limit = int(query["page"]), int(query["limit"])
            size = 7  # smaller than `limit`, as a server with its own maximum would page
            assert limit >= size
            pages = (len(every) + size - 1) // size
            data = every[(number - 1) * size : number * size]
            return self._send(200, {"data": data, "meta": {"page": number, "limit": size, "totalItems": len(every),
                                                           "totalPages": pages}})  # fmt: skip

    return Handler


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Replay, str]]:
    """A replay server on 127.0.0.1 and the `langfuse://` URL naming it (plain HTTP: `?tls=0`)."""
    monkeypatch.setenv(langfuse.PUBLIC_KEY_ENV, PUBLIC)
    monkeypatch.setenv(langfuse.SECRET_KEY_ENV, SECRET)
    monkeypatch.setattr(langfuse, "RATE_LIMIT_BACKOFF_S", 0.01)
    state = Replay(json.loads((FIXTURES / "api_pages.json").read_text()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"langfuse://127.0.0.1:{server.server_address[1]}?tls=0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


_ORIGIN_KEYS = ("dataset", "sources", "freshness", "paths", "files")


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("overview", {}),
    ("query", {}),
    ("query", {"has_errors": True}),
    ("search", {"pattern": "rate limit"}),
    ("view_trace", {"trace_id": "00000000000000000000000000000002"}),
    ("view_spans", {"trace_id": "00000000000000000000000000000003", "span_ids": ["0003000000000003"]}),
    ("patterns", {}),
]


@pytest.mark.parametrize(("name", "arguments"), CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
async def test_the_api_copy_answers_as_the_export_file(replay, name: str, arguments: dict[str, Any]) -> None:
    _, url = replay
    from_api = await call_tool(name, opening_context(url), dict(arguments))
    from_file = await call_tool(name, opening_context(str(FIXTURES / "export.json")), dict(arguments))
    assert without_keys(from_api.structured(), _ORIGIN_KEYS) == without_keys(from_file.structured(), _ORIGIN_KEYS)
    if name == "view_trace":  # the observation's input and output, read through the shape's own attributes
        assert "in: user: refund for A-18" in from_api.text and "TimeoutError" in from_api.text
    if name == "view_spans":
        assert "rate limit exceeded" in str(from_api.structured()["spans"][0]["attributes"])


async def test_run_code_on_the_api_copy_computes_what_it_does_on_the_export_file(replay) -> None:
    from sandbox import run_code

    _, url = replay
    code = (
        "(len(spans), sorted(spans.kind.unique()), int((spans.status == 'ERROR').sum()),"
        " int(spans.input_tokens.sum()))"
    )
    values = []
    for spec in (url, str(FIXTURES / "export.json")):
        ctx = opening_context(spec)
        ctx.run_code = run_code
        ran = (await call_tool("run_code", ctx, {"code": code})).result
        assert ran.ok, ran.error
        values.append(ran.value)
    assert values[0] == values[1] and values[0].startswith("(")


def test_pages_are_followed_by_cursor_and_the_copy_is_complete(replay) -> None:
    state, url = replay
    with Dataset.open([url]) as ds, Dataset.open([FIXTURES / "export.json"]) as file_ds:
        assert (ds.n_spans, ds.n_traces) == (file_ds.n_spans, file_ds.n_traces) == (20, 4)
        assert sorted(ds.raw(r)["id"] for r in range(ds.n_spans)) == sorted(
            file_ds.raw(r)["id"] for r in range(file_ds.n_spans)
        )
        [fresh] = ds.sources
        assert fresh.complete and fresh.source == url
    observation_requests = [r for r in state.requests if r.startswith("/api/public/v2/observations")]
    assert len(observation_requests) == len(state.pages) == 4
    assert "cursor=c1" in observation_requests[1] and "fields=" in observation_requests[0]


def test_a_server_without_v2_observations_is_read_through_v1_pages(replay) -> None:
    state, url = replay
    state.v1_only = True
    with Dataset.open([url]) as ds:
        assert (ds.n_spans, ds.n_traces) == (20, 4) and ds.sources[0].complete
    asked = [r.split("?")[0] + ("?page=" + r.split("page=")[1][:1] if "page=" in r else "") for r in state.requests]
    assert asked == ["/api/public/v2/observations"] + [f"/api/public/observations?page={n}" for n in (1, 2, 3)]


def test_a_reopen_asks_only_for_newer_observations(replay, monkeypatch: pytest.MonkeyPatch) -> None:
    state, url = replay
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "0")
    assert Dataset.open([url]).n_spans == 20
    state.requests.clear()
    again = Dataset.open([url])
    assert again.n_spans == 20 and again.sources[0].fetches == 2 and again.quality.duplicate_span_ids == 0
    assert "fromStartTime=2026-11-03T09%3A40%3A08.900000Z" in state.requests[0]


def test_a_page_failing_midway_keeps_what_was_copied_and_says_incomplete(replay, monkeypatch) -> None:
    state, url = replay
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    state.fail_page = 2
    ds = Dataset.open([url])
    fresh = ds.sources[0]
    assert ds.n_spans == 12 and not fresh.complete and "INCOMPLETE" in fresh.line()
    assert "HTTP 500" in fresh.note and url in fresh.note and SECRET not in fresh.note
    state.fail_page = None  # the next open continues, whatever the throttle, and copies nothing twice
    ds = Dataset.open([url])
    assert ds.n_spans == 20 and ds.sources[0].complete and ds.quality.duplicate_span_ids == 0


def test_a_fetch_past_its_page_limit_says_incomplete_and_the_next_goes_on(replay, monkeypatch) -> None:
    state, url = replay
    monkeypatch.setattr(langfuse, "FETCH_MAX_PAGES", 1)
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    seen, fetches = [], 0
    fresh = None
    while fresh is None or not fresh.complete:
        ds = Dataset.open([url])
        fresh, fetches = ds.sources[0], fetches + 1
        assert fresh.complete or "FETCH_MAX_PAGES" in fresh.note
        seen.append(ds.n_spans)
    assert seen == [6, 12, 18, 20] and fetches == len(state.pages) and ds.quality.duplicate_span_ids == 0
    assert [r for r in state.requests if "cursor=" in r][-1].endswith("cursor=c3")


def test_a_rate_limit_is_retried_then_named(replay, monkeypatch: pytest.MonkeyPatch) -> None:
    state, url = replay
    state.rate_limited = langfuse.RATE_LIMIT_RETRIES  # the last retry gets through
    assert Dataset.open([url]).sources[0].complete
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "0")
    state.rate_limited = 100
    with pytest.raises(SourceError, match=r"rate limited \(HTTP 429\) after 4 retries \(RATE_LIMIT_RETRIES\)"):
        Dataset.open([url.replace("?tls=0", "/support-bot?tls=0")])


def test_wrong_keys_are_refused_by_name_without_the_keys(replay, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = replay
    monkeypatch.setenv(langfuse.SECRET_KEY_ENV, "sk-lf-wrong")
    refused = r"^langfuse://127\.0\.0\.1:\d+\?tls=0 \(GET .*refused the API keys \(HTTP 401\)"
    with pytest.raises(SourceError, match=refused) as err:
        Dataset.open([url])
    assert "sk-lf-wrong" not in str(err.value) and PUBLIC not in str(err.value)
    monkeypatch.delenv(langfuse.SECRET_KEY_ENV)
    with pytest.raises(SourceError, match="set \\$LANGFUSE_PUBLIC_KEY and \\$LANGFUSE_SECRET_KEY"):
        Dataset.open([url])


def test_a_project_the_keys_do_not_belong_to_is_refused(replay) -> None:
    _, url = replay
    assert Dataset.open([url.replace("?tls=0", "/support-bot?tls=0")]).n_spans == 20
    with pytest.raises(SourceError, match="belong to project\\(s\\) support-bot, not 'other'"):
        Dataset.open([url.replace("?tls=0", "/other?tls=0")])


def test_an_unreachable_host_is_an_error_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(langfuse.PUBLIC_KEY_ENV, PUBLIC)
    monkeypatch.setenv(langfuse.SECRET_KEY_ENV, SECRET)
    with pytest.raises(SourceError, match=r"^langfuse://127\.0\.0\.1:9\?tls=0 \(GET .*\): cannot reach the server"):
        Dataset.open(["langfuse://127.0.0.1:9?tls=0"])


def test_a_host_without_the_public_api_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain web server (Python's file server on an empty folder): 404 on both observation endpoints."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    monkeypatch.setenv(langfuse.PUBLIC_KEY_ENV, PUBLIC)
    monkeypatch.setenv(langfuse.SECRET_KEY_ENV, SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        absent = r"GET /api/public/observations\): no Langfuse public API here \(HTTP 404\)"
        with pytest.raises(SourceError, match=absent):
            Dataset.open([f"langfuse://127.0.0.1:{server.server_address[1]}?tls=0"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_diagnose_without_a_model_reports_on_the_api_copy_as_on_the_export(replay, tmp_path: Path) -> None:
    from engine.agents import DiagnoseConfig, diagnose
    from engine.llm import LLMConfig

    _, url = replay
    config = DiagnoseConfig(llm=LLMConfig(), runs_dir=tmp_path / "runs")
    on_api = await diagnose("Why do runs fail?", opening_context(url), config)
    on_file = await diagnose("Why do runs fail?", opening_context(str(FIXTURES / "export.json")), config)
    assert on_api.produced_by == "deterministic" and on_api.findings
    assert [(f.title, f.frequency.traces_affected) for f in on_api.findings] == [
        (f.title, f.frequency.traces_affected) for f in on_file.findings
    ]
    assert on_api.citations_failed == 0
