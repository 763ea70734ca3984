"""Error families (class 7): one error, however many span names and nesting levels
record it, is one pattern.

An error raised by a model call is recorded again by the step, the agent and every
wrapper around it, often with the inner message quoted inside a longer one; grouping
by span name turns one provider error into six findings. Here errors are grouped by
their message template and each occurrence is counted once, at its origin.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from engine.traces.analytics.data import SpanData
from engine.traces.analytics.detect import Quote, error_message, is_error, pattern, quote_error, ranked
from engine.traces.analytics.patterns import Pattern
from engine.traces.analytics.spans import STEP_NAME, decision_spans
from engine.traces.failure_text import QUOTE_CHARS, TEMPLATE_CHARS, TURN_LIMIT, message_template
from engine.traces.model import SpanKind

__all__ = ["FAMILY_MIN_OCCURRENCES", "WRAPPER_MIN_CHARS", "error_signatures"]

# Occurrences (origins) a family of tool or step errors needs; a model call's or any other
# span's error makes a family on its own (no action detector reports it).
FAMILY_MIN_OCCURRENCES = 2
# An inner error's message this long, quoted in an enclosing span's error, makes that span its wrapper.
WRAPPER_MIN_CHARS = 12


def error_signatures(data: SpanData) -> list[Pattern]:
    """Error families (class 7): error spans (status ERROR or an exception event) grouped
    by their message template (exception type and message, else status message, with
    numbers, ids, paths, URLs and quoted values masked), across span names and nesting
    levels. One error that an agent, its model call and their wrapper all record is one
    occurrence: a span whose descendant carries the same family (or whose message quotes
    a descendant's error message) is a wrapper, and only
    the innermost span (the origin) is flagged, blamed on its decision span (a model
    call's own error is its own). Does not group errors only by span name, and does not
    count errors written in an ok output (those are `failed_action`), nor a tool or step
    error seen once (FAMILY_MIN_OCCURRENCES; classes 1-3 report it)."""
    families: dict[str, list[int]] = defaultdict(list)
    templates: dict[str, str] = {}  # message -> template, computed once per distinct message
    family_of: dict[int, str] = {}
    erring = np.flatnonzero(is_error(data)).tolist()
    for i in erring:
        message = error_message(data, i) or ""
        if message not in templates:
            templates[message] = message_template(message) if message else "(no message)"
        family_of[i] = templates[message]
    has_parent = len(data.parent) == data.n_spans
    if has_parent:  # a wrapper that quotes an inner error's message joins that error's family
        for j in sorted(erring, key=lambda r: -int(data.depth[r])):
            core = (error_message(data, j) or "").partition(": ")[2].strip() or (error_message(data, j) or "")
            if len(core) < WRAPPER_MIN_CHARS:
                continue
            p, hops = int(data.parent[j]), 0
            while p >= 0 and hops < 1000:
                if p in family_of and core[:TEMPLATE_CHARS] in (error_message(data, p) or ""):
                    family_of[p] = family_of[j]
                p, hops = int(data.parent[p]), hops + 1
    for i in erring:
        families[family_of[i]].append(i)
    decisions = decision_spans(data)
    llm = int(SpanKind.LLM)
    quote = quote_error(data)
    patterns = []
    for template, rows in families.items():
        members = set(rows)
        wrappers: set[int] = set()
        for i in rows:
            p, hops = (int(data.parent[i]) if has_parent else -1), 0
            while p >= 0 and hops < 1000:
                if p in members:
                    wrappers.add(p)
                p, hops = int(data.parent[p]), hops + 1
        origins = [i for i in rows if i not in wrappers]
        if TURN_LIMIT.search(template.encode()):
            continue  # a run stopped by its limit: class 5 (`turn_limit`) says so
        acted_only = all(data.tool[i] is not None or STEP_NAME.match(data.name[i]) for i in origins)
        if len(origins) < FAMILY_MIN_OCCURRENCES and acted_only:
            continue  # one failed action is no family: classes 1-3 report it
        blamed: list[int] = []
        context: dict[int, int] = {}
        for i in origins:
            acted = data.tool[i] is not None or bool(STEP_NAME.match(data.name[i]))
            d = int(decisions[i]) if acted and data.kind[i] != llm and decisions[i] >= 0 else i
            if d not in context:
                blamed.append(d)
                context[d] = i if d != i else -1
        names = Counter(data.name[i] for i in rows)
        on_model = sum(1 for i in origins if data.kind[i] == llm)
        on_tools = sum(1 for i in origins if data.tool[i] is not None or STEP_NAME.match(data.name[i]))
        first = next((m for i in rows if (m := error_message(data, i))), "")
        levels = sorted({int(data.depth[i]) for i in rows})
        where = ", ".join(f"{n} ({c})" for n, c in names.most_common(4))
        detail = f"seen on {where}" + (f" at nesting levels {levels}" if len(levels) > 1 else "")
        detail += f"; {len(wrappers)} wrapper spans repeat it" if wrappers else ""
        detail += f"; first message: {first[:QUOTE_CHARS]}" if first else ""
        subject = names.most_common(1)[0][0] if len(names) == 1 else template
        patterns.append(
            pattern(
                data,
                "error_signature",
                f"{subject}: {template}" if len(names) == 1 else f"error family {template} on {len(names)} span names",
                blamed,
                detail=detail,
                subject=subject,
                quote=_outside(context, quote),
                context=context,
                context_quote=quote,
                surface="model provider" if on_model * 2 > len(origins)
                else "tool implementation" if on_tools * 2 > len(origins) else None,
                traces=len({int(data.trace[i]) for i in rows}),
            ).model_copy(update={"spans_affected": len(origins)})
        )
    return ranked(patterns)


def _outside(context: dict[int, int], quote: Quote) -> Quote:
    """`quote` for spans blamed on themselves; the others are quoted through `context`."""
    return lambda i: quote(i) if context.get(i, -1) < 0 else None
