"""Detection rules about whole runs: turn limits, missing final answers, refusals,
and latency / token outliers. (Error and tool rules: `detect`.)"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from engine.traces.analytics.data import REFUSAL, SpanData
from engine.traces.analytics.detect import pattern, ranked
from engine.traces.analytics.patterns import Pattern, PatternKind, Surface
from engine.traces.failure_text import FINAL_ANSWER_TOOLS, QUOTE_CHARS, TURN_LIMIT, find_quote
from engine.traces.model import SpanKind

__all__ = [
    "OUTLIER_MIN_GROUP",
    "OUTLIER_IQR",
    "OUTLIER_MEDIAN_FACTOR",
    "LATENCY_FLOOR_MS",
    "TOKEN_FLOOR",
    "turn_limits",
    "no_final_answer",
    "refusals",
    "outliers",
]

# Spans of one name needed before outliers among them mean anything.
OUTLIER_MIN_GROUP = 10
# An outlier lies above both Q3 + OUTLIER_IQR * IQR and OUTLIER_MEDIAN_FACTOR * median.
OUTLIER_IQR = 3.0
OUTLIER_MEDIAN_FACTOR = 3.0
# Absolute floors (class 8): a span is never a latency outlier under LATENCY_FLOOR_MS, nor a
# model call a token outlier under TOKEN_FLOOR tokens, whatever its group's spread.
LATENCY_FLOOR_MS = 10_000.0
TOKEN_FLOOR = 20_000
# Raw bytes of one span scanned for turn-limit phrases (the rest is not read).
RAW_SCAN_BYTES = 2_000_000
QUOTE_CONTEXT = 40
# Cheap first test before the turn-limit regex runs on a raw span.
_LIMIT_WORDS = (b"max", b"limit", b"recursion")

_REFUSAL_TEXT = re.compile(
    r"I(?:'m| am)? (?:sorry|unable|not able)[^\"\\]{0,80}"
    r"|I can(?:not|'t|’t) (?:help|assist|do|provide|comply)[^\"\\]{0,60}",
    re.I,
)


def turn_limits(data: SpanData) -> list[Pattern]:
    """Runs stopped by a turn / step / iteration limit: a limit phrase (failure_text.
    TURN_LIMIT) in a status message, exception, output error, or the raw JSON of an
    AGENT or root span; flagged on the run's last model call, the limit span as context."""
    hits: dict[int, tuple[int, str | None]] = {}
    texts = zip(data.status_message, data.exception, data.output_error, strict=True)
    for i, candidates in enumerate(texts):
        for text in candidates:
            if text and TURN_LIMIT.search(text.encode()):
                hits.setdefault(int(data.trace[i]), (i, find_quote(data.raw_text(i), text)))
                break
    scan = np.flatnonzero((data.kind == int(SpanKind.AGENT)) | (data.depth == 0)).tolist()
    for i, whole in data.iter_raw([i for i in scan if int(data.trace[i]) not in hits]):
        t = int(data.trace[i])
        if t in hits:
            continue
        raw = whole[:RAW_SCAN_BYTES]
        low = raw.lower()
        if not any(word in low for word in _LIMIT_WORDS):
            continue
        match = TURN_LIMIT.search(raw)
        if match:
            a, b = max(0, match.start() - QUOTE_CONTEXT), match.end() + QUOTE_CONTEXT
            hits[t] = (i, raw[a:b].decode("utf-8", errors="ignore"))
    if not hits:
        return []
    # blamed on the run's last model call: it asked for one more turn than the limit allows
    rows, context = [], {}
    for t, (i, _) in sorted(hits.items()):
        d = data.last_llm.get(t, i)
        rows.append(d)
        context[d] = i if d != i else -1
    quotes = {i: q for i, q in hits.values()}
    return [
        pattern(
            data,
            "turn_limit",
            "runs stopped by their turn / step limit",
            rows,
            detail="a max-turns / max-steps / iteration-limit message was recorded",
            quote=lambda d: quotes.get(d) if context.get(d, -1) < 0 else None,
            context=context,
            context_quote=quotes.get,
            surface="retry or step limits",
        )
    ]


def no_final_answer(data: SpanData) -> list[Pattern]:
    """Runs that end without a final answer: (a) the last model call of the trace asked
    for tool calls (none of them a final-answer tool), so the model never answered;
    (b) a final-answer tool (final_answer, final_result, …) was offered and never called."""
    asked = [
        i
        for i in data.last_llm.values()
        if data.requested[i] and not {t.lower() for t in data.requested[i]} & FINAL_ANSWER_TOOLS
    ]
    asked.sort()
    offered_at: dict[int, int] = {}
    for i, tools in enumerate(data.offered):
        if tools and {t.lower() for t in tools} & FINAL_ANSWER_TOOLS:
            offered_at.setdefault(int(data.trace[i]), i)
    called = {int(data.trace[i]) for i in data.tool_rows.tolist() if (data.tool[i] or "").lower() in FINAL_ANSWER_TOOLS}
    called |= {
        int(data.trace[i])
        for i, req in enumerate(data.requested)
        if req and {t.lower() for t in req} & FINAL_ANSWER_TOOLS
    }
    uncalled = sorted(i for t, i in offered_at.items() if t not in called)
    patterns = []
    if asked:
        patterns.append(
            pattern(
                data,
                "no_final_answer",
                "runs end while the model is still asking for tool calls (no final answer)",
                asked,
                detail="the last model call of each trace requested tools: "
                + ", ".join(sorted({t for i in asked for t in data.requested[i]})[:8]),
                subject="last_call_requested_tools",
                quote=lambda i: find_quote(data.raw_text(i), data.requested[i][0]),
                surface="retry or step limits",
            )
        )
    if uncalled:

        def quote(i: int) -> str | None:
            finals = [t for t in data.offered[i] if t.lower() in FINAL_ANSWER_TOOLS]
            return next((q for t in finals if (q := find_quote(data.raw_text(i), t))), None)

        patterns.append(
            pattern(
                data,
                "no_final_answer",
                "runs end without calling the final-answer tool they were offered",
                uncalled,
                detail="final-answer tool offered, never called or requested",
                subject="final_answer_never_called",
                quote=quote,
                blame=True,
                surface="system prompt",
            )
        )
    return patterns


def refusals(data: SpanData) -> list[Pattern]:
    """Model calls whose output reads as a refusal (derived by the reader); the detail
    says how many runs end in one (the refusal is the trace's last model call)."""
    rows = np.flatnonzero((data.flags & REFUSAL) != 0).tolist()
    if not rows:
        return []
    ending = sum(1 for i in data.last_llm.values() if data.flags[i] & REFUSAL)

    def quote(i: int) -> str | None:
        match = _REFUSAL_TEXT.search(data.raw_text(i))
        return match.group(0)[:QUOTE_CHARS] if match else None

    return [
        pattern(
            data,
            "refusal",
            "model refusals",
            rows,
            detail=f"{ending} runs end in a refusal (it is their last model call)",
            quote=quote,
            surface="system prompt",
        )
    ]


def outliers(data: SpanData, kind: PatternKind) -> list[Pattern]:
    """Class 8: per span name with >= OUTLIER_MIN_GROUP spans, spans whose duration
    (latency_outlier) or input+output tokens (token_outlier, LLM spans) exceed
    Q3 + OUTLIER_IQR*IQR and OUTLIER_MEDIAN_FACTOR*median of that name, and the
    absolute floor (LATENCY_FLOOR_MS, TOKEN_FLOOR). Does not match: a millisecond span
    in a group of microsecond spans, however far above its median."""
    if kind == "latency_outlier":
        valid = (data.start_ns > 0) & (data.end_ns >= data.start_ns)
        values = (data.end_ns - data.start_ns) / 1e6
    else:
        inp, out = data.input_tokens, data.output_tokens
        valid = (data.kind == int(SpanKind.LLM)) & ((inp >= 0) | (out >= 0))
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
        floor = LATENCY_FLOOR_MS if kind == "latency_outlier" else float(TOKEN_FLOOR)
        threshold = max(q3 + OUTLIER_IQR * (q3 - q1), OUTLIER_MEDIAN_FACTOR * median, floor)
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
        surface: Surface = "retry or step limits" if kind == "latency_outlier" else "system prompt"
        patterns.append(
            pattern(
                data, kind, title, found, detail=f"{len(rows)} {name} spans measured", subject=name, surface=surface
            )
        )
    return ranked(patterns)


def _ms(value: float) -> str:
    return f"{value:.0f}ms" if value < 1000 else f"{value / 1000:.1f}s"
