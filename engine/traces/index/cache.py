"""Where index segments live and how we know one still matches its file.

The index is a cache, never a second source of truth: every segment records the
fingerprint of the file it was built from (size, mtime, ctime, a hash of the
head, of the tail and of a few sampled blocks), and a segment whose fingerprint
no longer matches is rebuilt, or extended when the file only grew. ctime cannot
be set back by `touch -r`, so a same-size rewrite with the old mtime is caught
by the stat alone; the tail and sampled blocks catch one whose ctime was forged
too (a clock set back), and `raw` checks every span read from the source. The
default location is a user cache directory, so trace directories can be read-only.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import CacheUnusableError

__all__ = [
    "CACHE_ENV",
    "HEAD_BYTES",
    "TAIL_BYTES",
    "SAMPLE_BLOCKS",
    "SAMPLE_BLOCK_BYTES",
    "INDEX_FORMAT",
    "Fingerprint",
    "cache_root",
    "path_key",
    "segment_dir",
    "fingerprint",
    "code_version",
    "segment_lock",
    "atomic_write_bytes",
    "drop_index",
]

CACHE_ENV = "HALO_MCP_CACHE_DIR"
# Bytes of the file's start that are hashed: enough to tell a rewritten file
# from one that only grew, cheap enough to check on every open.
HEAD_BYTES = 64 * 1024
# Bytes of the file's end that are hashed: a rewrite of the tail (where appends
# and edits land) changes them. Read on every open, so small.
TAIL_BYTES = 16 * 1024
# Blocks at evenly spaced offsets between head and tail, hashed on every open:
# a bounded spot check of the middle of a big file (a few preads of a cached file).
SAMPLE_BLOCKS = 4
SAMPLE_BLOCK_BYTES = 4 * 1024
# Bump when the on-disk layout changes; older segments are then rebuilt (they
# live under v<INDEX_FORMAT>/, so an old cache is never read as a new one).
# 4: chunks are Apache Arrow IPC files (`arrow_chunk`), no longer `.cols` files.
INDEX_FORMAT = 4

_PACKAGE = Path(__file__).resolve().parent.parent  # engine/traces
# Sources whose behaviour decides what a segment contains: a change to any of
# them invalidates every segment (so a reader fix is never hidden by a cache).
_CODE_GLOBS = (
    "model.py", "failure_text.py", "semconv/*.py", "readers/*.py", "readers/*/*.py", "columns/*.py", "index/build.py",
    "index/finalize.py", "index/links.py", "index/summary.py", "index/tables.py", "index/segments.py",
    "index/chunk_writer.py", "index/parse.py", "index/packing.py",
)  # fmt: skip
_code_version: str | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies a file's content without reading it all."""

    size: int
    mtime_ns: int
    head_len: int
    head_sha256: str
    ctime_ns: int = 0
    # sha256 of the tail and of the sampled blocks (`sampled_hash`)
    sampled_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            int(data["size"]), int(data["mtime_ns"]), int(data["head_len"]), str(data["head_sha256"]),
            int(data.get("ctime_ns", 0)), str(data.get("sampled_sha256", "")),
        )  # fmt: skip


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


def sample_offsets(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the blocks `sampled_hash` reads: evenly spaced between head and tail, then the tail."""
    lo, hi = min(size, HEAD_BYTES), max(size - TAIL_BYTES, 0)
    blocks = []
    if hi - lo > SAMPLE_BLOCK_BYTES:
        step = (hi - lo) // (SAMPLE_BLOCKS + 1)
        blocks = [(lo + k * step, SAMPLE_BLOCK_BYTES) for k in range(1, SAMPLE_BLOCKS + 1)]
    return [*blocks, (max(hi, lo), size - max(hi, lo))]


def sampled_hash(path: Path, size: int) -> str:
    """sha256 of the sampled blocks and the tail of a file of `size` bytes (what follows the head)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, length in sample_offsets(size):
            digest.update(os.pread(fd, length, offset))
    finally:
        os.close(fd)
    return digest.hexdigest()


def fingerprint(path: Path) -> Fingerprint:
    st = path.stat()
    head_len = min(st.st_size, HEAD_BYTES)
    return Fingerprint(
        st.st_size, st.st_mtime_ns, head_len, head_hash(path, head_len), st.st_ctime_ns,
        sampled_hash(path, st.st_size),
    )  # fmt: skip


def code_version() -> str:
    """A digest of the sources that shape a segment (see `_CODE_GLOBS`)."""
    global _code_version
    if _code_version is None:
        digest = hashlib.sha256()
        root = str(_PACKAGE)
        for pattern in _CODE_GLOBS:  # glob.glob, not Path.glob: ~5 -> ~1.5 ms of every process's first open
            for name in sorted(glob.glob(pattern, root_dir=root)):
                digest.update(os.path.basename(name).encode())
                with open(os.path.join(root, name), "rb") as f:
                    digest.update(f.read())
        _code_version = digest.hexdigest()[:16]
    return _code_version


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheUnusableError(
            f"cannot create the index cache directory {path}: {exc.strerror}. "
            f"Pass --cache-dir or point ${CACHE_ENV} at a writable directory."
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


def drop_index(directory: Path) -> None:
    """Make a segment or pack stale, so the next open rebuilds it (readers that mapped it keep their copy).

    A segment loses its meta.json (its chunks are collected on the rebuild); a
    pack, which never changes once written, is removed whole.
    """
    try:
        if directory.parent.parent.name == "packs":
            shutil.rmtree(directory, ignore_errors=True)
        else:
            (directory / "meta.json").unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache: the stat check at the next open still sees the change
