"""Shared settings for the sandbox tests: tight limits so escapes fail fast."""

from __future__ import annotations

import pytest

from sandbox import Limits


@pytest.fixture
def limits() -> Limits:
    return Limits(wall_s=10, cpu_s=5, memory_bytes=1 << 30, output_bytes=64 * 1024, warm_spares=1)
