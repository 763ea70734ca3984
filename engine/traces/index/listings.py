"""A directory's listing kept in the cache, reused while the directory is unchanged.

A reopen of a folder of 20,000 small files listed and sorted each directory
(~11 ms of ~105) before it stat-ed every file. Whenever an entry is added,
removed or renamed in a directory, the kernel sets the directory's mtime and
ctime (POSIX), and ctime cannot be set back by `touch`: while both, with the
directory's device and inode, are what they were when a listing was taken, its
names and their kinds are what they were. The files are still stat-ed one by
one (a rewrite changes the file, not its directory), and a kept name that no
longer stats makes the directory listed again.

Two guards, as git's racy-index rule and its untracked cache have:
- a listing is kept only when the directory had not changed for RACY_NS before
  it was taken: a change in the same clock tick as the listing (timestamps are
  coarse) would leave the times as they were;
- and only on filesystems that keep those times (TRUSTED_FILESYSTEMS, from
  /proc/self/mountinfo): FUSE mounts of object stores report directory times
  that never change, and network filesystems take times from another clock.
Elsewhere (and off Linux) every directory is listed, as before.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.traces.index import cache
from engine.traces.index.fs import list_dir, stat_names

__all__ = ["RACY_NS", "TRUSTED_FILESYSTEMS", "Listings", "filesystem_type", "prune_listings"]

# A directory changed less than this before it was listed is listed again next time.
RACY_NS = 2_000_000_000
# Local filesystems whose directory mtime / ctime follow every change of an entry.
TRUSTED_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs"})
_FORMAT = 1
_MOUNTINFO = "/proc/self/mountinfo"
_types: dict[int, str] = {}  # st_dev -> filesystem type, read from _MOUNTINFO


class Listings:
    """The kept listings of one cache (under its current index format's tree)."""

    def __init__(self, root: Path) -> None:
        self.home = root / f"v{cache.INDEX_FORMAT}" / "listings"

    def list_dir(self, path: str) -> tuple[list[str], np.ndarray, list[str], list[str]]:
        """`fs.list_dir(path)`: from the kept listing while the directory is unchanged, else listed (and kept).

        OSError when the directory cannot be stat-ed or listed.
        """
        started = time.time_ns()
        st = os.stat(path)
        kept = self._read(path, st)
        if kept is not None:
            files, subdirs, others = kept
            stats = stat_names(path, files)
            if not stats["errno"].any():
                return files, stats, subdirs, others
        files, stats, subdirs, others = list_dir(path)
        if (
            max(st.st_mtime_ns, st.st_ctime_ns) < started - RACY_NS
            and not stats["errno"].any()
            and filesystem_type(st.st_dev) in TRUSTED_FILESYSTEMS
        ):
            self._write(path, st, files, subdirs, others)
        return files, stats, subdirs, others

    def _file(self, path: str) -> Path:
        return self.home / hashlib.blake2b(os.fsencode(path), digest_size=16).hexdigest()

    def _read(self, path: str, st: os.stat_result) -> tuple[list[str], list[str], list[str]] | None:
        try:
            meta, names = _unpack(self._file(path).read_bytes())
            if meta.get("format") != _FORMAT or meta.get("stat") != _identity(st):
                return None
            n_files, n_subdirs, n_others = int(meta["files"]), int(meta["subdirs"]), int(meta["others"])
        except (OSError, ValueError, KeyError, TypeError):  # none kept, or not one this code wrote
            return None
        if names[0] != path or len(names) != 1 + n_files + n_subdirs + n_others:
            return None
        return names[1 : 1 + n_files], names[1 + n_files : 1 + n_files + n_subdirs], names[1 + n_files + n_subdirs :]

    def _write(self, path: str, st: os.stat_result, files: list[str], subdirs: list[str], others: list[str]) -> None:
        """Keep a listing; a cache that cannot be written keeps none (the next walk lists again)."""
        meta = {"format": _FORMAT, "stat": _identity(st), "files": len(files), "subdirs": len(subdirs)}
        head = orjson.dumps({**meta, "others": len(others)})
        body = "\0".join([path, *files, *subdirs, *others])
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            cache.atomic_write_bytes(self._file(path), head + b"\n" + os.fsencode(body))
        except (OSError, UnicodeError):
            pass


def _unpack(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """A kept listing's meta and names (its directory's path first); ValueError when it is not one."""
    head, _, body = data.partition(b"\n")
    meta = orjson.loads(head)
    if type(meta) is not dict:
        raise ValueError("no listing meta")
    return meta, os.fsdecode(body).split("\0")


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def filesystem_type(dev: int) -> str | None:
    """The type of the filesystem mounted as device `dev` (an `st_dev`), None when unknown (or not Linux)."""
    kind = _types.get(dev)
    if kind is None:  # a mount made since the last read, or never read
        try:
            with open(_MOUNTINFO, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:  # "36 35 98:0 /root /mnt opts [optional...] - ext4 /dev/vda rw"
            fields, _, tail = line.partition(" - ")
            parts = fields.split()
            if len(parts) > 2 and tail and ":" in parts[2]:
                major, minor = parts[2].split(":", 1)
                if major.isdigit() and minor.isdigit():
                    _types[os.makedev(int(major), int(minor))] = tail.split()[0]
        kind = _types.get(dev)
    return kind


def prune_listings(root: Path) -> int:
    """Remove the kept listings of directories that are gone or have changed; the bytes freed."""
    freed = 0
    listings = Listings(root)
    try:
        entries = list(os.scandir(listings.home))
    except OSError:
        return 0
    for entry in entries:
        try:
            meta, names = _unpack(Path(entry.path).read_bytes())
            alive = meta.get("stat") == _identity(os.stat(names[0]))
        except (OSError, ValueError):  # gone, unreadable, not JSON, not a name
            alive = False
        if not alive:
            try:
                size = entry.stat().st_size
                os.unlink(entry.path)
                freed += size
            except OSError:
                pass
    return freed
