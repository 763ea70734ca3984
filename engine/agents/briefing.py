"""What the root agent is given up front, and what a run falls back on.

The root starts from the dataset overview and the failure analytics (through
the same `overview` and `patterns` tools an MCP client calls), so its first
turns go to explaining measured patterns rather than rediscovering them.
When a run ends without the root's report, `partial_report` keeps what was
recorded and adds the deterministic findings, labelled partial.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from engine.agents.deterministic import deterministic_findings
from engine.agents.fitting import CHARS_PER_TOKEN_ESTIMATE
from engine.agents.report import Finding, Report, rank_findings
from engine.agents.state import Run
from engine.errors import HaloError
from engine.tools.registry import CHARS_PER_TOKEN, REGISTRY, call_tool

if TYPE_CHECKING:
    from engine.traces.analytics import Analytics
    from engine.traces.dataset import Dataset

__all__ = [
    "dataset_label",
    "briefing",
    "model_report",
    "partial_report",
    "completed_report",
    "quoted_notes",
    "BRIEFING_TOKENS",
]

# The overview and the analytics each get at most this much of the root's first message
# (tool budget tokens); less when the context limit is small.
BRIEFING_TOKENS = 6_000
# Each part keeps at least this many characters, however small the context.
MIN_PART_CHARS = 600
# The overview's share of the briefing; the analytics (ranked patterns) get the rest.
OVERVIEW_SHARE = 0.4
LABEL_FILES = 3


def dataset_label(ds: Dataset, given: str | None) -> str:
    if given:
        return given
    sources = getattr(ds, "sources", [])
    if sources:  # a remote source: its URL and how fresh the copy is, never the cache's file names
        return "; ".join(f.line() for f in sources)
    paths = [str(f.path) for f in getattr(ds, "files", [])]
    if not paths:
        return "(dataset)"
    if len(paths) == 1:
        return paths[0]
    common = os.path.commonpath(paths)
    if common and common not in paths:  # several files under one directory
        return f"{common} ({len(paths)} files)"
    shown = ", ".join(paths[:LABEL_FILES])
    return shown + (f" and {len(paths) - LABEL_FILES} more files" if len(paths) > LABEL_FILES else "")


async def _tool_answer(run: Run, name: str, args: dict[str, Any], chars: int) -> tuple[str | None, Any]:
    """(text, result) of a registry tool answering in about `chars`; (None, None) when
    the tool is not registered."""
    if name not in REGISTRY:
        return None, None
    # call_tool's budget covers the text and the structured result: about twice the text
    budget = max(1, min(BRIEFING_TOKENS, 2 * chars // CHARS_PER_TOKEN))
    try:
        answer = await call_tool(name, run.context, args, budget_tokens=budget)
    except HaloError as exc:
        return f"({name} failed: {exc})", None
    except RuntimeError:  # the tool could not answer in so little room: the caller falls back
        return None, None
    return _fit(answer.text, chars, name), answer.result


def _fit(text: str, chars: int, tool: str) -> str:
    if len(text) <= chars:
        return text
    return text[: max(0, chars - 80)].rstrip() + f"\n…(cut to fit the context limit: call `{tool}` for the rest)"


def _analytics_text(analytics: Analytics) -> str:
    lines = [f"{analytics.total_traces} traces, {analytics.total_spans} spans; {len(analytics.patterns)} patterns"]
    for n, p in enumerate(analytics.patterns[:20], 1):
        frequency = f"{p.traces_affected}/{p.total_traces} traces, {p.spans_affected} spans"
        lines.append(f"{n}. [{p.kind}] {p.title}: {frequency}")
        if p.detail:
            lines.append(f"   {p.detail[:300]}")
        for e in p.examples[:2]:
            quote = f' "{e.quote[:120]}"' if e.quote else ""
            lines.append(f"   e.g. trace {e.trace_id} span {e.span_id}{quote}")
    return "\n".join(lines)


async def briefing(run: Run, analytics: Analytics | None, budget_tokens: int | None = None) -> tuple[str, str]:
    """(overview text, analytics text) for the root's first message, together within
    `budget_tokens` (estimated tokens; None: the usual size). The patterns come ranked,
    so a cut keeps the most consequential; the rest is one `patterns` call away."""
    usual = 2 * BRIEFING_TOKENS * CHARS_PER_TOKEN
    chars = usual if budget_tokens is None else min(usual, budget_tokens * CHARS_PER_TOKEN_ESTIMATE)
    overview_chars = max(MIN_PART_CHARS, int(chars * OVERVIEW_SHARE))
    overview, result = await _tool_answer(run, "overview", {}, overview_chars)
    if overview is None:
        ds = run.ds
        overview = f"{ds.n_traces} traces, {ds.n_spans} spans in {len(getattr(ds, 'files', []))} files"
    total = getattr(result, "patterns_total", None)
    if total is not None and len(getattr(result, "patterns", [])) >= total:
        return overview, f"All {total} measured patterns are listed in the overview above."
    pattern_chars = max(MIN_PART_CHARS, chars - len(overview))
    patterns, _ = await _tool_answer(run, "patterns", {}, pattern_chars)
    if patterns is None:
        text = _analytics_text(analytics) if analytics is not None else "(failure analytics unavailable)"
        patterns = _fit(text, pattern_chars, "patterns")
    return overview, patterns


def model_report(run: Run, summary: str) -> Report:
    """The report the root submitted (citations not yet checked)."""
    return Report(
        run_id=run.run_id,
        question=run.question,
        dataset=run.dataset_label,
        produced_by="model",
        summary=summary,
        findings=rank_findings(list(run.findings)),
        facts=run.facts.model_copy(update={"duration_s": round(run.elapsed(), 2)}),
        notes=list(run.notes),
    )


def _measured(run: Run, analytics: Analytics | None, recorded: list[Finding]) -> list[Finding]:
    """The analytics' findings not already among `recorded` (by title)."""
    known = {f.title.strip().lower() for f in recorded}
    measured = deterministic_findings(analytics) if analytics is not None else []
    return [f for f in measured if f.title.strip().lower() not in known]


def partial_report(run: Run, reason: str, analytics: Analytics | None, last_notes: list[str]) -> Report:
    """What a run that ended early still knows: recorded findings, then the analytics'."""
    recorded = list(run.findings)
    measured = _measured(run, analytics, recorded)
    summary = [
        f"This run ended before the lead agent wrote its report: {reason}.",
        f"It had recorded {len(recorded)} finding(s); {len(measured)} more come from the deterministic "
        "failure analytics (frequencies and examples, no hypotheses).",
    ]
    if quoted := quoted_notes(last_notes[-2:]):
        summary.append("Last notes of the lead agent:\n\n" + quoted)
    report = model_report(run, "\n\n".join(summary))
    return report.model_copy(
        update={
            "partial": True,
            "partial_reason": reason,
            "findings": rank_findings(recorded) + measured,
        }
    )


def completed_report(run: Run, summary: str, analytics: Analytics | None) -> Report:
    """The root's report, completed with the analytics' findings when it has none of its own
    (the same labelled findings a partial report carries)."""
    report = model_report(run, summary)
    if report.findings:
        return report
    measured = _measured(run, analytics, [])
    if not measured:
        return report
    note = (
        f"The lead agent reported no findings; the {len(measured)} below come from the deterministic "
        "failure analytics (frequencies and examples, no hypotheses)."
    )
    return report.model_copy(update={"findings": measured, "notes": [*report.notes, note]})


# Blocks that small models echo from their chat template into their text.
_ECHOED = re.compile(r"<(tool_response|tool_call|think|function_call)>.*?(</\1>|$)", re.S | re.I)
NOTES_CHARS = 1_200


def quoted_notes(notes: list[str]) -> str:
    """A model's own text, made safe to put in Markdown: echoed template blocks left out,
    cut, and fenced with more backticks than it contains (so its fences cannot close ours)."""
    text = "\n\n".join(_ECHOED.sub(" ", note).strip() for note in notes)
    text = text.strip()[:NOTES_CHARS].strip()
    if not text:
        return ""
    runs = [len(m) for m in re.findall(r"`+|~+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}text\n{text}\n{fence}"
