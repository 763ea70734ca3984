"""The detection rules of the failure analytics, one function per pattern kind.

Each rule is deterministic and stated in its docstring, so a report can say
exactly what was measured. Rules read `SpanData` columns; only quotes, refusal
snippets and turn-limit phrases look at a span's raw JSON.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from engine.traces.analytics import Evidence, Pattern, PatternKind, ToolStat
from engine.traces.analytics_data import EXCEPTION, OUTPUT_ERROR, REFUSAL, SpanData
from engine.traces.analytics_text import (
    FINAL_ANSWER_TOOLS,
    QUOTE_CHARS,
    TURN_LIMIT,
    find_quote,
    message_template,
)
from engine.traces.model import SpanKind, SpanStatus

__all__ = [
    "MAX_EXAMPLES",
    "MAX_PER_KIND",
    "LOOP_MIN_RUN",
    "OUTLIER_MIN_GROUP",
    "error_signatures",
    "tool_stats",
    "tool_errors",
    "hidden_tool_errors",
    "loops",
    "unoffered_tool_calls",
    "turn_limits",
    "no_final_answer",
    "refusals",
    "outliers",
]

MAX_EXAMPLES = 3
# Patterns kept per kind (a dataset can have hundreds of rare signatures).
MAX_PER_KIND = 25
# Identical tool calls in a row that make a loop.
LOOP_MIN_RUN = 3
# Spans of one name needed before outliers among them mean anything.
OUTLIER_MIN_GROUP = 10
# An outlier lies above both Q3 + OUTLIER_IQR * IQR and OUTLIER_MEDIAN_FACTOR * median.
OUTLIER_IQR = 3.0
OUTLIER_MEDIAN_FACTOR = 3.0
# Raw bytes of one span scanned for turn-limit phrases (the rest is not read).
RAW_SCAN_BYTES = 2_000_000
QUOTE_CONTEXT = 40

_REFUSAL_TEXT = re.compile(
    r"I(?:'m| am)? (?:sorry|unable|not able)[^\"\\]{0,80}|I can(?:not|'t|’t) (?:help|assist|do|provide|comply)[^\"\\]{0,60}",
    re.I,
)

Quote = Callable[[int], str | None]


def _examples(data: SpanData, rows: Iterable[int], quote: Quote | None) -> list[Evidence]:
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


def _pattern(
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
        examples=_examples(data, rows, quote),
    )


def _ranked(patterns: list[Pattern]) -> list[Pattern]:
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


def _tool_of(data: SpanData, i: int) -> str | None:
    """The tool a span calls: its tool name, or a TOOL span's own name."""
    if data.kind[i] == SpanKind.LLM:
        return None
    if data.tool_name[i]:
        return data.tool_name[i]
    return data.name[i] if data.kind[i] == SpanKind.TOOL else None


def _is_error(data: SpanData) -> np.ndarray:
    return (data.status == SpanStatus.ERROR) | ((data.flags & EXCEPTION) != 0)


def _top_templates(texts: Iterable[str | None], n: int = 3) -> str:
    counts = Counter(message_template(t) for t in texts if t)
    return "; ".join(f"{count}× {tpl}" for tpl, count in counts.most_common(n))


def error_signatures(data: SpanData) -> list[Pattern]:
    """Error spans (status ERROR or an exception event), grouped by span name and
    message template (exception text, else status message, masked)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    message: list[str | None] = [None] * data.n_spans
    for i in np.flatnonzero(_is_error(data)).tolist():
        message[i] = data.exception[i] or data.status_message[i]
        template = message_template(message[i]) if message[i] else "(no message)"
        groups[(data.name[i], template)].append(i)
    quote = _quote_error(data)
    patterns = []
    for (name, template), rows in groups.items():
        first = next((message[i] for i in rows if message[i]), "")
        patterns.append(
            _pattern(
                data,
                "error_signature",
                f"{name}: {template}",
                rows,
                detail=f"first message: {first[:QUOTE_CHARS]}" if first else "errors without a message",
                subject=name,
                quote=quote,
            )
        )
    return _ranked(patterns)


def tool_stats(data: SpanData) -> list[ToolStat]:
    """Per tool: calls, errors (status/exception), hidden output errors, traces using it."""
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    hidden: Counter[str] = Counter()
    traces: dict[str, set[int]] = defaultdict(set)
    is_error = _is_error(data)
    for i in range(data.n_spans):
        tool = _tool_of(data, i)
        if tool is None:
            continue
        calls[tool] += 1
        traces[tool].add(int(data.trace[i]))
        if is_error[i]:
            errors[tool] += 1
        elif data.flags[i] & OUTPUT_ERROR:
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
    is_error = _is_error(data)
    for i in np.flatnonzero(is_error).tolist():
        tool = _tool_of(data, i)
        if tool in failing:
            rows[tool].append(i)
    message = [data.exception[i] or data.status_message[i] for i in range(data.n_spans)]
    patterns = []
    for tool, stat in failing.items():
        patterns.append(
            _pattern(
                data,
                "tool_errors",
                f"tool {tool} fails in {_pct(stat.errors, stat.calls)} of its calls ({stat.errors}/{stat.calls})",
                rows[tool],
                detail=_top_templates(message[i] for i in rows[tool]),
                subject=tool,
                quote=_quote_error(data),
            )
        )
    return _ranked(patterns)


def hidden_tool_errors(data: SpanData) -> list[Pattern]:
    """Tool calls whose output reads as an error (error payload, traceback, 'not found',
    HTTP 4xx/5xx; derived by the reader) while the OTel status is not ERROR."""
    rows: dict[str, list[int]] = defaultdict(list)
    calls: Counter[str] = Counter()
    is_error = _is_error(data)
    for i in range(data.n_spans):
        tool = _tool_of(data, i)
        if tool is None:
            continue
        calls[tool] += 1
        if data.flags[i] & OUTPUT_ERROR and not is_error[i]:
            rows[tool].append(i)
    quote = _quote_text(data, data.output_error)
    patterns = [
        _pattern(
            data,
            "hidden_tool_error",
            f"tool {tool} returns an error in its output while its status says ok "
            f"({len(found)}/{calls[tool]} calls)",
            found,
            detail=_top_templates(data.output_error[i] for i in found),
            subject=tool,
            quote=quote,
        )
        for tool, found in rows.items()
    ]
    return _ranked(patterns)


def loops(data: SpanData) -> list[Pattern]:
    """The same tool called with the same arguments LOOP_MIN_RUN or more times in a row
    (tool calls of a trace in start order; calls without recorded arguments never match)."""
    runs: dict[str, list[list[int]]] = defaultdict(list)
    for _, s, e in data.trace_slices():
        calls = [i for i in range(s, e) if _tool_of(data, i) is not None]
        calls.sort(key=lambda i: (int(data.start_ns[i]), i))
        run: list[int] = []
        for i in calls + [-1]:
            same = (
                i >= 0
                and run
                and data.tool_args[i] is not None
                and _tool_of(data, i) == _tool_of(data, run[0])
                and data.tool_args[i] == data.tool_args[run[0]]
            )
            if same:
                run.append(i)
                continue
            if len(run) >= LOOP_MIN_RUN:
                runs[_tool_of(data, run[0]) or "?"].append(run)
            run = [i] if i >= 0 and data.tool_args[i] is not None else []
    patterns = []
    for tool, found in runs.items():
        longest = max(len(r) for r in found)
        rows = [i for r in found for i in r]
        patterns.append(
            _pattern(
                data,
                "loop",
                f"tool {tool} called with identical arguments {LOOP_MIN_RUN}+ times in a row "
                f"(longest run {longest})",
                [r[0] for r in found],
                detail=f"{len(found)} runs, {len(rows)} calls in loops",
                subject=tool,
                quote=_quote_text(data, data.tool_args),
            ).model_copy(update={"spans_affected": len(rows)})
        )
    return _ranked(patterns)


def unoffered_tool_calls(data: SpanData, notes: list[str]) -> list[Pattern]:
    """Calls to tools the model was never offered: a tool the model requested that is
    not in that LLM span's offered list (or the trace's, when the span lists none), or a
    tool span whose tool is in no offered list of the trace. Agents of the trace count
    as offered (sub-agents are called like tools). Traces recording no offered list are
    not judged."""
    found: dict[str, list[int]] = defaultdict(list)
    unjudged = 0
    for _, s, e in data.trace_slices():
        offered = {t.lower() for i in range(s, e) for t in data.offered[i]}
        if not offered:
            if any(data.requested[i] or _tool_of(data, i) for i in range(s, e)):
                unjudged += 1
            continue
        agents = {(data.agent_name[i] or "").lower() for i in range(s, e)}
        agents |= {data.name[i].lower() for i in range(s, e) if data.kind[i] == SpanKind.AGENT}
        for i in range(s, e):
            if data.kind[i] == SpanKind.LLM:
                own = {t.lower() for t in data.offered[i]} or offered
                for tool in data.requested[i]:
                    if tool.lower() not in own and tool.lower() not in agents:
                        found[tool].append(i)
            else:
                tool = _tool_of(data, i)
                if tool and tool.lower() not in offered and tool.lower() not in agents:
                    found[tool].append(i)
    if unjudged:
        notes.append(
            f"{unjudged} traces with tool calls record no offered-tool list; "
            "calls to unoffered tools were not checked there"
        )
    patterns = [
        _pattern(
            data,
            "unoffered_tool_call",
            f"calls to tool {tool}, which was never offered to the model",
            rows,
            detail=f"{len(rows)} calls or requests",
            subject=tool,
            quote=lambda i, t=tool: find_quote(data.raw_text(i), t),
        )
        for tool, rows in found.items()
    ]
    return _ranked(patterns)


def turn_limits(data: SpanData) -> list[Pattern]:
    """Runs stopped by a turn / step / iteration limit: a limit phrase (analytics_text.
    TURN_LIMIT) in a status message, exception, output error, or the raw JSON of an
    AGENT or root span."""
    hits: dict[int, tuple[int, str | None]] = {}
    for i in range(data.n_spans):
        t = int(data.trace[i])
        if t in hits:
            continue
        for text in (data.status_message[i], data.exception[i], data.output_error[i]):
            if text and TURN_LIMIT.search(text.encode()):
                hits[t] = (i, find_quote(data.raw_text(i), text))
                break
        else:
            if data.kind[i] == SpanKind.AGENT or data.depth[i] == 0:
                raw = data.raw(i)[:RAW_SCAN_BYTES]
                match = TURN_LIMIT.search(raw)
                if match:
                    a, b = max(0, match.start() - QUOTE_CONTEXT), match.end() + QUOTE_CONTEXT
                    hits[t] = (i, raw[a:b].decode("utf-8", errors="ignore"))
    if not hits:
        return []
    rows = [i for i, _ in hits.values()]
    quotes = {i: q for i, q in hits.values()}
    return [
        _pattern(
            data,
            "turn_limit",
            "runs stopped by their turn / step limit",
            rows,
            detail="a max-turns / max-steps / iteration-limit message was recorded",
            quote=quotes.get,
        )
    ]


def no_final_answer(data: SpanData) -> list[Pattern]:
    """Runs that end without a final answer: (a) the last model call of the trace asked
    for tool calls (none of them a final-answer tool), so the model never answered;
    (b) a final-answer tool (final_answer, final_result, …) was offered and never called."""
    asked: list[int] = []
    uncalled: list[int] = []
    for _, s, e in data.trace_slices():
        llm = [i for i in range(s, e) if data.kind[i] == SpanKind.LLM]
        called = {(_tool_of(data, i) or "").lower() for i in range(s, e)}
        called |= {t.lower() for i in llm for t in data.requested[i]}
        if llm:
            last = max(llm, key=lambda i: (int(data.end_ns[i]), int(data.start_ns[i]), i))
            wanted = {t.lower() for t in data.requested[last]}
            if wanted and not wanted & FINAL_ANSWER_TOOLS:
                asked.append(last)
        offered = {t.lower() for i in range(s, e) for t in data.offered[i]}
        if offered & FINAL_ANSWER_TOOLS and not called & FINAL_ANSWER_TOOLS:
            uncalled.append(next(i for i in range(s, e) if {t.lower() for t in data.offered[i]} & FINAL_ANSWER_TOOLS))
    patterns = []
    if asked:
        patterns.append(
            _pattern(
                data,
                "no_final_answer",
                "runs end while the model is still asking for tool calls (no final answer)",
                asked,
                detail="the last model call of each trace requested tools: "
                + ", ".join(sorted({t for i in asked for t in data.requested[i]})[:8]),
                subject="last_call_requested_tools",
                quote=lambda i: find_quote(data.raw_text(i), data.requested[i][0]),
            )
        )
    if uncalled:
        patterns.append(
            _pattern(
                data,
                "no_final_answer",
                "runs end without calling the final-answer tool they were offered",
                uncalled,
                detail="final-answer tool offered, never called or requested",
                subject="final_answer_never_called",
                quote=lambda i: next(
                    (
                        q
                        for t in data.offered[i]
                        if t.lower() in FINAL_ANSWER_TOOLS
                        for q in [find_quote(data.raw_text(i), t)]
                        if q
                    ),
                    None,
                ),
            )
        )
    return patterns


def refusals(data: SpanData) -> list[Pattern]:
    """Model calls whose output reads as a refusal (derived by the reader); the detail
    says how many runs end in one (the refusal is the trace's last model call)."""
    rows = np.flatnonzero((data.flags & REFUSAL) != 0).tolist()
    if not rows:
        return []
    ending = 0
    for _, s, e in data.trace_slices():
        llm = [i for i in range(s, e) if data.kind[i] == SpanKind.LLM]
        if llm and data.flags[max(llm, key=lambda i: (int(data.end_ns[i]), i))] & REFUSAL:
            ending += 1

    def quote(i: int) -> str | None:
        match = _REFUSAL_TEXT.search(data.raw_text(i))
        return match.group(0)[:QUOTE_CHARS] if match else None

    return [
        _pattern(
            data,
            "refusal",
            "model refusals",
            rows,
            detail=f"{ending} runs end in a refusal (it is their last model call)",
            quote=quote,
        )
    ]


def outliers(data: SpanData, kind: PatternKind) -> list[Pattern]:
    """Per span name with >= OUTLIER_MIN_GROUP spans: spans whose duration
    (latency_outlier) or input+output tokens (token_outlier, LLM spans) exceed both
    Q3 + OUTLIER_IQR*IQR and OUTLIER_MEDIAN_FACTOR*median of that name."""
    if kind == "latency_outlier":
        valid = (data.start_ns > 0) & (data.end_ns >= data.start_ns)
        values = (data.end_ns - data.start_ns) / 1e6
    else:
        inp, out = data.input_tokens, data.output_tokens
        valid = (data.kind == SpanKind.LLM) & ((inp >= 0) | (out >= 0))
        values = (np.maximum(inp, 0) + np.maximum(out, 0)).astype(np.float64)
    groups: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(valid).tolist():
        groups[data.name[i]].append(i)
    patterns = []
    for name, rows in groups.items():
        if len(rows) < OUTLIER_MIN_GROUP:
            continue
        v = values[rows]
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        threshold = max(q3 + OUTLIER_IQR * (q3 - q1), OUTLIER_MEDIAN_FACTOR * median)
        if threshold <= 0:
            continue
        found = [r for r, x in zip(rows, v.tolist(), strict=True) if x > threshold]
        if not found:
            continue
        found.sort(key=lambda i: -values[i])
        top = float(values[found[0]])
        if kind == "latency_outlier":
            title = f"slow {name} spans: {len(found)} over {_ms(threshold)} (median {_ms(median)}, max {_ms(top)})"
        else:
            title = (
                f"token-heavy {name} calls: {len(found)} over {threshold:,.0f} tokens "
                f"(median {median:,.0f}, max {top:,.0f})"
            )
        patterns.append(
            _pattern(
                data,
                kind,
                title,
                found,
                detail=f"{len(rows)} {name} spans measured",
                subject=name,
            )
        )
    return _ranked(patterns)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def _ms(value: float) -> str:
    return f"{value:.0f}ms" if value < 1000 else f"{value / 1000:.1f}s"
