"""Which files a dataset path means: files, directories (recursive), globs.

Directories are walked for files that look like traces (`TRACE_SUFFIXES`);
a file named explicitly is read whatever its name, and a non-trace file inside a
directory is skipped (and reported) rather than failing the whole dataset.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from pathlib import Path

import numpy as np

from engine.errors import DatasetError
from engine.traces.index.fs import STAT_DTYPE, list_dir, stat_names
from engine.traces.index.listings import Listings

__all__ = ["TRACE_SUFFIXES", "Found", "Check", "resolve_paths", "find_files", "expand_glob", "has_magic", "stat_found"]

# Called with a real path before anything about it is revealed; raises to refuse it.
Check = Callable[[str], None]

# What a file found inside a directory must end with to be read as traces.
TRACE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")


@dataclass
class Found:
    """The files a dataset's paths name, in dataset order, as strings side by side (no object per file).

    `paths[i]` is `dirs[i] + "/" + names[i]` (a real path); `explicit[i]` says
    whether it was named itself rather than found in a directory or by a glob.
    `walked` holds the stats a directory walk took of the files it found, as
    (first position, STAT_DTYPE rows) runs: `stat_found` takes only the others.
    """

    paths: list[str] = field(default_factory=list)
    explicit: list[bool] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    walked: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def _add(self, path: str, explicit: bool) -> None:
        directory, _, name = path.rpartition("/")
        self.paths.append(path)
        self.explicit.append(explicit)
        self.dirs.append(directory or "/")
        self.names.append(name)


def resolve_paths(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read, real paths (symlinks and `..` resolved), each with whether it was named explicitly.

    Directories are walked recursively for `TRACE_SUFFIXES` files (hidden entries
    skipped); globs may use `**`. Raises DatasetError for a path that does not
    exist or a directory / glob that matches no trace file.
    """
    found = find_files(paths)
    return [(Path(p), explicit) for p, explicit in zip(found.paths, found.explicit, strict=True)]


def find_files(paths: Sequence[str | Path], check: Check | None = None, listings: Listings | None = None) -> Found:
    """`resolve_paths` as strings, each file's directory and name apart (what `Dataset.open` uses).

    A folder of 20,000 files cost 20,000 `Path` objects otherwise, a third of
    a reopen's time; packs group files by directory and match them by name.
    `check` (see `expand_glob`) is given the real path of every glob match and
    every symlink a directory walk meets, before anything about it is looked at.
    `listings` (a cache's) gives the directories a walk meets that did not change.
    """
    if not paths:
        raise DatasetError("no dataset path given: pass trace files, directories or globs")
    found = Found()
    twice = len(paths) > 1  # whether a file may have been found twice (else no set of 20,000 paths is made)
    for item in paths:
        text = os.path.expanduser(str(item))
        if any(ch in text for ch in "*?[") and not os.path.exists(text):
            matches = sorted(expand_glob(text, check))
            before, twice = len(found), True
            for m in matches:
                if os.path.isfile(m):
                    found._add(os.path.realpath(m), False)
            for m in matches:
                if os.path.isdir(m):
                    _walk(m, found, check, listings)
            if len(found) == before:
                raise DatasetError(f"the pattern {text!r} matches no files")
            continue
        path = Path(text)
        if path.is_dir():
            before = len(found)
            twice |= _walk(text, found, check, listings)
            if len(found) == before:
                raise DatasetError(
                    f"no trace files under {path} (looked for {', '.join('*' + s for s in TRACE_SUFFIXES[:3])}, "
                    "optionally gzip-compressed)"
                )
        elif path.is_file():
            found._add(os.path.realpath(text), True)
        elif path.exists():
            raise DatasetError(f"{path} is not a regular file or directory")
        else:
            raise DatasetError(f"{path} does not exist")
    if twice and len(set(found.paths)) < len(found):
        found = _dedupe(found)
    return found


def has_magic(part: str) -> bool:
    return any(ch in part for ch in "*?[")


def expand_glob(pattern: str, check: Check | None = None) -> list[str]:
    """The paths `pattern` matches (like `glob.glob(recursive=True)`), one segment at a time.

    The fixed part before the first wildcard is taken as given; after it, every
    entry a wildcard matches is passed to `check` as a real path *before* it is
    listed or tested, so a pattern cannot list a directory outside the allowed
    roots through a symlink, and an outside target that exists answers exactly
    like one that does not. `..` after a wildcard is refused by the caller's
    lexical check (see `halo_mcp.datasets`); here it is simply a name. Hidden
    names match only a segment that starts with a dot; `**` spans directories
    but does not follow symlinked ones (as the directory walk).
    """
    parts = pattern.split("/")
    first = next(i for i, part in enumerate(parts) if has_magic(part))
    base = "/".join(parts[:first]) or ("/" if pattern.startswith("/") else ".")
    current = [base]
    for i, part in enumerate(parts[first:], start=first):
        last = i == len(parts) - 1
        following: list[str] = []
        for directory in current:
            if part == "**":
                following += _descend(directory, check)
            elif has_magic(part):
                following += _matching(directory, part, check)
            elif part in ("", "."):
                following.append(directory)
            else:
                path = _join(directory, part)
                if check is not None:
                    check(os.path.realpath(path))
                if os.path.lexists(path):
                    following.append(path)
        current = following if last else [d for d in following if os.path.isdir(d)]
    return sorted(dict.fromkeys(current))


def _join(directory: str, name: str) -> str:
    return name if directory == "." else (directory.rstrip("/") + "/" + name)


def _entries(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _matching(directory: str, part: str, check: Check | None) -> list[str]:
    hidden = part.startswith(".")
    out = []
    for name in fnmatch.filter(_entries(directory), part):
        if name.startswith(".") and not hidden:
            continue
        path = _join(directory, name)
        if check is not None:
            check(os.path.realpath(path))
        out.append(path)
    return out


def _descend(directory: str, check: Check | None) -> list[str]:
    """`directory` and every directory under it, not through symlinks (each link is checked)."""
    out, stack = [], [directory]
    while stack:
        here = stack.pop()
        out.append(here)
        for name in reversed(_entries(here)):
            if name.startswith("."):
                continue
            path = _join(here, name)
            if os.path.islink(path):
                if check is not None:
                    check(os.path.realpath(path))
                continue
            if os.path.isdir(path):
                stack.append(path)
    return out


def _dedupe(found: Found) -> Found:
    """Each file once, where it first came; explicit if any mention of it was."""
    first: dict[str, int] = {}
    out = Found()
    for path, explicit, directory, name in zip(found.paths, found.explicit, found.dirs, found.names, strict=True):
        at = first.get(path)
        if at is None:
            first[path] = len(out)
            out.paths.append(path)
            out.explicit.append(explicit)
            out.dirs.append(directory)
            out.names.append(name)
        elif explicit:
            out.explicit[at] = True
    return out


def stat_found(found: Found) -> np.ndarray:
    """Every found file's stat (STAT_DTYPE; errno set where it fails): the walk's, the others' taken now."""
    stats = np.zeros(len(found), STAT_DTYPE)
    known = np.zeros(len(found), bool)
    for lo, rows in found.walked:
        stats[lo : lo + len(rows)] = rows
        known[lo : lo + len(rows)] = True
    by_dir: dict[str, list[int]] = {}
    for i in np.flatnonzero(~known).tolist():
        by_dir.setdefault(found.dirs[i], []).append(i)
    for directory, positions in by_dir.items():
        stats[positions] = stat_names(directory, [found.names[i] for i in positions])
    return stats


def _walk(directory: str, found: Found, check: Check | None = None, listings: Listings | None = None) -> bool:
    """Add the trace files under `directory`, real paths, sorted: a directory's files before its subdirectories.

    Returns whether a symlink was followed to a file (which may then be found twice).

    Entries are typed, and files stat-ed, by one `lstat` each (`fs.list_dir`;
    no object per file), and only symlinks are resolved one by one: a folder of
    many thousand files lists fast. Symlinked directories are not followed.
    With `listings`, a directory unchanged since it was last listed is not listed again.
    """
    stack = [os.path.realpath(directory)]
    linked = False
    listed = list_dir if listings is None else listings.list_dir
    while stack:
        base = stack.pop()
        try:
            files, file_stats, subdirs, others = listed(base)
        except OSError:
            continue
        prefix = base if base.endswith("/") else base + "/"
        ends = list(map(str.endswith, files, repeat(TRACE_SUFFIXES)))  # in C; the lower-casing only where needed
        if False in ends:
            ends = [ok or name.lower().endswith(TRACE_SUFFIXES) for ok, name in zip(ends, files, strict=True)]
        if False in ends:
            names = list(compress(files, ends))
            file_stats = file_stats[np.fromiter(ends, bool, len(ends))]
        else:
            names = files
        if check is not None:  # every link, dangling or not, so its target's existence tells nothing
            for name in others:
                if os.path.islink(prefix + name):
                    check(os.path.realpath(prefix + name))
        links = {
            name: os.path.realpath(prefix + name)
            for name in others
            if name.lower().endswith(TRACE_SUFFIXES) and os.path.islink(prefix + name) and os.path.isfile(prefix + name)
        }
        if links:
            linked = True
            names = sorted([*names, *links])
            for name in names:
                found._add(links[name] if name in links else prefix + name, False)
        else:
            found.walked.append((len(found), file_stats))
            found.paths += [prefix + name for name in names]
            found.explicit += [False] * len(names)
            found.dirs += [base] * len(names)
            found.names += names
        stack.extend(prefix + name for name in reversed(subdirs))
    return linked
