"""A pack's member table: one row of numbers per source file, read back in one go.

Reopening a folder of 20,000 small files must check each file's stat against
what its pack recorded. Listed as one JSON object per member, a pack's meta
took ~10 ms per 3,000 members to decode on every open, and the check then went
member by member through dicts. Here the numbers (stat, rows, counts, shape,
state) are one structured numpy array, written to `members.bin` followed by the
members' names ("/"-separated, UTF-8 with surrogate escapes: a file name never
holds "/"); the rare per-member extras (malformed samples, read errors, content
hashes) stay in meta.json under "extras", keyed by member number. Opening
compares whole arrays; a dict per member is made only when asked (`entry`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MEMBER_DTYPE",
    "MEMBERS_FILE",
    "IO_ERROR",
    "SHAPE_ERROR",
    "CHANGING",
    "HASHED",
    "SAMPLES",
    "Members",
]

MEMBERS_FILE = "members.bin"

MEMBER_DTYPE = np.dtype([
    ("size", "<i8"), ("mtime_ns", "<i8"), ("ctime_ns", "<i8"), ("ino", "<u8"),
    ("lines", "<i8"), ("spans", "<i8"), ("malformed", "<i8"),
    ("row_lo", "<i8"), ("row_hi", "<i8"), ("trace_lo", "<i8"), ("trace_hi", "<i8"),
    ("shape", "<i2"), ("state", "u1"),
])  # fmt: skip

# `state` bits. A member with an error has one of the first two (and its message in extras).
IO_ERROR = 1  # could not be read: never fresh (read again next time)
SHAPE_ERROR = 2  # not a trace file, or one no reader could read: fresh, and reported as skipped
CHANGING = 4  # changed while it was read: never fresh
HASHED = 8  # written just before it was read: its content hash (in extras) is checked too
SAMPLES = 16  # has malformed samples (in extras)

_NAME_SEP = "/"
_ENCODING = ("utf-8", "surrogateescape")


class Members:
    """The members of one pack: `table[no]` holds member `no`'s numbers, `names[no]` its file name."""

    def __init__(
        self, table: np.ndarray, names: list[str], shapes: list[str | None], extras: dict[int, dict[str, Any]]
    ) -> None:
        self.table = table
        self.names = names
        self.shapes = shapes  # shape name per code (`table["shape"]`)
        self.extras = extras

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def index(self) -> dict[str, int]:
        """Member number by file name."""
        return dict(zip(self.names, range(len(self.names)), strict=True))

    def shape_code(self, shape: str) -> int | None:
        """The code of `shape` in this pack (None: no member has it)."""
        return self.shapes.index(shape) if shape in self.shapes else None

    def entry(self, no: int) -> dict[str, Any]:
        """Member `no` as a dict (the form `packing` records it in)."""
        row = self.table[no]
        out: dict[str, Any] = {
            "name": self.names[no],
            **{key: int(row[key]) for key in ("size", "mtime_ns", "ctime_ns", "ino", "lines", "spans", "malformed")},
            "shape": self.shapes[int(row["shape"])],
            "rows": [int(row["row_lo"]), int(row["row_hi"])],
            "traces": [int(row["trace_lo"]), int(row["trace_hi"])],
            "samples": [],
        }
        out.update(self.extras.get(no, {}))
        return out

    # -- on disk ------------------------------------------------------------

    @classmethod
    def from_entries(cls, entries: list[dict[str, Any]]) -> Members:
        """The table of member dicts as `packing` makes them (errors, samples and hashes go to extras)."""
        table = np.zeros(len(entries), MEMBER_DTYPE)
        # Column by column (a row's fields set one by one cost 7 us a member).
        for key in ("size", "mtime_ns", "ctime_ns", "ino", "lines", "spans", "malformed"):
            table[key] = [e.get(key, 0) for e in entries]
        for key, lo, hi in (("rows", "row_lo", "row_hi"), ("traces", "trace_lo", "trace_hi")):
            pairs = [e.get(key) or (0, 0) for e in entries]
            table[lo] = [pair[0] for pair in pairs]
            table[hi] = [pair[1] for pair in pairs]
        codes: dict[str | None, int] = {}
        table["shape"] = [codes.setdefault(e["shape"], len(codes)) for e in entries]
        shapes: list[str | None] = list(codes)
        extras: dict[int, dict[str, Any]] = {}
        states: list[int] = []
        for no, e in enumerate(entries):
            extra: dict[str, Any] = {key: e[key] for key in ("error", "error_kind", "sha256") if key in e}
            state = 0
            if "error" in e:
                state |= SHAPE_ERROR if e.get("error_kind") in ("shape", "unreadable") else IO_ERROR
            if e.get("changing"):
                state |= CHANGING
                extra["changing"] = True
            if "sha256" in e:
                state |= HASHED
            if e.get("samples"):
                state |= SAMPLES
                extra["samples"] = e["samples"]
            states.append(state)
            if extra:
                extras[no] = extra
        table["state"] = states
        return cls(table, [e["name"] for e in entries], shapes, extras)

    def write(self, directory: Path) -> dict[str, Any]:
        """Write `members.bin` into `directory`; what meta.json must hold to read it back."""
        names = _NAME_SEP.join(self.names).encode(*_ENCODING)
        (directory / MEMBERS_FILE).write_bytes(self.table.tobytes() + names)
        return {
            "member_count": len(self.names),
            "shapes": self.shapes,
            "extras": {str(no): extra for no, extra in self.extras.items()},
        }

    @classmethod
    def read(cls, directory: Path, meta: dict[str, Any]) -> Members:
        """The members a pack's meta.json describes. OSError / ValueError when the file is missing or torn."""
        data = (directory / MEMBERS_FILE).read_bytes()
        count = int(meta["member_count"])
        cut = count * MEMBER_DTYPE.itemsize
        if len(data) < cut:
            raise ValueError(f"{directory / MEMBERS_FILE} is cut short")
        names = data[cut:].decode(*_ENCODING).split(_NAME_SEP) if count else []
        if len(names) != count:
            raise ValueError(f"{directory / MEMBERS_FILE} names {len(names)} files, meta.json {count}")
        table = np.frombuffer(data, MEMBER_DTYPE, count)
        extras = {int(no): extra for no, extra in meta.get("extras", {}).items()}
        return cls(table, names, list(meta["shapes"]), extras)
