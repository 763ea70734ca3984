"""Where index segments live and how we know one still matches its file.

The index is a cache, never a second source of truth: every segment records the
fingerprint of the file it was built from (size, mtime, a hash of the head),
and a segment whose fingerprint no longer matches is rebuilt, or extended when
the file only grew. The default location is a user cache directory, so trace
directories can be read-only.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import DatasetError

__all__ = [
    "CACHE_ENV",
    "HEAD_BYTES",
    "INDEX_FORMAT",
    "Fingerprint",
    "cache_root",
    "path_key",
    "segment_dir",
    "fingerprint",
    "code_version",
    "segment_lock",
    "atomic_write_bytes",
]

CACHE_ENV = "HALO_MCP_CACHE_DIR"
# Bytes of the file's start that are hashed: enough to tell a rewritten file
# from one that only grew, cheap enough to check on every open.
HEAD_BYTES = 64 * 1024
# Bump when the on-disk layout changes; older segments are then rebuilt.
INDEX_FORMAT = 3

_PACKAGE = Path(__file__).resolve().parent
# Sources whose behaviour decides what a segment contains: a change to any of
# them invalidates every segment (so a reader fix is never hidden by a cache).
_CODE_GLOBS = (
    "model.py", "semconv*.py", "analytics_text.py", "columns.py", "column_file.py", "hashing.py", "build.py",
    "segment.py", "summary.py", "tables.py", "index.py", "chunk_writer.py", "parse.py", "pack_build.py", "readers/*.py",
)  # fmt: skip
_code_version: str | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies a file's content without reading it all."""

    size: int
    mtime_ns: int
    head_len: int
    head_sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(int(data["size"]), int(data["mtime_ns"]), int(data["head_len"]), str(data["head_sha256"]))


def cache_root() -> Path:
    """$HALO_MCP_CACHE_DIR, else $XDG_CACHE_HOME/halo-mcp, else ~/.cache/halo-mcp."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "halo-mcp"


def path_key(path: Path) -> str:
    """A fixed-length directory name for an absolute path."""
    return hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:32]


def segment_dir(root: Path, path: Path) -> Path:
    """The directory holding the segment of one source file (keyed by its absolute path)."""
    return root / f"v{INDEX_FORMAT}" / "segments" / path_key(path)


def head_hash(path: Path, length: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def fingerprint(path: Path) -> Fingerprint:
    st = path.stat()
    head_len = min(st.st_size, HEAD_BYTES)
    return Fingerprint(st.st_size, st.st_mtime_ns, head_len, head_hash(path, head_len))


def code_version() -> str:
    """A digest of the sources that shape a segment (see `_CODE_GLOBS`)."""
    global _code_version
    if _code_version is None:
        digest = hashlib.sha256()
        for pattern in _CODE_GLOBS:
            for file in sorted(_PACKAGE.glob(pattern)):
                digest.update(file.name.encode())
                digest.update(file.read_bytes())
        _code_version = digest.hexdigest()[:16]
    return _code_version


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            f"cannot create the index cache directory {path}: {exc.strerror}. "
            f"Point ${CACHE_ENV} at a writable directory."
        ) from exc
    return path


@contextmanager
def segment_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on a segment while (re)building it.

    A second process that wants the same segment waits here, then finds it
    fresh and does not rebuild it. The lock dies with its process.
    """
    ensure_dir(directory)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` so that readers see the old file or the new one, never a part.

    Not fsynced: the index is a cache. After a crash the file may be empty or
    cut short; it then fails to parse (meta.json) and the segment is rebuilt.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
