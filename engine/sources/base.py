"""The contract between a remote trace source and the local index.

A dataset spec that is a URL (`phoenix://`, `langfuse://`, `clickhouse://`,
`chdb://`) names traces that live in another system. The index stays a cache, never
a second source of truth: a source module copies what it is asked for into files of
a shape the readers already know, under a folder of the cache that belongs to that
URL, and the ordinary file path indexes them. Asking again fetches only what is
newer than the newest span already copied (`since_ns`), into a new file, so the
index grows by appends like any folder of traces.

Each source module (`engine/sources/<scheme>.py`) exposes

    fetch(url: SourceURL, dest: Path, since_ns: int | None) -> Fetched

and raises `engine.errors.SourceError` (naming `url.display`) for anything it
cannot read: an unreachable host, refused credentials, a page failing mid-way, a
schema missing columns. A fetch that stops part-way returns what it wrote with
`complete=False` and says why in `note`; it never reports an incomplete copy as
complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["SCHEMES", "Fetched", "SourceURL", "is_source_url"]

SCHEMES = ("phoenix", "langfuse", "clickhouse", "chdb")


def is_source_url(spec: str) -> bool:
    """True when a dataset spec names a remote source rather than a path or glob."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True)
class SourceURL:
    """A parsed source spec. `display` is the URL without credentials: the only form
    that may appear in an error, a log line or an answer."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: dict[str, str]
    display: str

    @classmethod
    def parse(cls, spec: str) -> SourceURL:
        parts = urlsplit(spec)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ValueError(f"not a trace source URL: {spec!r} (schemes: {', '.join(SCHEMES)})")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        host = parts.hostname or ""
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        shown_query = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k not in _SECRET_KEYS)
        display = f"{scheme}://{netloc}{parts.path}" + (f"?{shown_query}" if shown_query else "")
        return cls(scheme, host, parts.port, parts.path, query, display)


# Query keys never shown in `display` (credentials belong in the environment).
_SECRET_KEYS = frozenset({"password", "key", "secret", "token", "api_key"})


@dataclass
class Fetched:
    """What one fetch copied: the files it wrote under `dest` (in a shape the readers
    know), the newest span start it saw (the next fetch's `since_ns`), whether the copy
    is all the source had for the request, and a note for the answer when it is not."""

    files: list[Path] = field(default_factory=list)
    newest_ns: int | None = None
    complete: bool = True
    note: str = ""
