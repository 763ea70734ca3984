"""The report page: findings ranked, each with its frequency bar and evidence links,
and each cited trace drawn as a waterfall with the cited span highlighted.

Only cited traces are drawn, at most `REPORT_MAX_TRACES` of them, each bounded by
`REPORT_LIMITS`; what was left out is said on the page. A trace that cannot be
read (gone from the dataset, no dataset at hand) is named with the reason, and
the rest of the report still renders.
"""

from __future__ import annotations

import re
from typing import Any

from engine.agents.report import Finding, Report, rank_findings
from engine.errors import HaloError
from engine.viewer import overview
from engine.viewer.charts import share_bar
from engine.viewer.data import REPORT_LIMITS, REPORT_MAX_TRACES, Citation, trace_data
from engine.viewer.shell import esc, page

__all__ = ["report_page", "report_body"]

_MARK = {True: ("ok", "✓ verified"), False: ("bad", "✗ not verified"), None: ("unk", "· unchecked")}


def _cited(report: Report) -> list[tuple[str, list[Citation]]]:
    """Cited trace ids in the order findings cite them, with the spans and quotes cited in each."""
    traces: dict[str, list[Citation]] = {}
    for n, finding in enumerate(rank_findings(report.findings), 1):
        for ev in finding.evidence:
            traces.setdefault(ev.trace_id, []).append(Citation(ev.span_id, ev.quote, f"finding {n}"))
    return list(traces.items())


def _traces(report: Report, ds: Any | None) -> tuple[list[dict[str, Any]], list[str]]:
    cited = _cited(report)
    notes = []
    if len(cited) > REPORT_MAX_TRACES:
        notes.append(f"{len(cited) - REPORT_MAX_TRACES} more cited traces not drawn (limit {REPORT_MAX_TRACES})")
    out = []
    for trace_id, citations in cited[:REPORT_MAX_TRACES]:
        if ds is None:
            out.append({"id": trace_id, "spans": [], "notes": ["no dataset at hand to draw this trace from"]})
            continue
        try:
            out.append(trace_data(ds, trace_id, REPORT_LIMITS, citations))
        except HaloError as err:
            out.append({"id": trace_id, "spans": [], "notes": [f"cannot draw this trace: {err}"]})
    return out, notes


def _evidence_link(
    trace_index: dict[str, int], traces: list[dict[str, Any]], trace_id: str, span_id: str | None
) -> str:
    t = trace_index.get(trace_id)
    where = f"trace {trace_id}" + (f" span {span_id}" if span_id else "")
    if t is None:
        return f'<span class="evref">{esc(where)}</span>'
    spans = traces[t]["spans"]
    s = next((i for i, sp in enumerate(spans) if sp["id"] == span_id), None) if span_id else None
    target = f"span-{t}-{s}" if s is not None else f"trace-{t}"
    data = f' data-t="{t}"' + (f' data-s="{s}"' if s is not None else "")
    return f'<a class="ev" href="#{target}"{data}>{esc(where)}</a>'


def _finding(n: int, f: Finding, trace_index: dict[str, int], traces: list[dict[str, Any]]) -> str:
    freq = f.frequency
    parts = [
        f'<li class="finding" id="finding-{n}"><h3><span class="rank">{n}</span> {esc(f.title)}</h3>',
        f'<div class="fmeta"><span class="impact {esc(f.impact)}">{esc(f.impact)} impact</span> '
        f'<span class="cat">{esc(f.category.replace("_", " "))}</span> '
        f"{share_bar(freq.share, label=str(freq))} <span class=\"freq\">{esc(freq)}</span>"
        + (' <span class="cat">from analytics</span>' if f.source == "analytics" else "")
        + "</div>",
    ]
    if f.detail:
        parts.append(f'<p class="detail">{esc(f.detail)}</p>')
    if f.hypothesis:
        parts.append(f"<p><b>Root-cause hypothesis:</b> {esc(f.hypothesis)}</p>")
    if f.suggested_change:
        change = f.suggested_change
        parts.append(f"<p><b>Suggested change ({esc(change.target.replace('_', ' '))}):</b> {esc(change.change)}</p>")
    if f.evidence:
        parts.append('<ul class="evidence">')
        for ev in f.evidence:
            cls, mark = _MARK[ev.verified]
            quote = f' <q>{esc(" ".join(ev.quote.split()))}</q>' if ev.quote else ""
            problem = f' <span class="problem">{esc(ev.problem)}</span>' if ev.verified is False and ev.problem else ""
            link = _evidence_link(trace_index, traces, ev.trace_id, ev.span_id)
            parts.append(f'<li><span class="mark {cls}">{mark}</span> {link}{quote}{problem}</li>')
        parts.append("</ul>")
    if f.code:
        parts.append('<ul class="code">')
        for c in f.code:
            cls, mark = _MARK[c.verified]
            parts.append(
                f'<li><span class="mark {cls}">{mark}</span> <code>{esc(c.where)}</code> <q>{esc(c.quote)}</q></li>'
            )
        parts.append("</ul>")
    parts.append("</li>")
    return "".join(parts)


def report_body(report: Report, ds: Any | None) -> tuple[str, dict[str, Any]]:
    """The report's markup and the data its waterfalls are drawn from."""
    traces, notes = _traces(report, ds)
    trace_index = {t["id"]: i for i, t in enumerate(traces)}
    head = [
        f'<header class="top"><h1>Diagnosis: {esc(report.question)}</h1>',
        f'<p class="meta">dataset <code>{esc(report.dataset)}</code> · run <code>{esc(report.run_id)}</code> · '
        f"{len(report.findings)} findings · citations: {report.citations_checked} checked, "
        f"{report.citations_failed} failed</p></header><main>",
    ]
    if report.produced_by == "deterministic":
        head.append('<p class="label">Produced without a model, from the deterministic failure analytics: '
                    "findings have frequencies and evidence but no root-cause hypotheses.</p>")  # fmt: skip
    if report.partial:
        head.append(f'<p class="label">Partial report: {esc(report.partial_reason or "the run ended early")}</p>')
    body = [*head, f'<section><h2>Summary</h2><p class="summary">{esc(report.summary)}</p></section>']
    body.append('<section><h2>Findings</h2><ol class="findings">')
    findings = rank_findings(report.findings)
    body += [_finding(n, f, trace_index, traces) for n, f in enumerate(findings, 1)] or ["<li>No findings.</li>"]
    body.append("</ol></section>")
    if traces:
        body.append('<section><h2>Evidence traces</h2><p class="hint">Click a span for its input, output and '
                    "conversation; ▸ opens a subtree.</p>")  # fmt: skip
        body += [f'<div class="trace" id="trace-{i}" data-t="{i}"></div>' for i in range(len(traces))]
        body.append("</section>")
    if ds is not None:
        body.append(overview.charts_section(ds))
    all_notes = notes + list(report.notes)
    if all_notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in all_notes)
        body.append(f"<section><h2>Notes</h2><ul>{items}</ul></section>")
    body.append("</main>")
    return "".join(body), {"view": "report", "traces": traces}


def report_page(report: Report, ds: Any | None) -> str:
    """The whole self-contained report document (`ds`: the dataset the run read, None if not at hand)."""
    body, data = report_body(report, ds)
    return page(f"Diagnosis: {report.question[:80]}", body, data)


def report_dataset(report: Report) -> str | None:
    """The dataset spec a saved report names, when its label is one path.

    A run records a label (`briefing.dataset_label`): the spec it was given, one
    file's path, `DIR (N files)` for files under one directory, or a list of
    files; the first three give a spec back, a list gives None.
    """
    label = report.dataset
    match = _DIR_LABEL.match(label)
    if match:
        return match.group(1)
    return None if (" and " in label and "more files" in label) or ", " in label else label


_DIR_LABEL = re.compile(r"^(.*) \(\d+ files\)$")
