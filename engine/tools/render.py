"""Small text formatters shared by the tools' `render()` methods.

Renderings are read by models: one fact per line, units on numbers, full ids
(a model cites them), no pretty-printed JSON.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = [
    "num",
    "pct",
    "ms",
    "ns_to_ms",
    "when",
    "tokens",
    "cost",
    "quote",
    "call",
]


def num(n: int | float | None) -> str:
    """12,345 ; '?' for unknown."""
    if n is None or (isinstance(n, float) and math.isnan(n)) or (isinstance(n, int) and n < 0):
        return "?"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}"
    return f"{int(n):,}"


def pct(part: int, whole: int) -> str:
    """'12%' of a whole, '0.4%' under 1%; '0%' only for nothing (or an empty whole) and
    '100%' only for all: a share that is not zero never reads as zero ('<0.1%'), nor
    one short of all as all ('99.8%', '>99.9%'). The one percentage format of the
    tools and the reports."""
    if whole <= 0 or part <= 0:
        return "0%"
    if part >= whole:
        return f"{100.0 * part / whole:.0f}%"
    value = 100.0 * part / whole
    if value < 0.1:
        return "<0.1%"
    if value < 1:
        return f"{value:.1f}%"
    if value < 99.5:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value < 99.95 else ">99.9%"


def ms(value: float | None) -> str:
    """A duration given in milliseconds: 850ms, 1.2s, 3m04s, 2h05m."""
    if value is None or math.isnan(value) or value < 0:
        return "?"
    if value < 1000:
        return f"{value:.0f}ms"
    s = value / 1000
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def ns_to_ms(start_ns: int, end_ns: int) -> float | None:
    if start_ns <= 0 or end_ns < start_ns:
        return None
    return (end_ns - start_ns) / 1e6


def when(epoch_ns: int | None) -> str:
    """An epoch-ns timestamp as 'YYYY-MM-DD HH:MM:SSZ'."""
    if not epoch_ns or epoch_ns <= 0:
        return "?"
    return datetime.fromtimestamp(epoch_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """'325→21 tok', or '' when neither is known."""
    known_in = input_tokens is not None and input_tokens >= 0
    known_out = output_tokens is not None and output_tokens >= 0
    if not known_in and not known_out:
        return ""
    return f"{num(input_tokens if known_in else None)}→{num(output_tokens if known_out else None)} tok"


def cost(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def quote(text: str) -> str:
    """A string on one line, for showing inside a rendering."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def call(tool: str, **kwargs: object) -> str:
    """A tool call as a model would write it: view_spans(trace_id="…", span_ids=["…"])."""
    parts = []
    for key, value in kwargs.items():
        if value is None:
            continue
        parts.append(f"{key}={_literal(value)}")
    return f"{tool}({', '.join(parts)})"


def _literal(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)
