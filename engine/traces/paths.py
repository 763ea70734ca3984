"""Which files a dataset path means: files, directories (recursive), globs.

Directories are walked for files that look like traces (`TRACE_SUFFIXES`);
a file named explicitly is read whatever its name, and a non-trace file inside a
directory is skipped (and reported) rather than failing the whole dataset.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from engine.errors import DatasetError

__all__ = ["TRACE_SUFFIXES", "resolve_paths"]

# What a file found inside a directory must end with to be read as traces.
TRACE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")


def resolve_paths(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read, real paths (symlinks and `..` resolved), each with whether it was named explicitly.

    Directories are walked recursively for `TRACE_SUFFIXES` files (hidden entries
    skipped); globs may use `**`. Raises DatasetError for a path that does not
    exist or a directory / glob that matches no trace file.
    """
    if not paths:
        raise DatasetError("no dataset path given: pass trace files, directories or globs")
    out: dict[Path, bool] = {}
    for item in paths:
        text = os.path.expanduser(str(item))
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            matches = sorted(glob.glob(text, recursive=True))
            files = [Path(m).resolve() for m in matches if Path(m).is_file()]
            for d in (Path(m) for m in matches if Path(m).is_dir()):
                files.extend(_walk(d))
            if not files:
                raise DatasetError(f"the pattern {text!r} matches no files")
            for f in files:
                out.setdefault(f, False)
            continue
        path = Path(text)
        if path.is_dir():
            files = _walk(path)
            if not files:
                raise DatasetError(
                    f"no trace files under {path} (looked for {', '.join('*' + s for s in TRACE_SUFFIXES[:3])}, "
                    "optionally gzip-compressed)"
                )
            for f in files:
                out.setdefault(f, False)
        elif path.is_file():
            out[path.resolve()] = True
        elif path.exists():
            raise DatasetError(f"{path} is not a regular file or directory")
        else:
            raise DatasetError(f"{path} does not exist")
    return list(out.items())


def _walk(directory: Path) -> list[Path]:
    """Trace files under `directory`, resolved, in sorted order: a directory's files before its subdirectories.

    Entries are typed from the directory listing (no stat per file), and only
    symlinks are resolved one by one: a folder of many thousand files lists fast.
    Symlinked directories are not followed.
    """
    found: list[Path] = []
    stack = [directory.resolve()]
    while stack:
        base = stack.pop()
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(Path(entry.path))
            elif entry.name.lower().endswith(TRACE_SUFFIXES) and entry.is_file():
                found.append(Path(entry.path).resolve() if entry.is_symlink() else Path(entry.path))
        stack.extend(reversed(subdirs))
    return found
