"""Progress notifications while a dataset is indexed (a cold first use takes seconds).

The index is built in a worker thread and reports `(bytes_done, bytes_total)`
there; `index_progress` turns that into the request's `notifications/progress`
(a no-op when the request carried no progressToken), sent on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.from_thread

__all__ = ["INDEX_PROGRESS_STEP", "index_progress"]

logger = logging.getLogger(__name__)

# Fraction of the bytes to index between two notifications (plus one at the end):
# at most ~20 notifications per build, whatever its size.
INDEX_PROGRESS_STEP = 0.05


def index_progress(context: Any) -> Callable[[int, int], None]:
    """A thread-side `progress(done, total)` that notifies the client of `context`'s request."""
    last = -1.0

    def report(done: int, total: int) -> None:
        nonlocal last
        fraction = done / total if total > 0 else 1.0
        if fraction < 1.0 and fraction - last < INDEX_PROGRESS_STEP:
            return
        last = fraction
        message = f"indexing traces: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB"
        try:
            anyio.from_thread.run(context.report_progress, fraction, 1.0, message)
        except Exception as exc:  # a client that went away must not stop the build
            logger.debug("progress notification not sent: %s", exc)

    return report
