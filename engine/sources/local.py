"""The local copy of a remote source: a folder of fetched files, a state file, a throttle.

Each source URL owns a folder under the index cache root, named by a hash of its
display URL (credentials never reach a path). Every fetch writes into a new
numbered subfolder, so the index sees a directory that only grows, and the
state file records the newest span copied, when the last fetch ran, and whether
it copied all the source had. Opening the URL again fetches only what is newer
(`since_ns`), at most once per `SOURCE_REFRESH_S` seconds; in between the copy
is served as it is and every answer says how old it is.

A fetch that fails leaves no trace in the copy (its subfolder is removed, the
state unchanged) and raises: an answer is never built on a copy that the source
could not confirm, and an error always names the display URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.errors import SourceError
from engine.sources.base import Fetched, SourceURL, is_source_url
from engine.sources.registry import EXTRAS, module_for
from engine.traces.index.cache import atomic_write_bytes, ensure_dir

__all__ = [
    "SOURCES_DIR",
    "SOURCE_REFRESH_ENV",
    "SOURCE_REFRESH_S",
    "Freshness",
    "materialize",
    "refresh_seconds",
    "source_dir",
    "sync",
]

# Minimum seconds between two fetches of one source (each open within it serves the copy).
SOURCE_REFRESH_S = 30.0
# Environment variable overriding SOURCE_REFRESH_S (0: fetch on every open).
SOURCE_REFRESH_ENV = "HALO_MCP_SOURCE_REFRESH_S"
# Folder of the cache root holding one folder per source URL.
SOURCES_DIR = "sources"
_STATE = "state.json"
_SPANS = "spans"


@dataclass(frozen=True)
class Freshness:
    """How current the local copy of one source is; stated in every answer on it."""

    source: str
    fetched_at_ns: int
    newest_span_ns: int | None
    complete: bool
    note: str
    fetched_now: bool
    fetches: int

    def line(self) -> str:
        """One sentence for an answer: the source, when it was fetched, complete or not, why."""
        when = _iso(self.fetched_at_ns)
        newest = _iso(self.newest_span_ns) if self.newest_span_ns else "none"
        state = "complete" if self.complete else "INCOMPLETE"
        text = f"{self.source}: fetched {when}, newest span {newest}, {state}"
        return text + (f": {self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fetched_at": _iso(self.fetched_at_ns), "line": self.line()}


def _iso(ns: int | None) -> str:
    if ns is None:
        return "never"
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}Z"


def refresh_seconds() -> float:
    """SOURCE_REFRESH_S, or $HALO_MCP_SOURCE_REFRESH_S when set to a number."""
    raw = os.environ.get(SOURCE_REFRESH_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else SOURCE_REFRESH_S
    except ValueError:
        return SOURCE_REFRESH_S


def source_dir(root: Path, url: SourceURL) -> Path:
    """The folder holding the copy of `url` (keyed by its display URL, never its credentials)."""
    return root / SOURCES_DIR / hashlib.sha256(url.display.encode()).hexdigest()[:32]


def _load_state(folder: Path) -> dict[str, Any] | None:
    try:
        state = orjson.loads((folder / _STATE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def sync(spec: str, root: Path, *, min_interval_s: float | None = None) -> tuple[Path, Freshness]:
    """Bring the copy of source `spec` up to date (unless fetched within `min_interval_s`).

    Returns the folder of fetched files and its freshness. Raises SourceError
    (naming the display URL) when the source cannot be read, and when it has
    never yielded a span.
    """
    try:
        url = SourceURL.parse(spec)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    interval = refresh_seconds() if min_interval_s is None else min_interval_s
    folder = ensure_dir(source_dir(root, url))
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a second process waits, then finds the copy fresh
        return folder / _SPANS, _sync_locked(url, folder, interval)
    finally:
        os.close(fd)


def _sync_locked(url: SourceURL, folder: Path, interval: float) -> Freshness:
    state = _load_state(folder) or {}
    now = time.time_ns()
    last = int(state.get("fetched_at_ns", 0))
    fetches = int(state.get("fetches", 0))
    # An incomplete copy is continued on the next open; a complete one waits out the interval.
    if fetches and state.get("complete", False) and (now - last) / 1e9 < interval:
        return _freshness(url, state, fetched_now=False)
    since = state.get("newest_ns")
    dest = folder / _SPANS / f"{fetches:06d}"
    shutil.rmtree(dest, ignore_errors=True)  # a fetch that died before writing its state
    ensure_dir(dest)
    try:
        fetched: Fetched = module_for(url).fetch(url, dest, int(since) if since is not None else None)
    except SourceError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except ImportError as exc:  # a client package the module imports when it first needs it
        shutil.rmtree(dest, ignore_errors=True)
        raise SourceError(
            f"{url.display}: reading {url.scheme}:// sources needs {exc.name or 'a package'!r}, which is not "
            f"installed; install it with: pip install 'halo-mcp[{EXTRAS[url.scheme]}]'"
        ) from None
    except Exception as exc:  # a client library's own error: named, never a traceback
        shutil.rmtree(dest, ignore_errors=True)
        raise SourceError(f"{url.display}: the fetch failed: {type(exc).__name__}: {exc}") from None
    if not any(dest.iterdir()):
        dest.rmdir()
    newest = fetched.newest_ns if fetched.newest_ns is not None else since
    if since is not None and newest is not None:
        newest = max(int(since), int(newest))
    state = {
        "display": url.display,
        "newest_ns": newest,
        "fetched_at_ns": now,
        "complete": bool(fetched.complete),
        "note": fetched.note,
        "fetches": fetches + 1,
    }
    atomic_write_bytes(folder / _STATE, orjson.dumps(state))
    return _freshness(url, state, fetched_now=True)


def _freshness(url: SourceURL, state: dict[str, Any], *, fetched_now: bool) -> Freshness:
    newest = state.get("newest_ns")
    return Freshness(
        source=url.display,
        fetched_at_ns=int(state.get("fetched_at_ns", 0)),
        newest_span_ns=int(newest) if newest is not None else None,
        complete=bool(state.get("complete", False)),
        note=str(state.get("note", "")),
        fetched_now=fetched_now,
        fetches=int(state.get("fetches", 0)),
    )


def materialize(paths: list[str], root: Path) -> tuple[list[str], list[Freshness]]:
    """`paths` with each source URL replaced by the folder of its (synced) copy, and their freshness."""
    out: list[str] = []
    fresh: list[Freshness] = []
    for spec in paths:
        if is_source_url(spec):
            folder, freshness = sync(spec, root)
            if freshness.newest_span_ns is None or not folder.is_dir():
                note = f": {freshness.note}" if freshness.note else ""
                raise SourceError(f"{freshness.source}: the source holds no spans yet{note}")
            out.append(str(folder))
            fresh.append(freshness)
        else:
            out.append(spec)
    return out, fresh
