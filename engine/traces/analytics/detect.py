"""Detection rules about tools: error rates, hidden errors, calls to tools never offered;
and the pattern builder every detector uses. (Error families: `families`;
run-level rules: `runs`.)

Each rule is deterministic and stated in its docstring, so a report can say
exactly what was measured. Rules read `SpanData` columns and loop in Python only
over the rows that matter (error spans, tool calls), so a million spans stay fast;
only quotes look at a span's raw JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from engine.traces.analytics.data import EXCEPTION, OUTPUT_ERROR, SpanData
from engine.traces.analytics.patterns import Flag, Pattern, PatternExample, PatternKind, Surface, ToolStat
from engine.traces.failure_text import find_quote, message_template
from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "error_message",
    "quote_error",
    "MAX_EXAMPLES",
    "MAX_PER_KIND",
    "examples",
    "pattern",
    "decision_point",
    "ranked",
    "is_error",
    "tool_stats",
    "tool_errors",
    "hidden_tool_errors",
    "unoffered_tool_calls",
]

MAX_EXAMPLES = 3
# Patterns kept per kind (a dataset can have hundreds of rare signatures).
MAX_PER_KIND = 25

Quote = Callable[[int], str | None]


def examples(
    data: SpanData,
    rows: Iterable[int],
    quote: Quote | None,
    context: dict[int, int] | None = None,
    context_quote: Quote | None = None,
) -> list[PatternExample]:
    """Up to MAX_EXAMPLES spans from `rows`, from distinct traces first; with the tool or
    step span each was seen on (`context`: row -> context row) and its quote."""
    rows = list(rows)
    picked: list[int] = []
    seen: set[int] = set()
    for i in rows:
        if int(data.trace[i]) not in seen:
            picked.append(i)
            seen.add(int(data.trace[i]))
            if len(picked) == MAX_EXAMPLES:
                break
    for i in rows:
        if len(picked) == MAX_EXAMPLES:
            break
        if i not in picked:
            picked.append(i)
    out = []
    for i in picked:
        c = (context or {}).get(i, -1)
        out.append(
            PatternExample(
                trace_id=data.trace_ids[int(data.trace[i])],
                span_id=data.span_id[i],
                quote=quote(i) if quote else None,
                context_span_id=data.span_id[c] if c >= 0 else None,
                context_quote=context_quote(c) if c >= 0 and context_quote else None,
            )
        )
    return out


def pattern(
    data: SpanData,
    kind: PatternKind,
    title: str,
    rows: list[int],
    *,
    detail: str = "",
    subject: str | None = None,
    quote: Quote | None = None,
    traces: int | None = None,
    context: dict[int, int] | None = None,
    context_quote: Quote | None = None,
    surface: Surface | None = None,
    decision: str | None = None,
    blame: bool = False,
) -> Pattern:
    """A pattern flagging `rows` (decision spans; `context` maps a row to the tool or step
    span the failure showed on). Every row is flagged; a few become quoted examples.
    `blame`: `rows` are the spans where the failure showed; each is flagged on its
    decision span instead (one flag per decision span), itself kept as context."""
    if blame:
        rows, context, quote, context_quote = _blamed(data, rows, quote)
    ctx = context or {}
    return Pattern(
        kind=kind,
        title=title,
        detail=detail,
        subject=subject,
        traces_affected=traces if traces is not None else len({int(data.trace[i]) for i in rows}),
        total_traces=data.n_traces,
        spans_affected=len(rows),
        examples=examples(data, rows, quote, ctx, context_quote),
        flagged=[
            Flag(
                trace_id=data.trace_ids[int(data.trace[i])],
                span_id=data.span_id[i],
                context_span_id=data.span_id[ctx[i]] if ctx.get(i, -1) >= 0 else None,
            )
            for i in rows
        ],
        surface=surface,
        decision=decision if decision is not None else decision_point(data, rows),
    )


def _blamed(
    data: SpanData, rows: list[int], quote: Quote | None
) -> tuple[list[int], dict[int, int], Quote | None, Quote | None]:
    from engine.traces.analytics.spans import decision_spans

    decisions = decision_spans(data)
    out: list[int] = []
    context: dict[int, int] = {}
    for i in rows:
        d = int(decisions[i]) if decisions[i] >= 0 else i
        if d not in context:
            out.append(d)
            context[d] = i if d != i else -1
    own = (lambda d: quote(d) if context.get(d, -1) < 0 else None) if quote else None
    return out, context, own, quote


def decision_point(data: SpanData, rows: Iterable[int]) -> str | None:
    """'span `name` (model m)' for the commonest span name and model among `rows`."""
    rows = list(rows)
    if not rows:
        return None
    name, _ = Counter(data.name[i] for i in rows).most_common(1)[0]
    models = Counter(m for i in rows if (m := (data.model[i] if data.model else None)))
    model = f" (model {models.most_common(1)[0][0]})" if models else ""
    return f"span `{name}`{model}"


def ranked(patterns: list[Pattern]) -> list[Pattern]:
    patterns.sort(key=lambda p: (-p.traces_affected, -p.spans_affected, p.title))
    return patterns[:MAX_PER_KIND]


def _quote_text(data: SpanData, texts: list[str | None]) -> Quote:
    return lambda i: find_quote(data.raw_text(i), texts[i])


def _quoting(data: SpanData, needle: str) -> Quote:
    return lambda i: find_quote(data.raw_text(i), needle)


def quote_error(data: SpanData) -> Quote:
    """The error's own words in the raw span: the exception message (without the
    'Type: ' prefix the reader adds), else the status message."""

    def quote(i: int) -> str | None:
        raw = data.raw_text(i)
        candidates: list[str | None] = []
        if exception := data.exception[i]:
            candidates += [exception.partition(": ")[2], exception]
        candidates.append(data.status_message[i])
        for text in candidates:
            found = find_quote(raw, text)
            if found:
                return found
        return None

    return quote


def is_error(data: SpanData) -> np.ndarray:
    """Spans with status ERROR or an exception event."""
    failed: np.ndarray = (data.status == int(SpanStatus.ERROR)) | ((data.flags & EXCEPTION) != 0)
    return failed


def _top_templates(texts: Iterable[str | None], n: int = 3) -> str:
    counts = Counter(message_template(t) for t in texts if t)
    return "; ".join(f"{count}× {tpl}" for tpl, count in counts.most_common(n))


def error_message(data: SpanData, i: int) -> str | None:
    return data.exception[i] or data.status_message[i]


def tool_stats(data: SpanData) -> list[ToolStat]:
    """Per tool: calls, errors (status/exception), hidden output errors, traces using it."""
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    hidden: Counter[str] = Counter()
    traces: dict[str, set[int]] = defaultdict(set)
    rows = data.tool_rows.tolist()
    erring = is_error(data)[rows].tolist()
    output_error = ((data.flags[rows] & OUTPUT_ERROR) != 0).tolist()
    for i, err, out_err, t in zip(rows, erring, output_error, data.trace[rows].tolist(), strict=True):
        tool = data.tool[i] or ""
        calls[tool] += 1
        traces[tool].add(t)
        if err:
            errors[tool] += 1
        elif out_err:
            hidden[tool] += 1
    stats = [
        ToolStat(tool=t, calls=n, errors=errors[t], hidden_errors=hidden[t], traces=len(traces[t]))
        for t, n in calls.items()
    ]
    stats.sort(key=lambda s: (-s.calls, s.tool))
    return stats


def tool_errors(data: SpanData, stats: list[ToolStat]) -> list[Pattern]:
    """One pattern per tool with failing calls (status ERROR or exception), with its error rate."""
    failing = {s.tool: s for s in stats if s.errors}
    rows: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(is_error(data)).tolist():
        if data.tool[i] in failing:
            rows[data.tool[i]].append(i)  # type: ignore[index]
    patterns = [
        pattern(
            data,
            "tool_errors",
            f"tool {tool} fails in {_pct(stat.errors, stat.calls)} of its calls ({stat.errors}/{stat.calls})",
            rows[tool],
            detail=_top_templates(error_message(data, i) for i in rows[tool]),
            subject=tool,
            quote=quote_error(data),
            blame=True,
            surface="tool implementation",
        )
        for tool, stat in failing.items()
    ]
    return ranked(patterns)


def hidden_tool_errors(data: SpanData, stats: list[ToolStat]) -> list[Pattern]:
    """Tool calls whose output reads as an error (error payload, traceback, 'not found',
    HTTP 4xx/5xx; derived by the reader) while the OTel status is not ERROR."""
    calls = {s.tool: s.calls for s in stats}
    rows: dict[str, list[int]] = defaultdict(list)
    erring = is_error(data)
    for i in np.flatnonzero((data.flags & OUTPUT_ERROR) != 0).tolist():
        if data.tool[i] is not None and not erring[i]:
            rows[data.tool[i]].append(i)  # type: ignore[index]
    quote = _quote_text(data, data.output_error)
    patterns = [
        pattern(
            data,
            "hidden_tool_error",
            f"tool {tool} returns an error in its output while its status says ok "
            f"({len(found)}/{calls.get(tool, len(found))} calls)",
            found,
            detail=_top_templates(data.output_error[i] for i in found),
            subject=tool,
            quote=quote,
            blame=True,
            surface="tool implementation",
        )
        for tool, found in rows.items()
    ]
    return ranked(patterns)


def unoffered_tool_calls(data: SpanData, notes: list[str]) -> list[Pattern]:
    """Calls to tools the model was never offered: a tool the model requested that is
    not in that LLM span's offered list (or the trace's, when the span lists none), or a
    tool span whose tool is in no offered list of the trace. Agents of the trace count
    as offered (sub-agents are called like tools). Traces recording no offered list are
    not judged."""
    offered: dict[int, set[str]] = defaultdict(set)
    for i, tools in enumerate(data.offered):
        if tools:
            offered[int(data.trace[i])].update(t.lower() for t in tools)
    calling = {int(data.trace[i]) for i in data.tool_rows.tolist()}
    calling |= {int(data.trace[i]) for i, r in enumerate(data.requested) if r}
    unjudged = len(calling - offered.keys())
    if unjudged:
        notes.append(
            f"{unjudged} traces with tool calls record no offered-tool list; "
            "calls to unoffered tools were not checked there"
        )
    judged = np.zeros(data.n_traces, dtype=bool)
    judged[list(offered)] = True
    rows = np.flatnonzero(judged[data.trace]).tolist()
    agents: dict[int, set[str]] = defaultdict(set)
    agent_kind = int(SpanKind.AGENT)
    for i in rows:
        if data.agent_name[i]:
            agents[int(data.trace[i])].add(data.agent_name[i].lower())  # type: ignore[union-attr]
        if data.kind[i] == agent_kind:
            agents[int(data.trace[i])].add(data.name[i].lower())
    found: dict[str, list[int]] = defaultdict(list)
    llm = int(SpanKind.LLM)
    for i in rows:
        t = int(data.trace[i])
        if data.kind[i] == llm:
            own = {x.lower() for x in data.offered[i]} or offered[t]
            for tool in data.requested[i]:
                if tool.lower() not in own and tool.lower() not in agents[t]:
                    found[tool].append(i)
        elif (called := data.tool[i]) and called.lower() not in offered[t] and called.lower() not in agents[t]:
            found[called].append(i)
    patterns = [
        pattern(
            data,
            "unoffered_tool_call",
            f"calls to tool {tool}, which was never offered to the model",
            found_rows,
            detail=f"{len(found_rows)} calls or requests",
            subject=tool,
            quote=_quoting(data, tool),
            blame=True,
            surface="tool description or schema",
        )
        for tool, found_rows in found.items()
    ]
    return ranked(patterns)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"
