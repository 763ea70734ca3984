"""The optional C half of the index build (`engine/traces/csrc/`), function by function, or None.

`_native` is compiled at install time where a C compiler is (see setup.py).
Without it, or with `HALO_MCP_NATIVE=0` in the environment, every caller takes
its Python path, which gives the same values: the tests hold the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["byte_lengths", "codes", "floats", "halo_scan", "integers", "link_parents", "split_lines", "string_column"]

halo_scan: Callable[[list[bytes]], tuple[Any, ...] | None] | None = None
split_lines: Callable[[bytes], list[bytes]] | None = None
codes: Callable[[dict[Any, int], list[Any] | None, Sequence[Any]], bytearray] | None = None
byte_lengths: Callable[[Sequence[Any]], bytearray | None] | None = None
integers: Callable[[Sequence[Any], int, int], bytearray | None] | None = None
floats: Callable[[Sequence[Any]], bytearray | None] | None = None
link_parents: Callable[[Any, Any], tuple[bytearray, bytearray]] | None = None
string_column: Callable[[Sequence[str | None]], tuple[bytearray, bytearray, bytes] | None] | None = None

if os.environ.get("HALO_MCP_NATIVE", "1") != "0":
    try:
        from engine.traces import _native
    except ImportError:  # not compiled here
        pass
    else:
        halo_scan, split_lines = _native.scan_halo, _native.split_lines
        codes, string_column = _native.codes, _native.string_column
        link_parents, byte_lengths = _native.link_parents, _native.byte_lengths
        integers, floats = _native.integers, _native.floats
