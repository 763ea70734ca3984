"""Arize Phoenix as a trace source: a project's spans, copied as OTLP/JSON files.

`phoenix://HOST:PORT[/PROJECT][?tls=1]` reads
`GET /v1/projects/{PROJECT}/spans/otlpv1` (Phoenix's REST API; cursor-paged,
`start_time` from `since_ns`), project `default` when none is named, over plain
HTTP unless `?tls=1` (Phoenix usually runs on a local port without TLS). With
$PHOENIX_API_KEY set (a server started with authentication) it is sent as a bearer
token; it is never read from the URL.

The API answers spans in OTLP's JSON structure with the proto field names, every
unset member present as null; the copy drops the nulls and writes one
`ExportTraceServiceRequest` per trace into one JSONL file per fetch (the `otlp`
reader shape; one file because the index keeps a trace within one file). Phoenix
does not keep a span's resource, scope or OTel span kind (its kind is the
OpenInference `openinference.span.kind` attribute, which is kept), and stores times
to the microsecond: the copy has what Phoenix has. Plain HTTP with the standard
library: the `arize-phoenix-client` package is not needed to read.

Limits, each a named setting below: `PAGE_LIMIT` spans per page, at most
`FETCH_MAX_PAGES` pages per fetch (past it the copy is incomplete and the next open
continues), `REQUEST_TIMEOUT_S` per request. The API pages newest first, so a fetch
that stops part-way has not copied what is older than its last page: it keeps what
it wrote, reports the copy incomplete and leaves the watermark it started from and
the ids it wrote in `RESUME`; the next fetch starts over from that watermark, skips those
spans and writes them again with the rest into its own file, removing the partial
one (a trace stays within one file).
Incremental fetches copy spans that start strictly after the newest one copied: a
span arriving later with an older start time is missed.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

import orjson

from engine.errors import SourceError
from engine.sources.base import Fetched, SourceURL
from engine.sources.web import PageFailed, StatusError, base_url, get_json, iso_utc

__all__ = ["API_KEY_ENV", "DEFAULT_PROJECT", "FETCH_MAX_PAGES", "PAGE_LIMIT", "REQUEST_TIMEOUT_S", "RESUME", "fetch"]

API_KEY_ENV = "PHOENIX_API_KEY"
DEFAULT_PROJECT = "default"
# Spans asked for per page.
PAGE_LIMIT = 1000
# Pages per fetch; past it the copy is incomplete and the next open goes on.
FETCH_MAX_PAGES = 500
# Seconds one request may take.
REQUEST_TIMEOUT_S = 30.0
# Left beside the copy by a fetch that stopped part-way (module docstring).
RESUME = ".phoenix-resume"


def _project(url: SourceURL) -> str:
    return urllib.parse.unquote(url.path.strip("/")) or DEFAULT_PROJECT


def _headers() -> dict[str, str]:
    key = os.environ.get(API_KEY_ENV, "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _get(url: SourceURL, path: str, params: dict[str, Any]) -> Any:
    """One API answer, parsed; SourceError for what retrying cannot fix, PageFailed for what it may."""
    key = os.environ.get(API_KEY_ENV, "")
    shown = f"{url.display} (GET {path})"
    try:
        return get_json(base_url(url, tls_default=False), path, params, _headers(), shown, REQUEST_TIMEOUT_S)
    except StatusError as exc:
        if exc.code in (401, 403):
            told = f"${API_KEY_ENV} was refused" if key else f"it needs an API key: set ${API_KEY_ENV}"
            raise SourceError(f"{shown}: the server refused the request (HTTP {exc.code}); {told}") from None
        if exc.code == 404:
            raise SourceError(f"{shown}: not found (HTTP 404): {_projects_hint(url)}") from None
        raise PageFailed(f"{shown}: HTTP {exc.code} {exc.reason}") from None


def _projects_hint(url: SourceURL) -> str:
    """Which projects the server has, for an error about one it has not (best effort; read
    directly, not through `_get`, whose 404 would ask for this hint again)."""
    try:
        base = base_url(url, tls_default=False)
        answer = get_json(base, "/v1/projects", {"limit": 100}, _headers(), url.display, REQUEST_TIMEOUT_S)
    except (StatusError, PageFailed):
        return f"no project {_project(url)!r} here, or not a Phoenix server"
    projects = answer.get("data") if isinstance(answer, dict) else None
    names = [str(p.get("name")) for p in projects or [] if isinstance(p, dict)]
    return f"no project {_project(url)!r}; the server has: {', '.join(names) or 'none'}"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _resume(dest: Path) -> tuple[bool, int | None, list[dict[str, Any]], list[Path]]:
    """What an incomplete fetch left: whether one did, its watermark, the spans it wrote and their files.

    The spans are read back so this fetch writes them again with the rest, in one file: the
    index keeps a trace within one file, and the first pages hold part of the newest traces.
    """
    try:
        state = orjson.loads((dest.parent / RESUME).read_bytes())
        files = [Path(f) for f in state.get("files") or ()]
        spans = [
            span
            for file in files if file.is_file()
            for line in file.read_bytes().splitlines() if line.strip()
            for resource in orjson.loads(line)["resourceSpans"]
            for scope in resource["scopeSpans"]
            for span in scope["spans"]
        ]
        return True, state.get("since"), spans, files
    except (OSError, orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return False, None, [], []


def _start(span: dict[str, Any]) -> int | None:
    value = span.get("start_time_unix_nano")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # the reader reports the span


def fetch(url: SourceURL, dest: Path, since_ns: int | None) -> Fetched:
    """Copy the project's spans starting after `since_ns` into a JSONL file under `dest` (module docstring)."""
    if not url.host:
        raise SourceError(f"{url.display}: name the Phoenix host, as phoenix://HOST:PORT[/PROJECT]")
    path = f"/v1/projects/{urllib.parse.quote(_project(url), safe='')}/spans/otlpv1"
    resuming, resumed_since, written, earlier_files = _resume(dest)
    since = resumed_since if resuming else since_ns
    seen = {str(span.get("span_id")) for span in written}
    out = Fetched()
    got: list[dict[str, Any]] = list(written)
    cursor: str | None = None
    try:
        for _ in range(FETCH_MAX_PAGES):
            bound = iso_utc(since) if since is not None else None
            answer = _get(url, path, {"limit": PAGE_LIMIT, "cursor": cursor, "start_time": bound})
            if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
                raise PageFailed(f"{url.display}: a page has no `data` list of spans")
            for span in answer["data"]:
                if not isinstance(span, dict):
                    continue
                start = _start(span)
                if since is not None and start is not None and start <= since:
                    continue
                if str(span.get("span_id")) in seen:
                    continue
                got.append(_without_nulls(span))
            cursor = answer.get("next_cursor") or None
            if not cursor:
                break
        else:
            out.complete = False
            out.note = f"copied {FETCH_MAX_PAGES:,} pages (FETCH_MAX_PAGES) and more wait; the next open copies more"
    except PageFailed as exc:
        if len(got) == len(written):
            raise SourceError(str(exc)) from None  # nothing new: what an earlier fetch copied stays as it was
        out.complete = False
        out.note = f"stopped after {len(got):,} spans: {exc}; the next open fetches the rest"
    if got:
        # The API pages newest first: the copy is in start order, trace by trace, as an exporter writes.
        got.sort(key=lambda span: (_start(span) or 0, str(span.get("span_id"))))
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for span in got:
            by_trace.setdefault(str(span.get("trace_id")), []).append(span)
        lines = [
            orjson.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": spans}]}]})
            for spans in by_trace.values()
        ]
        target = dest / "spans.jsonl"
        target.write_bytes(b"\n".join(lines) + b"\n")
        out.files.append(target)
        for earlier in earlier_files:  # their spans are in `target` now
            earlier.unlink(missing_ok=True)
    starts = [s for s in (_start(span) for span in got) if s is not None]
    newest = max(starts) if starts else None
    out.newest_ns = newest
    resume = dest.parent / RESUME
    if out.complete:
        resume.unlink(missing_ok=True)
    else:  # the next fetch starts from this one's watermark, not `newest`, and skips what was written
        resume.write_bytes(orjson.dumps({"since": since, "files": [str(f) for f in out.files]}))
    return out
