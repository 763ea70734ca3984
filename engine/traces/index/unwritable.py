"""A cache that cannot be written (read-only, full disk) costs a warning, never a traceback.

The index is a cache: when its directory cannot be written while a file's
index must be (re)built, the dataset is indexed in a temporary directory of
this process instead (removed when the process exits) and a warning names the
cache directory and how to point it elsewhere. Only if that fails too is the
open refused, with a sentence naming both directories and `--cache-dir`.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.errors import CacheUnusableError
from engine.traces.index.cache import CACHE_ENV

__all__ = ["is_cache_problem", "with_fallback", "temporary_root"]

log = logging.getLogger(__name__)

T = TypeVar("T")
# Errors that only writing can raise: whatever file they name, the cache is to blame.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_temporary: Path | None = None
_owner = 0


def is_cache_problem(exc: BaseException, root: Path) -> bool:
    """Whether `exc` is the cache under `root` failing (not a trace file that cannot be read)."""
    if isinstance(exc, CacheUnusableError):
        return True
    if not isinstance(exc, OSError):
        return False
    if exc.errno in _WRITE_ERRNOS:
        return True
    inside = os.path.join(os.path.abspath(root), "")
    return any(isinstance(f, str) and os.path.abspath(f).startswith(inside) for f in (exc.filename, exc.filename2))


def temporary_root() -> Path:
    """This process's temporary index directory (made on first use, removed at exit)."""
    global _temporary, _owner
    if _temporary is None or not _temporary.is_dir():
        _temporary = Path(tempfile.mkdtemp(prefix="halo-mcp-index-"))
        _owner = os.getpid()
        atexit.register(_remove, _temporary)
    return _temporary


def _remove(path: Path) -> None:
    if os.getpid() == _owner:  # a forked child exiting leaves its parent's index alone
        shutil.rmtree(path, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc.__cause__, OSError):
        exc = exc.__cause__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def with_fallback(root: Path, work: Callable[[Path], T]) -> tuple[T, Path]:
    """`work(root)`, or, when the cache under `root` cannot be written, `work` on a temporary root (warned)."""
    try:
        return work(root), root
    except (OSError, CacheUnusableError) as exc:
        if not is_cache_problem(exc, root):
            raise
        first = exc
    try:
        other = temporary_root()
    except OSError as exc:
        raise CacheUnusableError(
            f"the index cache {root} cannot be written ({_reason(first)}), nor a temporary directory made "
            f"({_reason(exc)}); pass --cache-dir (or set ${CACHE_ENV}) to a writable directory"
        ) from None
    log.warning(
        "the index cache %s cannot be written (%s); indexing in %s for this process instead. "
        "Pass --cache-dir (or set $%s) to a writable directory to keep the index.",
        root, _reason(first), other, CACHE_ENV,
    )  # fmt: skip
    try:
        return work(other), other
    except (OSError, CacheUnusableError) as exc:
        if not is_cache_problem(exc, other):
            raise
        raise CacheUnusableError(
            f"the index cache {root} cannot be written ({_reason(first)}), nor the temporary directory "
            f"{other} ({_reason(exc)}); pass --cache-dir (or set ${CACHE_ENV}) to a writable directory"
        ) from None
