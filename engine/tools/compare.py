"""compare: did the change fix it? Failure rates, tool errors and run costs, before against after.

The tool form of `engine.compare.compare_datasets`: two datasets, or one split by
time or attribute, each failure pattern's rate on both sides with the
difference's interval, a count test and a verdict; success proxies, tool error
rates and run percentiles; and what the sample size can show at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from engine.compare import Comparison, FindingRef, compare_datasets, finding_ref
from engine.compare.changes import FindingCheck, MetricChange, PatternChange, RateChange, ToolChange
from engine.compare.stats import Z_TEST_MIN_EXPECTED
from engine.errors import InvalidArgumentError
from engine.tools import render
from engine.tools.budget import MIN_FIELD_CHARS, cut, fit, fits
from engine.tools.common import ToolArgs, description, in_thread, open_dataset
from engine.tools.context import ToolContext
from engine.tools.registry import ToolResult, ToolSpec, register

__all__ = ["CompareArgs", "CompareResult", "SPEC", "TESTS_NOTE", "render_comparison"]

TITLE_CHARS = 200
# Tools shown even when no pattern fits; beyond these, tools shrink with the patterns.
MIN_TOOLS = 5
TESTS_NOTE = (
    f"tests: Fisher's exact test when a 2x2 cell's expected count is below {Z_TEST_MIN_EXPECTED:g}, "
    "else the pooled two-proportion z-test; 95% Newcombe (Wilson score) intervals of the difference; "
    "a verdict other than unchanged needs p < 0.05"
)

SHORT_TESTS_NOTE = "tests: Fisher exact (small counts) or z; 95% Newcombe intervals; verdicts need p < 0.05"
COMPACT_NOTE = (
    "answer cut to fit the budget: success rates, tools, run percentiles and finding details left out; "
    "ask with a larger budget or run `halo-mcp compare`"
)


class CompareArgs(ToolArgs):
    baseline: str | None = Field(default=None, description="dataset before the change; omit for the default")
    candidate: str | None = Field(default=None, description="dataset after it; omit to split baseline")
    before: str | None = Field(default=None, description="ISO time: baseline = traces starting before it")
    after: str | None = Field(default=None, description="ISO time: candidate = traces starting from it")
    attribute: str | None = Field(default=None, description="split by this attribute (service.version, model…)")
    baseline_value: str | None = Field(default=None, description="the attribute's baseline value")
    candidate_value: str | None = Field(default=None, description="the attribute's candidate value")
    run_id: str | None = Field(default=None, description="saved diagnose run whose finding to check")
    finding: int | None = Field(default=None, description="that finding's number (1-based)")


class CompareResult(Comparison, ToolResult):
    shown_patterns: int = Field(default=0, description="patterns measured, shown or not")
    tests: str = TESTS_NOTE

    def render(self) -> str:
        return render_comparison(self)


def _rate(k: int, n: int) -> str:
    return f"{k}/{n} ({render.pct(k, n)})"


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def _change(c: RateChange) -> str:
    test = "Fisher" if c.test == "fisher_exact" else "z-test"
    text = (
        f"{_rate(c.baseline, c.baseline_total)} → {_rate(c.candidate, c.candidate_total)}, "
        f"{_points(c.difference)} pts [{_points(c.low)}, {_points(c.high)}], {test} p={c.p_value:.2g}"
    )
    if c.verdict == "unchanged":
        text += f"; within noise (detectable ≥{c.detectable * 100:.0f} pts)"
    return text


def _pattern(p: PatternChange, n: int) -> str:
    return f"{n}. {p.verdict.upper()} [{p.kind}] {p.title}: {_change(p)}"


def _tool(t: ToolChange) -> str:
    head = f"- {t.tool}: {t.baseline_calls_per_trace:.2f} → {t.candidate_calls_per_trace:.2f} calls/trace; "
    if not t.baseline_calls or not t.candidate_calls:
        side = "baseline" if not t.baseline_calls else "candidate"
        return head + f"not called on the {side} side, errors not comparable"
    return head + f"errors per call {t.errors.verdict}: {_change(t.errors)}"


def _metric(m: MetricChange) -> str:
    if not m.baseline.n and not m.candidate.n:
        return f"- {m.metric}: not recorded"
    fmt = render.ms if m.metric == "latency_ms" else render.num
    parts = []
    for q in ("p50", "p90", "p99"):
        x, y = getattr(m.baseline, q), getattr(m.candidate, q)
        delta = m.delta.get(q)
        sign = "" if delta is None else (" (+" if delta >= 0 else " (-") + fmt(abs(delta)) + ")"
        parts.append(f"{q} {fmt(x)} → {fmt(y)}{sign}")
    return f"- {m.metric} (n {m.baseline.n} → {m.candidate.n}): " + "; ".join(parts)


def render_comparison(c: CompareResult) -> str:
    lines = [
        f"baseline {c.baseline} ({c.baseline_traces} traces) → candidate {c.candidate} ({c.candidate_traces} traces)"
    ]
    lines.append(c.sample)
    lines.append("failure patterns:")
    lines += [_pattern(p, n) for n, p in enumerate(c.patterns, 1)] or ["- none on either side"]
    if c.shown_patterns > len(c.patterns):
        left_out = c.shown_patterns - len(c.patterns)
        lines.append(f"- {left_out} more patterns left out to fit the budget (all unchanged or smaller)")
    fa, tl = c.success.get("final_answer"), c.success.get("turn_limit")
    if fa and tl:
        lines.append(f"final answer reached {fa.verdict}: {_change(fa)}")
        lines.append(f"turn limit hit {tl.verdict}: {_change(tl)}")
    if c.tools:
        lines.append("tools:")
        lines += [_tool(t) for t in c.tools]
    if c.runs:
        lines.append("runs:")
        lines += [_metric(m) for m in c.runs]
    if c.finding is not None:
        lines += _finding(c.finding)
    lines.append(c.tests)
    lines += [f"note: {n}" for n in c.notes]
    return "\n".join(lines)


def _finding(f: FindingCheck) -> list[str]:
    lines = [f"finding check: {f.summary}"]
    lines += [f"- pattern {p.verdict.upper()} [{p.kind}] {p.title}: {_change(p)}" for p in f.patterns]
    lines += [f"- quote \"{render.quote(q.quote)}\" in traces: {_change(q.traces)}" for q in f.quotes]
    return lines


def _label(path: str | None) -> str:
    return path if path is not None else "(default dataset)"


def _finding_ref(ctx: ToolContext, run_id: str | None, number: int | None) -> FindingRef | None:
    if run_id is None and number is None:
        return None
    if run_id is None or number is None:
        raise InvalidArgumentError("checking a finding needs both run_id and finding (its number in the report)")
    store = ctx.run_store
    if store is None:
        raise InvalidArgumentError("saved diagnose runs are not available to this caller; compare without run_id")
    report = store.report(run_id)
    if report is None:
        raise InvalidArgumentError(f"run {run_id} has no report yet; wait for it with diagnose_status")
    return finding_ref(report, number)


async def compare(ctx: ToolContext, args: CompareArgs, budget: int) -> CompareResult:
    ref = await in_thread(_finding_ref, ctx, args.run_id, args.finding)
    baseline = args.baseline if args.baseline is not None or ref is None else ref.dataset
    base = await open_dataset(ctx, baseline)
    cand = await open_dataset(ctx, args.candidate) if args.candidate is not None else None
    comparison = await in_thread(
        compare_datasets, base, cand, before=args.before, after=args.after, attribute=args.attribute,
        baseline_value=args.baseline_value, candidate_value=args.candidate_value,
        baseline_label=_label(baseline), candidate_label=_label(args.candidate) if cand else _label(baseline),
        finding=ref,
    )  # fmt: skip
    return fit_comparison(comparison, budget)


def fit_comparison(comparison: Comparison, budget: int) -> CompareResult:
    """The comparison with as many patterns and tools as fit `budget` tokens (verdicts first).

    When even the fixed part does not fit (a budget of a few hundred tokens), the
    compact form keeps the sample sentence, the patterns and the finding's summary,
    and says that success rates, tools and run percentiles were left out.
    """
    total = len(comparison.patterns)

    def builder(compact: bool) -> Callable[[int, int], CompareResult]:
        def build(n: int, chars: int) -> CompareResult:
            patterns = [
                p if len(p.title) <= chars else p.model_copy(update={"title": cut(p.title, chars, "patterns(...)")})
                for p in comparison.patterns[:n]
            ]
            tools = [] if compact else comparison.tools[: max(n, MIN_TOOLS)]
            notes = list(comparison.notes)
            if len(tools) < len(comparison.tools) and not compact:
                notes.append(f"{len(comparison.tools) - len(tools)} tools left out to fit the budget")
            extra: dict[str, Any] = {}
            if compact:
                notes.append(COMPACT_NOTE)
                finding = comparison.finding
                extra = {"success": {}, "runs": [], "tests": SHORT_TESTS_NOTE,
                         "finding": finding.model_copy(update={"patterns": [], "quotes": []}) if finding else None}
            fields = comparison.model_dump(exclude={"patterns", "tools", "notes", *extra})
            return CompareResult(**fields, **extra, patterns=patterns, tools=tools, notes=notes, shown_patterns=total)

        return build

    full = builder(False)
    if fits(full(0, MIN_FIELD_CHARS), budget):
        return fit(full, items=total, chars=TITLE_CHARS, limit=budget, min_items=0)
    return fit(builder(True), items=total, chars=TITLE_CHARS, limit=budget, min_items=0)


SPEC = register(
    ToolSpec(
        name="compare",
        title="Compare before and after a change (measured, no model)",
        description=description("compare"),
        args=CompareArgs,
        result=CompareResult,
        handler=compare,
        extra={"path_args": ("baseline", "candidate")},
    )
)
