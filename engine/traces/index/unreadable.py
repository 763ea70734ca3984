"""One file that breaks a reader is a skipped file, never a failed dataset.

Readers turn what they foresee (bad JSON, odd values, too deep nesting) into
malformed records. Whatever else goes wrong while one file is read (a reader
bug a crafted file finds) is caught here, at the file's edge, and becomes an
`UnreadableFileError` naming the file and the reason; `serving` reports it in
the dataset's skipped files and serves the others. Errors that already are
sentences (`HaloError`) and I/O errors (the file or the cache; said elsewhere)
pass as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from engine.errors import HaloError, UnreadableFileError

__all__ = ["guarded", "reading", "unreadable"]

T = TypeVar("T")
_PASS = (HaloError, OSError, MemoryError)


def unreadable(path: Path | str, exc: BaseException) -> UnreadableFileError:
    """The error that names `path` and what broke while reading it."""
    what = "values nested too deeply to read" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
    return UnreadableFileError(f"{path}: cannot be read ({what}); skipped")


@contextmanager
def reading(path: Path | str) -> Iterator[None]:
    """Turn an unforeseen error raised inside the block into `UnreadableFileError`."""
    try:
        yield
    except _PASS:
        raise
    except Exception as exc:
        raise unreadable(path, exc) from exc


def guarded(path: Path | str, items: Iterator[T]) -> Iterator[T]:
    """`items`, with an unforeseen error raised while producing one turned into `UnreadableFileError`.

    Only the producing is guarded: what the caller does with each item (write
    the cache) raises as it would.
    """
    while True:
        with reading(path):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item
