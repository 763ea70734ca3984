"""The optional C half of the HALO reader, or None.

`_halo_scan` is compiled at install time when a C compiler is there (see
pyproject.toml); without it, or with `HALO_MCP_NATIVE=0` in the environment,
the same code path reads lines with orjson alone and gives the same values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["halo_scan", "split_lines"]

halo_scan: Callable[[list[bytes]], tuple[Any, ...] | None] | None = None
split_lines: Callable[[bytes], list[bytes]] | None = None
if os.environ.get("HALO_MCP_NATIVE", "1") != "0":
    try:
        from engine.traces.readers._halo_scan import scan as halo_scan
        from engine.traces.readers._halo_scan import split_lines
    except ImportError:  # not compiled here
        halo_scan = split_lines = None
