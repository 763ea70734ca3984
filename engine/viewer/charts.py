"""Small inline SVG charts, drawn on the server: a share bar, labelled bars, a histogram.

SVG attributes position everything (no style attributes: the page's policy
allows none), and every label is escaped. Histograms use log-spaced bins, since
latencies and token counts of agent runs spread over orders of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.viewer.shell import esc

__all__ = ["share_bar", "labelled_bars", "histogram", "MAX_BARS", "HISTOGRAM_BINS"]

# Rows of a labelled bar chart (the rest are counted in its caption).
MAX_BARS = 15
HISTOGRAM_BINS = 12
WIDTH = 420
LABEL_W = 150


def share_bar(share: float, width: int = 120, label: str = "") -> str:
    """A bar filled to `share` (0-1): a finding's frequency."""
    share = min(1.0, max(0.0, share))
    fill = round(share * width, 1)
    return (
        f'<svg class="share" width="{width}" height="10" viewBox="0 0 {width} 10" role="img" aria-label="{esc(label)}">'
        f'<rect width="{width}" height="10" rx="2" fill="#e4e7ec"/>'
        f'<rect width="{fill}" height="10" rx="2" fill="#d9534f"/></svg>'
    )


def labelled_bars(title: str, rows: Sequence[tuple[str, float, str]], total_rows: int | None = None) -> str:
    """Horizontal bars: (label, value 0-1, text shown after the bar) per row, e.g. error rate per tool."""
    shown = list(rows)[:MAX_BARS]
    row_h, top = 18, 22
    height = top + row_h * max(1, len(shown)) + 6
    bar_w = WIDTH - LABEL_W - 90
    parts = [
        f'<figure class="chart"><svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{esc(title)}"><text x="0" y="14" class="ct">{esc(title)}</text>'
    ]
    if not shown:
        parts.append(f'<text x="0" y="{top + 12}" class="cl">none</text>')
    for n, (label, value, after) in enumerate(shown):
        y = top + n * row_h
        short = label if len(label) <= 22 else label[:21] + "…"
        w = round(min(1.0, max(0.0, value)) * bar_w, 1)
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 12}" text-anchor="end" class="cl"><title>{esc(label)}</title>{esc(short)}</text>'
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{bar_w}" height="12" fill="#eef0f3"/>'
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{w}" height="12" fill="#d9534f"/>'
            f'<text x="{LABEL_W + bar_w + 6}" y="{y + 12}" class="cl">{esc(after)}</text>'
        )
    parts.append("</svg>")
    more = (total_rows or len(rows)) - len(shown)
    if more > 0:
        parts.append(f"<figcaption>{more} more not shown</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value / 1000:.3g}s" if value >= 1000 else f"{value:.3g}ms"
    return f"{value / 1000:.3g}k" if value >= 1000 else f"{value:.3g}"


def histogram(title: str, values: Sequence[float], unit: str) -> str:
    """Counts of `values` in log-spaced bins from the smallest positive value to the largest."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    height, top, base = 130, 22, 108
    parts = [
        f'<figure class="chart"><svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{esc(title)}"><text x="0" y="14" class="ct">{esc(title)}</text>'
    ]
    if not positive:
        parts.append(f'<text x="0" y="{top + 20}" class="cl">no values</text></svg></figure>')
        return "".join(parts)
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    if hi - lo < 1e-9:
        hi = lo + 1
    step = (hi - lo) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for v in positive:
        counts[min(HISTOGRAM_BINS - 1, int((math.log10(v) - lo) / step))] += 1
    peak = max(counts)
    bin_w = (WIDTH - 10) / HISTOGRAM_BINS
    for i, c in enumerate(counts):
        h = round((base - top - 4) * c / peak, 1)
        x = round(5 + i * bin_w, 1)
        edge_lo, edge_hi = 10 ** (lo + i * step), 10 ** (lo + (i + 1) * step)
        parts.append(
            f'<rect x="{x}" y="{base - h}" width="{round(bin_w - 2, 1)}" height="{h}" fill="#4a78c2">'
            f"<title>{_fmt(edge_lo, unit)}–{_fmt(edge_hi, unit)}: {c}</title></rect>"
        )
    parts.append(
        f'<line x1="5" y1="{base}" x2="{WIDTH - 5}" y2="{base}" stroke="#99a"/>'
        f'<text x="5" y="{base + 14}" class="cl">{_fmt(min(positive), unit)}</text>'
        f'<text x="{WIDTH - 5}" y="{base + 14}" text-anchor="end" class="cl">{_fmt(max(positive), unit)}</text>'
        f'<text x="{WIDTH / 2}" y="{base + 14}" text-anchor="middle" class="cl">{len(positive):,} values (log scale)</text>'
        "</svg></figure>"
    )
    return "".join(parts)
