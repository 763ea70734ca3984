"""Index-build progress on stderr for the CLI: a bar on a terminal, a few lines elsewhere.

`Dataset.open(progress=...)` (and `DatasetCatalog.open`) call a
`(done_bytes, total_bytes)` function while they read; `ProgressBar` is that
function. `halo-mcp index` shows it from the start. `overview`, `diagnose` and
`demo` show it only once indexing has taken longer than `PROGRESS_DELAY_S`, so
a dataset whose index is fresh opens without a word, as a production CLI does
(pip, cargo). It never writes to stdout, which carries the command's result.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "PROGRESS_DELAY_S", "PROGRESS_DELAY_ENV", "progress_delay", "TTY_RATE", "LOG_RATE"]

# Redraws per second on a terminal; lines per second when stderr is a file or pipe
# (a log of a minute-long build gets ~30 lines, not thousands).
TTY_RATE = 10.0
LOG_RATE = 0.5
BAR_WIDTH = 30
# Seconds an index build runs before `overview` / `diagnose` show its progress:
# a fresh index opens in milliseconds and shows nothing.
PROGRESS_DELAY_S = 1.0
# Overrides PROGRESS_DELAY_S (seconds, a number; 0 shows progress at once).
PROGRESS_DELAY_ENV = "HALO_MCP_PROGRESS_DELAY_S"


def progress_delay() -> float:
    """PROGRESS_DELAY_S, or $HALO_MCP_PROGRESS_DELAY_S when that is a number."""
    try:
        return max(0.0, float(os.environ.get(PROGRESS_DELAY_ENV, PROGRESS_DELAY_S)))
    except ValueError:
        return PROGRESS_DELAY_S


class ProgressBar:
    """`indexing [#####.....] 52%  540/1,030 MB  131 MB/s` on stderr, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, delay_s: float = 0.0, label: str = "indexing") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.delay_s = delay_s
        self.label = label
        self.started = time.perf_counter()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.started < self.delay_s:
            return
        if done < total and now - self._last < 1.0 / (TTY_RATE if self.tty else LOG_RATE):
            return
        if done >= total and not self._drawn and self.delay_s > 0:
            return  # finished before anything was shown: nothing worth a line
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * BAR_WIDTH)
        rate = done / 1e6 / max(now - self.started, 1e-9)
        text = (
            f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {frac:4.0%}  "
            f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {rate:,.0f} MB/s"
        )
        self.stream.write(("\r" + text) if self.tty else (text + "\n"))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
