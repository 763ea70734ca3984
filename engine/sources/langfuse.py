"""Langfuse as a trace source: its public API's observations, copied as Langfuse export files.

`langfuse://HOST[:PORT][/PROJECT][?tls=0]` reads
`GET /api/public/v2/observations` (cursor-paged, `fromStartTime` from `since_ns`),
or on a server without it (404: Langfuse before v3) `GET /api/public/observations`
(paged by number up to `meta.totalPages`), with HTTP basic auth, the public key as
user and the secret key as password, from $LANGFUSE_PUBLIC_KEY /
$LANGFUSE_SECRET_KEY (never from the URL). HTTPS unless `?tls=0` (a local server
on plain HTTP). Keys belong to one project; naming `/PROJECT` makes the fetch
check that the keys' project has that name or id.

A fetch writes one JSONL file of observations grouped by trace (the `langfuse`
reader shape, so the copy reads like an export; one file because the index keeps a
trace within one file: a trace whose observations straddle two fetches reads as
two traces). Observations carry their `traceId`; trace-level
records (`GET /api/public/traces`) add no span and are not fetched. Plain HTTP with
the standard library: the Langfuse SDK is not needed to read.

Limits, each a named setting below: `PAGE_LIMIT` observations per page, at most
`FETCH_MAX_PAGES` pages per fetch (past it the copy is incomplete and the next open
continues), `REQUEST_TIMEOUT_S` per request, and a 429 answer retried
`RATE_LIMIT_RETRIES` times with doubling waits from `RATE_LIMIT_BACKOFF_S` (or the
server's Retry-After, at most `RATE_LIMIT_MAX_WAIT_S`). A page that fails after
others were written leaves those files and reports the copy incomplete; the watermark
it started from, the cursor of the page it stopped at and the ids it wrote go to
`RESUME`, so the next fetch goes on from that page with that watermark (whatever
order the pages come in) and skips those ids instead of copying them twice. Incremental fetches
copy observations that start strictly after the newest one copied: one arriving
later with exactly that start time is missed.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import orjson

from engine.errors import SourceError
from engine.sources.base import Fetched, SourceURL
from engine.sources.web import PageFailed, StatusError, base_url, get_json, iso_utc
from engine.traces.readers._values import RECORD_ERRORS, to_ns

__all__ = [
    "FETCH_MAX_PAGES",
    "FIELDS",
    "V1_PAGE_LIMIT",
    "PAGE_LIMIT",
    "RESUME",
    "PUBLIC_KEY_ENV",
    "RATE_LIMIT_BACKOFF_S",
    "RATE_LIMIT_MAX_WAIT_S",
    "RATE_LIMIT_RETRIES",
    "REQUEST_TIMEOUT_S",
    "SECRET_KEY_ENV",
    "fetch",
]

PUBLIC_KEY_ENV = "LANGFUSE_PUBLIC_KEY"
SECRET_KEY_ENV = "LANGFUSE_SECRET_KEY"
# Observations per page (the API's maximum is 1000).
PAGE_LIMIT = 1000
# Pages one fetch copies at most (held in memory, written as one file); past it the copy
# is incomplete and the next open continues.
FETCH_MAX_PAGES = 200
# Seconds one request may take (connect and answer).
REQUEST_TIMEOUT_S = 30.0
# A 429 answer is retried this many times, waiting RATE_LIMIT_BACKOFF_S, then twice that, ...
RATE_LIMIT_RETRIES = 4
RATE_LIMIT_BACKOFF_S = 1.0
# The longest single wait, whatever Retry-After asks for.
RATE_LIMIT_MAX_WAIT_S = 30.0
# Observations per page of the v1 endpoint (servers without v2 observations), and the
# token that marks a resume point on it.
V1_PAGE_LIMIT = 100
_V1 = "page:"
V2_PATH, V1_PATH = "/api/public/v2/observations", "/api/public/observations"
# Field groups asked for: everything the reader maps (ids, level, io, model, usage, cost).
FIELDS = "core,basic,time,io,metadata,model,usage"
# Hidden file (never indexed) beside the fetch folders: where an incomplete copy resumes, the ids it wrote.
RESUME = ".langfuse-resume"


class _Absent(SourceError):
    """The server has no such endpoint (HTTP 404)."""


def _auth(url: SourceURL) -> str:
    public, secret = os.environ.get(PUBLIC_KEY_ENV, ""), os.environ.get(SECRET_KEY_ENV, "")
    if not public or not secret:
        raise SourceError(f"{url.display}: set ${PUBLIC_KEY_ENV} and ${SECRET_KEY_ENV} to the project's API keys")
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def _retry_wait(error: StatusError, attempt: int) -> float:
    try:
        wait = float(error.retry_after)
    except ValueError:
        wait = RATE_LIMIT_BACKOFF_S * 2**attempt
    return max(0.0, min(wait, RATE_LIMIT_MAX_WAIT_S))


def _get(url: SourceURL, auth: str, path: str, params: dict[str, Any]) -> Any:
    """One API answer, parsed; SourceError for what retrying cannot fix, PageFailed for what it may."""
    shown = f"{url.display} (GET {path})"
    base = base_url(url, tls_default=True)
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            return get_json(base, path, params, {"Authorization": auth}, shown, REQUEST_TIMEOUT_S)
        except StatusError as exc:
            if exc.code in (401, 403):
                raise SourceError(
                    f"{shown}: the server refused the API keys (HTTP {exc.code}); "
                    f"check ${PUBLIC_KEY_ENV} / ${SECRET_KEY_ENV}"
                ) from None
            if exc.code == 429 and attempt < RATE_LIMIT_RETRIES:
                time.sleep(_retry_wait(exc, attempt))
                continue
            if exc.code == 429:
                raise PageFailed(
                    f"{shown}: rate limited (HTTP 429) after {RATE_LIMIT_RETRIES} retries (RATE_LIMIT_RETRIES)"
                ) from None
            if exc.code == 404:
                raise _Absent(f"{shown}: no Langfuse public API here (HTTP 404)") from None
            raise PageFailed(f"{shown}: HTTP {exc.code} {exc.reason}") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _check_project(url: SourceURL, auth: str) -> None:
    wanted = url.path.strip("/")
    if not wanted:
        return
    answer = _get(url, auth, "/api/public/projects", {})
    projects = answer.get("data") if isinstance(answer, dict) else None
    names = [(str(p.get("id")), str(p.get("name"))) for p in projects or [] if isinstance(p, dict)]
    if not any(wanted in pair for pair in names):
        have = ", ".join(name for _, name in names) or "none"
        raise SourceError(f"{url.display}: the API keys belong to project(s) {have}, not {wanted!r}")


def _page(url: SourceURL, auth: str, since: str | None, token: str | None) -> tuple[list[Any], str | None]:
    """One page of observations from `token` on, and the token of the next (None: the last page).

    v2 (cursor) first; a server without it (Langfuse before v3) answers 404, and then
    the v1 endpoint is paged by number (`page`, `meta.totalPages`).
    """
    if token is None or not token.startswith(_V1):
        try:
            params = {"fields": FIELDS, "limit": PAGE_LIMIT, "fromStartTime": since, "cursor": token}
            answer = _get(url, auth, V2_PATH, params)
        except _Absent:
            if token is not None:
                raise
            token = f"{_V1}1"
        else:
            meta = answer.get("meta") if isinstance(answer, dict) else None
            return _data(url, answer), (meta.get("cursor") or None) if isinstance(meta, dict) else None
    number = int(token[len(_V1) :])
    answer = _get(url, auth, V1_PATH, {"page": number, "limit": V1_PAGE_LIMIT, "fromStartTime": since})
    meta = answer.get("meta") if isinstance(answer, dict) else None
    total = meta.get("totalPages") if isinstance(meta, dict) else None
    return _data(url, answer), f"{_V1}{number + 1}" if isinstance(total, int) and number < total else None


def _data(url: SourceURL, answer: Any) -> list[Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise PageFailed(f"{url.display}: a page has no `data` list of observations")
    return list(answer["data"])


def _resume(dest: Path) -> tuple[bool, int | None, str | None, set[str]]:
    """What an incomplete fetch left: whether one did, its watermark, the page it stopped at, the ids it wrote."""
    try:
        state = orjson.loads((dest.parent / RESUME).read_bytes())
        return True, state.get("since"), state.get("cursor"), set(state.get("ids") or ())
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False, None, None, set()


def _starts(obs: dict[str, Any]) -> int | None:
    try:
        return to_ns(obs.get("startTime"), "startTime")
    except RECORD_ERRORS:  # an unreadable time: the reader reports the record
        return None


def fetch(url: SourceURL, dest: Path, since_ns: int | None) -> Fetched:
    """Copy the observations starting after `since_ns` into JSONL files under `dest` (module docstring)."""
    if not url.host:
        raise SourceError(f"{url.display}: name the Langfuse host, as langfuse://HOST[:PORT][/PROJECT]")
    auth = _auth(url)
    out = Fetched()
    resuming, resumed_since, cursor, seen = _resume(dest)
    since = resumed_since if resuming else since_ns
    got: list[dict[str, Any]] = []
    newest: int | None = None
    since_text = iso_utc(since) if since is not None else None
    try:
        _check_project(url, auth)
        for _ in range(FETCH_MAX_PAGES):
            data, after = _page(url, auth, since_text, cursor)
            keep: list[dict[str, Any]] = []
            for obs in data:
                start = _starts(obs) if isinstance(obs, dict) else None
                if since is not None and start is not None and start <= since:
                    continue
                if not isinstance(obs, dict) or str(obs.get("id")) in seen:
                    continue
                keep.append(obs)
                if start is not None:
                    newest = start if newest is None else max(newest, start)
            got.extend(keep)
            cursor = after
            if not cursor:
                break
        else:
            out.complete = False
            out.note = f"copied {FETCH_MAX_PAGES:,} pages (FETCH_MAX_PAGES) and more wait; the next open copies more"
    except PageFailed as exc:
        if not got:
            raise SourceError(str(exc)) from None
        out.complete = False
        out.note = f"stopped after {len(got):,} observations: {exc}; the next open fetches the rest"
    if got:  # one file, grouped by trace: the index keeps a trace within one file
        got.sort(key=lambda o: str(o.get("traceId")))
        path = dest / "observations.jsonl"
        path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in got))
        out.files.append(path)
    written = [str(o.get("id")) for o in got]
    out.newest_ns = newest
    resume = dest.parent / RESUME
    if out.complete:
        resume.unlink(missing_ok=True)
    else:  # the next fetch goes on from the page it stopped at, with the same watermark, skipping what is copied
        resume.write_bytes(orjson.dumps({"since": since, "cursor": cursor, "ids": sorted(seen | set(written))}))
    return out
