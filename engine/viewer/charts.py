"""Small inline SVG charts, drawn on the server: a share bar, labelled bars, a histogram,
before/after pairs with intervals.

SVG attributes position everything (no style attributes: the page's policy
allows none), and every label is escaped. Histograms use log-spaced bins, since
latencies and token counts of agent runs spread over orders of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.viewer.shell import esc

__all__ = ["share_bar", "labelled_bars", "histogram", "Pair", "before_after", "MAX_BARS", "HISTOGRAM_BINS"]

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
            f'<text x="{LABEL_W - 6}" y="{y + 12}" text-anchor="end" class="cl">'
            f"<title>{esc(label)}</title>{esc(short)}</text>"
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
        f'<text x="{WIDTH / 2}" y="{base + 14}" text-anchor="middle" class="cl">'
        f"{len(positive):,} values (log scale)</text>"
        "</svg></figure>"
    )
    return "".join(parts)


@dataclass(frozen=True)
class Pair:
    """One rate before and after: each a share (0-1) with its interval, None where that side has no total."""

    label: str
    before: tuple[float, float, float] | None  # rate, low, high
    after: tuple[float, float, float] | None
    text: str  # shown after the bars: counts and verdict
    verdict: str  # resolved, new, better, worse, unchanged: colours the after bar


_VERDICT_FILL = {"resolved": "#2b8a3e", "better": "#2b8a3e", "worse": "#d9534f", "new": "#d9534f"}
_BEFORE_FILL = "#9aa4b2"
_SCALE_TOPS = (0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0)
PAIR_WIDTH = 600
PAIR_LABEL_W = 220
PAIR_TEXT_W = 150
PAIR_LABEL_CHARS = 34


def _scale_top(pairs: Sequence[Pair]) -> float:
    """The axis end: the smallest round share above every interval, so rare patterns stay visible."""
    peak = max((side[2] for p in pairs for side in (p.before, p.after) if side is not None), default=0.0)
    return next((top for top in _SCALE_TOPS if top >= peak), 1.0)


def _side(cls: str, y: float, side: tuple[float, float, float] | None, fill: str, top: float, bar_w: float) -> str:
    if side is None:
        return f'<text x="{PAIR_LABEL_W + 4}" y="{y + 8}" class="cl">not measured</text>'
    rate, low, high = (min(1.0, max(0.0, v)) / top * bar_w for v in side)
    x0, mid = PAIR_LABEL_W, y + 4.5
    lo_x, hi_x = round(x0 + low, 1), round(x0 + min(high, bar_w), 1)
    return (
        f'<rect class="{cls}" x="{x0}" y="{y}" width="{round(min(rate, bar_w), 1)}" height="9" fill="{fill}"/>'
        f'<line x1="{lo_x}" y1="{mid}" x2="{hi_x}" y2="{mid}" stroke="#1d2330"/>'
        f'<line x1="{lo_x}" y1="{y + 1}" x2="{lo_x}" y2="{y + 8}" stroke="#1d2330"/>'
        f'<line x1="{hi_x}" y1="{y + 1}" x2="{hi_x}" y2="{y + 8}" stroke="#1d2330"/>'
    )


def before_after(title: str, pairs: Sequence[Pair], total_rows: int | None = None, name: str = "") -> str:
    """Two bars per row, baseline (grey) over candidate (coloured by verdict), each with its interval as a whisker.

    Rows past `MAX_BARS` are counted in the caption; the axis ends at the smallest
    round share above every interval end (`_scale_top`), labelled in percent.
    `name` marks the figure (`data-chart`) for pages and tests to find it by.
    """
    shown = list(pairs)[:MAX_BARS]
    top = _scale_top(shown)
    row_h, head = 30, 40
    bar_w = PAIR_WIDTH - PAIR_LABEL_W - PAIR_TEXT_W
    height = head + row_h * max(1, len(shown)) + 18
    parts = [
        f'<figure class="chart pairs" data-chart="{esc(name)}">'
        f'<svg width="{PAIR_WIDTH}" height="{height}" viewBox="0 0 {PAIR_WIDTH} {height}" '
        f'role="img" aria-label="{esc(title)}"><text x="0" y="14" class="ct">{esc(title)}</text>'
        f'<rect x="{PAIR_LABEL_W}" y="22" width="10" height="8" fill="{_BEFORE_FILL}"/>'
        f'<text x="{PAIR_LABEL_W + 14}" y="30" class="cl">before</text>'
        f'<rect x="{PAIR_LABEL_W + 64}" y="22" width="10" height="8" fill="#4a78c2"/>'
        f'<text x="{PAIR_LABEL_W + 78}" y="30" class="cl">after: green better, red worse</text>'
    ]
    if not shown:
        parts.append(f'<text x="0" y="{head + 12}" class="cl">none on either side</text>')
    for n, p in enumerate(shown):
        y = head + n * row_h
        short = p.label if len(p.label) <= PAIR_LABEL_CHARS else p.label[: PAIR_LABEL_CHARS - 1] + "…"
        fill = _VERDICT_FILL.get(p.verdict, "#4a78c2")
        parts.append(
            f'<g class="pair" data-verdict="{esc(p.verdict)}"><title>{esc(p.label)}: {esc(p.text)}</title>'
            f'<text x="{PAIR_LABEL_W - 6}" y="{y + 15}" text-anchor="end" class="cl">{esc(short)}</text>'
            f'<rect x="{PAIR_LABEL_W}" y="{y + 1}" width="{bar_w}" height="22" fill="#f6f7f9"/>'
            + _side("before", y + 2, p.before, _BEFORE_FILL, top, bar_w)
            + _side("after", y + 13, p.after, fill, top, bar_w)
            + f'<text x="{PAIR_LABEL_W + bar_w + 6}" y="{y + 15}" class="cl">{esc(p.text)}</text></g>'
        )
    axis_y = head + row_h * max(1, len(shown)) + 2
    parts.append(
        f'<line x1="{PAIR_LABEL_W}" y1="{axis_y}" x2="{PAIR_LABEL_W + bar_w}" y2="{axis_y}" stroke="#99a"/>'
        f'<text x="{PAIR_LABEL_W}" y="{axis_y + 13}" class="cl">0%</text>'
        f'<text x="{PAIR_LABEL_W + bar_w}" y="{axis_y + 13}" text-anchor="end" class="cl">{top * 100:g}%</text>'
        "</svg>"
    )
    more = (total_rows or len(pairs)) - len(shown)
    if more > 0:
        parts.append(f"<figcaption>{more} more not drawn (all are in the table)</figcaption>")
    parts.append("</figure>")
    return "".join(parts)
