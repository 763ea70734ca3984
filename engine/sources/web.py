"""A source's JSON API over HTTP, with the standard library: one GET, its answer parsed.

What an HTTP status means is the source's to say (a refused key, an endpoint an older
server lacks, a rate limit worth waiting out), so an error status comes back as
`StatusError` with its code and Retry-After. What means the same for every source is
said here: a server that cannot be reached, or an answer that is not JSON, is a
`PageFailed`, which a fetch may get past on its next open, keeping the pages it read.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from engine.sources.base import SourceURL

__all__ = ["PageFailed", "StatusError", "base_url", "get_json", "iso_utc"]


class PageFailed(Exception):
    """A request that failed in a way a later fetch may get past; what earlier pages gave is kept."""


class StatusError(Exception):
    """The server answered an HTTP error status."""

    def __init__(self, code: int, reason: str, retry_after: str) -> None:
        super().__init__(f"HTTP {code} {reason}")
        self.code, self.reason, self.retry_after = code, reason, retry_after


def base_url(url: SourceURL, *, tls_default: bool) -> str:
    """`scheme://host[:port]` of `url`; `?tls=1` / `?tls=0` overrides the source's default."""
    setting = url.query.get("tls")
    tls = tls_default if setting is None else setting.lower() in ("1", "true", "yes")
    port = f":{url.port}" if url.port else ""
    return f"{'https' if tls else 'http'}://{url.host}{port}"


def get_json(base: str, path: str, params: dict[str, Any], headers: dict[str, str], shown: str, timeout: float) -> Any:
    """GET `base``path` with `params` (None values left out); `shown` names the request in errors."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(
        f"{base}{path}" + (f"?{query}" if query else ""), headers={"Accept": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
        exc.close()  # its open answer
        raise StatusError(exc.code, str(exc.reason), retry_after) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise PageFailed(f"{shown}: cannot reach the server: {getattr(exc, 'reason', exc)}") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PageFailed(f"{shown}: the answer is not JSON: {exc}") from None


def iso_utc(ns: int) -> str:
    """Epoch nanoseconds as ISO-8601 UTC to the microsecond, as the APIs take a time bound."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"
