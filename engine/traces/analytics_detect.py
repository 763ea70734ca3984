"""Detection rules about errors and tools: signatures, error rates, hidden errors,
loops, calls to tools never offered. (Run-level rules: `analytics_runs`.)

Each rule is deterministic and stated in its docstring, so a report can say
exactly what was measured. Rules read `SpanData` columns and loop in Python only
over the rows that matter (error spans, tool calls), so a million spans stay fast;
only quotes look at a span's raw JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from engine.traces.analytics import Evidence, Pattern, PatternKind, ToolStat
from engine.traces.analytics_data import EXCEPTION, OUTPUT_ERROR, SpanData
from engine.traces.analytics_text import QUOTE_CHARS, find_quote, message_template
from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "MAX_EXAMPLES",
    "MAX_PER_KIND",
    "LOOP_MIN_RUN",
    "examples",
    "pattern",
    "ranked",
    "is_error",
    "error_signatures",
    "tool_stats",
    "tool_errors",
    "hidden_tool_errors",
    "loops",
    "unoffered_tool_calls",
]

MAX_EXAMPLES = 3
# Patterns kept per kind (a dataset can have hundreds of rare signatures).
MAX_PER_KIND = 25
# Identical tool calls in a row that make a loop.
LOOP_MIN_RUN = 3

Quote = Callable[[int], str | None]


def examples(data: SpanData, rows: Iterable[int], quote: Quote | None) -> list[Evidence]:
    """Up to MAX_EXAMPLES spans from `rows`, from distinct traces first."""
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
    return [
        Evidence(
            trace_id=data.trace_ids[int(data.trace[i])],
            span_id=data.span_id[i],
            quote=quote(i) if quote else None,
        )
        for i in picked
    ]


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
) -> Pattern:
    return Pattern(
        kind=kind,
        title=title,
        detail=detail,
        subject=subject,
        traces_affected=traces if traces is not None else len({int(data.trace[i]) for i in rows}),
        total_traces=data.n_traces,
        spans_affected=len(rows),
        examples=examples(data, rows, quote),
    )


def ranked(patterns: list[Pattern]) -> list[Pattern]:
    patterns.sort(key=lambda p: (-p.traces_affected, -p.spans_affected, p.title))
    return patterns[:MAX_PER_KIND]


def _quote_text(data: SpanData, texts: list[str | None]) -> Quote:
    return lambda i: find_quote(data.raw_text(i), texts[i])


def _quote_error(data: SpanData) -> Quote:
    """The error's own words in the raw span: the exception message (without the
    'Type: ' prefix the reader adds), else the status message."""

    def quote(i: int) -> str | None:
        raw = data.raw_text(i)
        candidates = []
        if data.exception[i]:
            candidates += [data.exception[i].partition(": ")[2], data.exception[i]]
        candidates.append(data.status_message[i])
        for text in candidates:
            found = find_quote(raw, text)
            if found:
                return found
        return None

    return quote


def is_error(data: SpanData) -> np.ndarray:
    """Spans with status ERROR or an exception event."""
    return (data.status == int(SpanStatus.ERROR)) | ((data.flags & EXCEPTION) != 0)


def _top_templates(texts: Iterable[str | None], n: int = 3) -> str:
    counts = Counter(message_template(t) for t in texts if t)
    return "; ".join(f"{count}× {tpl}" for tpl, count in counts.most_common(n))


def _error_message(data: SpanData, i: int) -> str | None:
    return data.exception[i] or data.status_message[i]


def error_signatures(data: SpanData) -> list[Pattern]:
    """Error spans (status ERROR or an exception event), grouped by span name and
    message template (exception text, else status message, masked)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    templates: dict[str, str] = {}  # message -> template, computed once per distinct message
    for i in np.flatnonzero(is_error(data)).tolist():
        message = _error_message(data, i) or ""
        if message not in templates:
            templates[message] = message_template(message) if message else "(no message)"
        groups[(data.name[i], templates[message])].append(i)
    quote = _quote_error(data)
    patterns = []
    for (name, template), rows in groups.items():
        first = next((m for i in rows if (m := _error_message(data, i))), "")
        patterns.append(
            pattern(
                data,
                "error_signature",
                f"{name}: {template}",
                rows,
                detail=f"first message: {first[:QUOTE_CHARS]}" if first else "errors without a message",
                subject=name,
                quote=quote,
            )
        )
    return ranked(patterns)


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
            detail=_top_templates(_error_message(data, i) for i in rows[tool]),
            subject=tool,
            quote=_quote_error(data),
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
        )
        for tool, found in rows.items()
    ]
    return ranked(patterns)


def loops(data: SpanData) -> list[Pattern]:
    """The same tool called with the same arguments LOOP_MIN_RUN or more times in a row
    (tool calls of a trace in start order; calls without recorded arguments never match)."""
    runs: dict[str, list[list[int]]] = defaultdict(list)
    rows = data.tool_rows.tolist()
    traces = data.trace[data.tool_rows].tolist()
    run: list[int] = []
    key: tuple[int, str | None, str | None] | None = None
    for i, t in zip(rows + [-1], traces + [-1], strict=True):
        args = data.tool_args[i] if i >= 0 else None
        this = (t, data.tool[i], args) if i >= 0 and args is not None else None
        if this is not None and this == key:
            run.append(i)
            continue
        if len(run) >= LOOP_MIN_RUN:
            runs[data.tool[run[0]] or "?"].append(run)
        run, key = ([i], this) if this is not None else ([], None)
    patterns = []
    for tool, found in runs.items():
        longest = max(len(r) for r in found)
        calls = sum(len(r) for r in found)
        patterns.append(
            pattern(
                data,
                "loop",
                f"tool {tool} called with identical arguments {LOOP_MIN_RUN}+ times in a row "
                f"(longest run {longest})",
                [r[0] for r in found],
                detail=f"{len(found)} runs, {calls} calls in loops",
                subject=tool,
                quote=_quote_text(data, data.tool_args),
            ).model_copy(update={"spans_affected": calls})
        )
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
        elif (tool := data.tool[i]) and tool.lower() not in offered[t] and tool.lower() not in agents[t]:
            found[tool].append(i)
    patterns = [
        pattern(
            data,
            "unoffered_tool_call",
            f"calls to tool {tool}, which was never offered to the model",
            found_rows,
            detail=f"{len(found_rows)} calls or requests",
            subject=tool,
            quote=lambda i, t=tool: find_quote(data.raw_text(i), t),
        )
        for tool, found_rows in found.items()
    ]
    return ranked(patterns)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"
