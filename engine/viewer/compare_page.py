"""The compare page: did the change fix it, as pictures: each failure pattern's rate
before and after with intervals, each tool's error rate per call, the success
proxies, and run percentiles, beside the numbers and verdicts of `compare`.

Drawn from a `Comparison` only (no traces are read), so the page is as small as
the comparison. Bars show each side's rate with its 95% Wilson interval; the
table gives the difference's Newcombe interval, the test and the verdict, which
is what the verdict rests on. Every label (pattern titles, tool names, dataset
labels) is trace or user text and is escaped.
"""

from __future__ import annotations

from engine.compare import Comparison, MetricChange, PatternChange, RateChange, ToolChange
from engine.compare.stats import wilson_interval
from engine.tools import render
from engine.viewer.charts import Pair, before_after
from engine.viewer.shell import esc, page

__all__ = ["compare_page", "compare_body", "pattern_pairs", "tool_pairs"]

_PATTERNS_TITLE = "Failure patterns: traces affected (whiskers: 95% interval)"
_SUCCESS_LABELS = {"final_answer": "final answer reached", "turn_limit": "turn limit hit"}


def _side(k: int, n: int) -> tuple[float, float, float] | None:
    if n <= 0:
        return None
    low, high = wilson_interval(k, n)
    return k / n, low, high


def _counts(c: RateChange) -> str:
    return f"{render.pct(c.baseline, c.baseline_total)} → {render.pct(c.candidate, c.candidate_total)} {c.verdict}"


def _pair(label: str, c: RateChange) -> Pair:
    before, after = _side(c.baseline, c.baseline_total), _side(c.candidate, c.candidate_total)
    return Pair(label, before, after, _counts(c), c.verdict)


def pattern_pairs(patterns: list[PatternChange]) -> list[Pair]:
    """One before/after pair per pattern: traces affected per trace on each side."""
    return [_pair(p.title, p) for p in patterns]


def tool_pairs(tools: list[ToolChange]) -> list[Pair]:
    """One pair per tool: calls ending in an error per call; a side without calls is not measured."""
    return [_pair(t.tool, t.errors) for t in tools]


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def _difference(c: RateChange) -> str:
    test = "Fisher" if c.test == "fisher_exact" else "z-test"
    return f"{_points(c.difference)} pts [{_points(c.low)}, {_points(c.high)}] · {test} p={c.p_value:.2g}"


def _pattern_table(patterns: list[PatternChange]) -> str:
    rows = "".join(
        f'<tr class="v-{esc(p.verdict)}"><td class="num">{n}</td><td><b>{esc(p.verdict)}</b></td><td>{esc(p.kind)}</td>'
        f"<td>{esc(p.title)}</td><td class=\"num\">{p.baseline}/{p.baseline_total}</td>"
        f"<td class=\"num\">{p.candidate}/{p.candidate_total}</td><td>{esc(_difference(p))}</td>"
        f"<td class=\"num\">≥{p.detectable * 100:.0f} pts</td></tr>"
        for n, p in enumerate(patterns, 1)
    )
    return (
        '<table class="list"><thead><tr><th>#</th><th>verdict</th><th>kind</th><th>pattern</th><th>before</th>'
        "<th>after</th><th>difference, 95% interval, test</th><th>detectable</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=8>no failure pattern on either side</td></tr>'}</tbody></table>"
    )


def _metric_value(m: MetricChange, value: float | None) -> str:
    if value is None:
        return "?"
    if m.metric == "latency_ms":
        return render.ms(value)
    return f"${value:,.4f}" if m.metric == "cost" else render.num(round(value))


def _runs_table(runs: list[MetricChange]) -> str:
    rows = []
    for m in runs:
        cells = []
        for q in ("p50", "p90", "p99"):
            before, after = getattr(m.baseline, q), getattr(m.candidate, q)
            cells.append(f"<td>{esc(_metric_value(m, before))} → {esc(_metric_value(m, after))}</td>")
        n = f'<td class="num">{m.baseline.n} → {m.candidate.n}</td>'
        rows.append(f"<tr><td>{esc(m.metric)}</td>{n}{''.join(cells)}</tr>")
    return (
        '<table class="list"><thead><tr><th>per run</th><th>n</th><th>p50</th><th>p90</th><th>p99</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def compare_body(c: Comparison, tests: str = "") -> str:
    """The page's markup (already escaped)."""
    sample_cls = "label" if c.small_sample else "meta"
    body = [
        f'<header class="top"><h1>Compare: <code>{esc(c.baseline)}</code> → <code>{esc(c.candidate)}</code></h1>',
        f'<p class="meta">{c.baseline_traces:,} baseline traces · {c.candidate_traces:,} candidate traces</p>',
        "</header><main>",
        f'<p class="{sample_cls}">{esc(c.sample)}</p>',
        '<section class="charts"><h2>Before and after</h2><div class="chartrow">',
        before_after(_PATTERNS_TITLE, pattern_pairs(c.patterns), name="patterns"),
    ]
    if c.tools:
        body.append(before_after("Tool errors per call (whiskers: 95% interval)", tool_pairs(c.tools), name="tools"))
    if c.success:
        pairs = [_pair(_SUCCESS_LABELS.get(k, k), v) for k, v in c.success.items()]
        body.append(before_after("Success: share of traces", pairs, name="success"))
    body += ["</div></section>", "<section><h2>Failure patterns</h2>", _pattern_table(c.patterns), "</section>"]
    if c.runs:
        body += ["<section><h2>Runs</h2>", _runs_table(c.runs), "</section>"]
    if c.finding is not None:
        f = c.finding
        body.append(f"<section><h2>Finding {f.finding} of run <code>{esc(f.run_id)}</code></h2><p>{esc(f.summary)}</p>")
        if f.patterns:
            body.append(before_after(f"Its patterns: {f.title}", pattern_pairs(f.patterns)))
        body.append("</section>")
    notes = ([tests] if tests else []) + list(c.notes)
    if notes:
        body.append("<section><h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul></section>")
    body.append("</main>")
    return "".join(body)


def compare_page(c: Comparison, tests: str = "") -> str:
    """The whole self-contained compare document (`tests`: the sentence naming the tests used)."""
    title = f"Compare {c.baseline[:60]} → {c.candidate[:60]}"
    return page(title, compare_body(c, tests), {"view": "compare", "traces": []})
