"""Bringing a dataset's packs up to date, and beside them the segments of its big files.

A folder holds small files (packed, many per worker task) and big ones (a
segment each, read in parallel ranges). A big file's build leaves the workers
idle while this process merges and writes its chunks; building the packs at
the same time fills those gaps, so a folder of both builds as fast as its
parts would alone. The pool is shared: a feeder thread keeps `workers` pack
builds in it while the opening thread builds the big files' segments.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from engine.traces.index import cache
from engine.traces.index.pack import (
    PACK_FILE_BYTES,
    PACK_MIN_FILES,
    Asked,
    Member,
    Plan,
    batches,
    collect_garbage,
    pack_home,
    plan,
)
from engine.traces.index.packing import build_pack
from engine.traces.index.paths import Found
from engine.traces.index.segments import Builder, Segment, ensure_segment

__all__ = ["ProgressFn", "Tally", "prebuild", "refresh_packs"]

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)

# Directories whose packs are built at once (each holds a lock while its packs build).
_LOCKED_DIRS = 64


class Tally:
    """Source bytes indexed so far, counted by the main thread and the pack feeder; shown by the main one.

    Progress callbacks may only be called from the thread that opened the
    dataset (the MCP server's reaches the event loop through that thread), so
    the feeder only counts. What is shown never goes back.
    """

    def __init__(self, total: int, progress: ProgressFn | None) -> None:
        self.total, self.progress = total, progress
        self.packed = 0  # bytes of the packs built (written by the feeder thread)
        self.done = 0  # bytes of the files given their own segment
        self._shown = 0

    def show(self, within: int = 0) -> None:
        """Report what is done, plus `within` bytes of the file being read now."""
        value = min(self.packed + self.done + within, self.total)
        if self.progress is not None and value > self._shown:
            self._shown = value
            self.progress(value, self.total)


def refresh_packs(
    asked: dict[str, Asked],
    root: Path,
    shape: str | None,
    builder: Builder,
    tally: Tally,
    beside: Callable[[], dict[int, Segment]] | None,
) -> tuple[dict[str, Plan], set[str], dict[int, Segment] | None]:
    """The plan of each directory's small files (which pack member serves each); ids of the packs built;
    what `beside` returned (None when it was not called).

    Existing packs serve whatever they hold fresh. Files none serves are packed
    when there are at least PACK_MIN_FILES of them; fewer get a segment each
    (a file that changed in a big pack costs one small segment, not a repack).
    `beside` runs in this thread while the first packs build (see `_run`).
    """
    plans: dict[str, Plan] = {}
    stale_dirs = []
    stale_files = 0
    for directory in sorted(asked):
        found = plans[directory] = plan(pack_home(root, Path(directory)), asked[directory], shape, absorb=False)
        if found.stale:
            stale_dirs.append(directory)
            stale_files += len(found.stale)
    built: set[str] = set()
    beside_did: dict[int, Segment] | None = None
    if stale_files < PACK_MIN_FILES:
        return plans, built, beside_did
    for lo in range(0, len(stale_dirs), _LOCKED_DIRS):
        window = stale_dirs[lo : lo + _LOCKED_DIRS]
        with ExitStack() as locks:
            jobs: list[tuple[Path, Path, list[Member]]] = []
            for directory in window:  # sorted: two processes lock in the same order
                home = cache.ensure_dir(pack_home(root, Path(directory)))
                locks.enter_context(cache.segment_lock(home))
                found = plan(home, asked[directory], shape)  # again: another process may have built them
                jobs += [(home, Path(directory), batch) for batch in batches(found.stale, builder.workers)]
            ids, beside_did = _run(jobs, shape, builder, tally, beside if beside_did is None else None)
            built.update(ids)
            for directory in window:
                home = pack_home(root, Path(directory))
                collect_garbage(home)
                plans[directory] = plan(home, asked[directory], shape, absorb=False)
    builder.close()  # workers keep their heap until they exit
    return plans, built, beside_did


_PackArgs = tuple[str, str, list[str], str | None]


def _run(
    jobs: list[tuple[Path, Path, list[Member]]],
    shape: str | None,
    builder: Builder,
    tally: Tally,
    beside: Callable[[], dict[int, Segment]] | None,
) -> tuple[list[str], dict[int, Segment] | None]:
    """Build the packs, in worker processes when there are several; their ids, and what `beside` returned.

    With `beside` (the files too big to pack, built into their own segments),
    a feeder thread keeps `workers` packs in the pool while this thread runs
    it: a big file's build leaves the workers idle while this process merges
    and writes its chunks, and the packs fill those gaps.
    """
    args: list[_PackArgs] = [
        (str(home), str(directory), [m.path.name for m in batch], shape) for home, directory, batch in jobs
    ]
    sizes = [sum(m.size for m in batch) for _h, _d, batch in jobs]
    if builder.workers < 2 or (len(jobs) < 2 and beside is None):
        ids = []
        for a, size in zip(args, sizes, strict=True):
            ids.append(build_pack(*a))
            tally.packed += size
            tally.show()
        return ids, None
    pool = builder.executor()
    # Submitted from this thread, before any other starts: the pool forks its workers now.
    first = pool.submit(build_pack, *args[0])
    fed: list[list[str] | BaseException] = []
    if beside is None:  # every pack in the pool at once, collected here, progress shown as each is built
        _feed(pool, first, args[1:], sizes, len(args), tally, fed, show=True)
        if isinstance(fed[0], BaseException):
            raise fed[0]
        return fed[0], None
    feeder = threading.Thread(
        target=_feed, args=(pool, first, args[1:], sizes, builder.workers, tally, fed), name="halo-packs", daemon=True
    )
    builder.shared = True
    feeder.start()
    try:
        done_beside = beside()
        while feeder.is_alive():
            feeder.join(0.25)
            tally.show()
    finally:
        feeder.join()
        builder.shared = False
    if isinstance(fed[0], BaseException):
        raise fed[0]
    return fed[0], done_beside


def _feed(
    pool: Executor,
    first: Future[str],
    rest: list[_PackArgs],
    sizes: list[int],
    in_flight: int,
    tally: Tally,
    out: list[list[str] | BaseException],
    *,
    show: bool = False,
) -> None:
    """Keep `in_flight` pack builds in `pool` until all are built; their ids (or the error) into `out`.

    `show` reports progress after each pack: only in the opening thread (see `Tally`).
    """
    pending: deque[Future[str]] = deque([first])
    todo = deque(rest)
    ids: list[str] = []
    try:
        while pending:
            while todo and len(pending) < in_flight:
                pending.append(pool.submit(build_pack, *todo.popleft()))
            ids.append(pending.popleft().result())
            tally.packed += sizes[len(ids) - 1]
            if show:
                tally.show()
        out.append(ids)
    except BaseException as exc:  # handed to the opening thread, which raises it
        for f in pending:
            f.cancel()
        out.append(exc)


def prebuild(
    found: Found, stats: np.ndarray, root: Path, shape: str | None, builder: Builder, tally: Tally
) -> dict[int, Segment]:
    """Build the segments of the files too big to pack (while the packs build), by position in `found`.

    A file that fails is left to `serving`, which builds it again and reports
    the failure in file order, as it would without this.
    """
    done: dict[int, Segment] = {}
    for i in np.flatnonzero(stats["size"] >= PACK_FILE_BYTES).tolist():
        try:
            done[i] = ensure_segment(Path(found.paths[i]), root, shape=shape, progress=tally.show, builder=builder)
        except Exception:  # built again and reported by `serving`, in file order
            continue
        tally.done += int(stats["size"][i])
        tally.show()
    return done
