"""Which files a dataset path means: files, directories (recursive), globs.

Directories are walked for files that look like traces (`TRACE_SUFFIXES`);
a file named explicitly is read whatever its name, and a non-trace file inside a
directory is skipped (and reported) rather than failing the whole dataset.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import DatasetError
from engine.traces.fs import scan_dir

__all__ = ["TRACE_SUFFIXES", "Found", "resolve_paths", "find_files"]

# What a file found inside a directory must end with to be read as traces.
TRACE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")


@dataclass
class Found:
    """The files a dataset's paths name, in dataset order, as strings side by side (no object per file).

    `paths[i]` is `dirs[i] + "/" + names[i]` (a real path); `explicit[i]` says
    whether it was named itself rather than found in a directory or by a glob.
    """

    paths: list[str] = field(default_factory=list)
    explicit: list[bool] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

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
    return [(Path(p), explicit) for p, explicit in zip(found.paths, found.explicit)]


def find_files(paths: Sequence[str | Path]) -> Found:
    """`resolve_paths` as strings, each file's directory and name apart (what `Dataset.open` uses).

    A folder of 20,000 files cost 20,000 `Path` objects otherwise, a third of
    a reopen's time; packs group files by directory and match them by name.
    """
    if not paths:
        raise DatasetError("no dataset path given: pass trace files, directories or globs")
    found = Found()
    for item in paths:
        text = os.path.expanduser(str(item))
        if any(ch in text for ch in "*?[") and not os.path.exists(text):
            matches = sorted(glob.glob(text, recursive=True))
            before = len(found)
            for m in matches:
                if os.path.isfile(m):
                    found._add(os.path.realpath(m), False)
            for m in matches:
                if os.path.isdir(m):
                    _walk(m, found)
            if len(found) == before:
                raise DatasetError(f"the pattern {text!r} matches no files")
            continue
        path = Path(text)
        if path.is_dir():
            before = len(found)
            _walk(text, found)
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
    if len(set(found.paths)) < len(found):
        found = _dedupe(found)
    return found


def _dedupe(found: Found) -> Found:
    """Each file once, where it first came; explicit if any mention of it was."""
    first: dict[str, int] = {}
    out = Found()
    for path, explicit, directory, name in zip(found.paths, found.explicit, found.dirs, found.names):
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


def _walk(directory: str, found: Found) -> None:
    """Add the trace files under `directory`, real paths, sorted: a directory's files before its subdirectories.

    Entries are typed from the directory listing (`fs.scan_dir`: no stat, no
    object per file), and only symlinks are resolved one by one: a folder of
    many thousand files lists fast. Symlinked directories are not followed.
    """
    stack = [os.path.realpath(directory)]
    while stack:
        base = stack.pop()
        try:
            files, subdirs, others = scan_dir(base)
        except OSError:
            continue
        prefix = base if base.endswith("/") else base + "/"
        names = [name for name in files if name.lower().endswith(TRACE_SUFFIXES)]
        links = {
            name: os.path.realpath(prefix + name)
            for name in others
            if name.lower().endswith(TRACE_SUFFIXES) and os.path.islink(prefix + name) and os.path.isfile(prefix + name)
        }
        names += links
        names.sort()
        if links:
            for name in names:
                found._add(links[name] if name in links else prefix + name, False)
        else:
            found.paths += [prefix + name for name in names]
            found.explicit += [False] * len(names)
            found.dirs += [base] * len(names)
            found.names += names
        subdirs.sort()
        stack.extend(prefix + name for name in reversed(subdirs))
