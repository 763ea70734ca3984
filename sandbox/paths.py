"""What the child may read after lock-down: its Python, its packages, the data, system libraries.

Python imports lazily (pandas loads submodules on first use, ctypes loads libffi),
so the interpreter and its libraries stay readable. Nothing else is: not /etc,
not the home directory, not /proc (another process's environment holds secrets).
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

__all__ = ["child_read_only", "READ_WRITE_FILES", "SYSTEM_READ_ONLY", "package_root"]

# Shared libraries, the loader cache and time zones; devices that are harmless to read.
SYSTEM_READ_ONLY = (
    "/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64", "/etc/ld.so.cache",
    "/etc/localtime", "/usr/share/zoneinfo", "/dev/urandom", "/dev/random",
)
# Files the code may write without being able to replace them.
READ_WRITE_FILES = ("/dev/null",)


def package_root() -> Path:
    """The directory holding the `sandbox` and `engine` packages (put on the child's sys.path)."""
    return Path(__file__).resolve().parent.parent


def interpreter_paths() -> list[Path]:
    """The running Python's installation: prefixes, the stdlib, site-packages."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found.update(value for value in sysconfig.get_paths().values() if value)
    return [Path(p) for p in sorted(found)]


def child_read_only(data: Iterable[Path] = ()) -> list[Path]:
    """Everything the child may read (plus `data`: trace files, index directories),
    resolved and de-duplicated, in a stable order."""
    root = package_root()
    paths = [*interpreter_paths(), root / "sandbox", root / "engine"]
    paths += [Path(p) for p in SYSTEM_READ_ONLY]
    paths += list(data)
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if resolved.exists():
            seen.setdefault(str(resolved), resolved)
    return list(seen.values())
