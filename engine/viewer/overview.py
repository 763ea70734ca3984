"""The dataset at a glance as pictures: error rate per tool, trace latency and token spreads.

Read from the same rollups as the `overview` tool (`store_overview.overview`)
and the trace table's columns, so the charts and the text agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.traces.store.glance import overview
from engine.viewer.charts import histogram, labelled_bars

__all__ = ["charts_section", "tool_error_rows"]


def tool_error_rows(ds: Any) -> tuple[list[tuple[str, float, str]], int]:
    """(tool, error share, "errors/calls") per tool, highest error rate first; and how many tools there are."""
    ov = overview(ds)
    rows = [
        (t.name, (t.errors + t.output_errors) / t.calls if t.calls else 0.0, f"{t.errors + t.output_errors}/{t.calls}")
        for t in ov.tools
    ]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows, ov.tools_total


def charts_section(ds: Any) -> str:
    """A section of three small charts about `ds`."""
    rows, total = tool_error_rows(ds)
    durations = (np.asarray(ds.traces.duration_ns, dtype=np.float64) / 1e6).tolist()
    tokens = (np.asarray(ds.traces.input_tokens, dtype=np.float64) + np.asarray(ds.traces.output_tokens)).tolist()
    return (
        '<section class="charts"><h2>Dataset at a glance</h2><div class="chartrow">'
        + labelled_bars("Error rate per tool (errors/calls)", rows, total)
        + histogram("Trace latency", durations, "ms")
        + histogram("Tokens per trace", tokens, "tokens")
        + "</div></section>"
    )
