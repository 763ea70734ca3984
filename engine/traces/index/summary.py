"""Per-chunk summaries, computed once at index time and merged by name at query time.

An overview of a million spans must not walk a million rows: each chunk's
summary (spans per kind, services / models / agents / tools with call and error
counts, tokens, error signatures) is stored in the segment's meta, and the
dataset overview merges a handful of small dicts.

Error signatures group error spans (status ERROR or an exception event) by span
name and message template (the exception text, else the status message, with
numbers, ids, paths, URLs and quoted values masked by
`failure_text.message_template`). Each distinct message is templated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.traces.columns.hashing import hash_strings, mix64
from engine.traces.failure_text import message_template
from engine.traces.index.build import Flag
from engine.traces.index.tables import SpanTable, TraceTable
from engine.traces.model import SpanKind, SpanStatus

__all__ = ["SIGNATURES_KEPT", "SIGNATURE_EXAMPLES", "summarize", "merge", "group"]

# Error signature groups kept per chunk (the number of groups is exact).
SIGNATURES_KEPT = 500
SIGNATURE_EXAMPLES = 3
EXAMPLE_MESSAGE_CHARS = 500


def group(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index of each distinct value, group of each element, the distinct values sorted).

    np.unique would do, but its return_inverse path imports numpy.ma (~50 ms) on first use.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(len(values), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse, ordered[new]


def summarize(spans: SpanTable, traces: TraceTable) -> dict[str, Any]:
    """The summary of one chunk (plain JSON types, stored in meta.json)."""
    kind = np.asarray(spans.kind).astype(np.int64)
    status = np.asarray(spans.status)
    flags = np.asarray(spans.flags)
    failed = (status == SpanStatus.ERROR) | ((flags & Flag.EXCEPTION) != 0)
    t_failed = (np.asarray(traces.error_count) > 0) | ((np.asarray(traces.flags) & Flag.EXCEPTION) != 0)
    cost = np.asarray(traces.cost)
    n_traces = len(traces)
    return {
        "kinds": np.bincount(kind, minlength=len(SpanKind)).tolist() if len(kind) else [0] * len(SpanKind),
        "error_spans": int(np.count_nonzero(status == SpanStatus.ERROR)),
        "exception_spans": int(np.count_nonzero(flags & Flag.EXCEPTION)),
        "output_error_spans": int(np.count_nonzero(flags & Flag.OUTPUT_ERROR)),
        "error_traces": int(np.count_nonzero(t_failed)),
        "start_ns": int(np.asarray(traces.start_ns).min()) if n_traces else None,
        "end_ns": int(np.asarray(traces.end_ns).max()) if n_traces else None,
        "input_tokens": int(np.asarray(traces.input_tokens).sum()),
        "output_tokens": int(np.asarray(traces.output_tokens).sum()),
        "cost": float(np.nansum(cost)) if n_traces and not np.isnan(cost).all() else None,
        "services": _named(spans.service, traces.services),
        "models": _named(spans.model, traces.models),
        "agents": _named(spans.agent_name, traces.agents),
        "tools": _tools(spans, traces, failed, flags),
        **_signatures(spans, traces, failed),
    }


def _named(column: Any, trace_list: Any) -> dict[str, list[int]]:
    """name -> [spans, traces] for a categorical span column and its per-trace list."""
    n = len(column.values)
    spans = np.bincount(np.asarray(column.codes) + 1, minlength=n + 1)[1:]  # -1 (none) lands in bin 0
    per_trace = np.bincount(np.asarray(trace_list.items), minlength=len(trace_list.values))
    traces = dict(zip(trace_list.categories, per_trace.tolist(), strict=False))
    cats = column.categories
    return {cats[c]: [int(spans[c]), int(traces.get(cats[c], 0))] for c in np.flatnonzero(spans).tolist()}


def _tools(spans: SpanTable, traces: TraceTable, failed: np.ndarray, flags: np.ndarray) -> dict[str, list[int]]:
    """tool -> [calls, errors, output errors (status ok), traces]."""
    col = spans.tool_name
    n = len(col.values)
    if n == 0:
        return {}
    codes = np.asarray(col.codes) + 1
    calls = np.bincount(codes, minlength=n + 1)[1:]
    errors = np.bincount(codes[failed], minlength=n + 1)[1:]
    hidden = np.bincount(codes[~failed & ((flags & Flag.OUTPUT_ERROR) != 0)], minlength=n + 1)[1:]
    lists = traces.tools
    per_trace = dict(
        zip(lists.categories, np.bincount(np.asarray(lists.items), minlength=len(lists.values)).tolist(), strict=False)
    )
    cats = col.categories
    return {
        cats[c]: [int(calls[c]), int(errors[c]), int(hidden[c]), int(per_trace.get(cats[c], 0))]
        for c in np.flatnonzero(calls).tolist()
    }


def _signatures(spans: SpanTable, traces: TraceTable, failed: np.ndarray) -> dict[str, Any]:
    rows = np.flatnonzero(failed)
    if len(rows) == 0:
        return {"signatures": [], "signature_groups": 0}
    exc = spans.exception.select(rows)
    has_exc = np.asarray(exc.lengths) > 0
    msg_codes = np.asarray(spans.status_message.codes)[rows].astype(np.int64)
    status_key = mix64((msg_codes + 2).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    first, message_of_row, _ = group(np.where(has_exc, hash_strings(exc), status_key))
    categories = spans.status_message.categories
    messages = [
        (exc[i] or "") if has_exc[i] else (categories[msg_codes[i]] if msg_codes[i] >= 0 else "")
        for i in first.tolist()
    ]
    templates = [message_template(m) if m else "(no message)" for m in messages]
    template_ids = {tpl: j for j, tpl in enumerate(dict.fromkeys(templates))}
    template_of_message = np.asarray([template_ids[t] for t in templates], dtype=np.int64)
    n_templates = len(template_ids)
    name_codes = np.asarray(spans.name.codes)[rows].astype(np.int64)
    _, group_of_row, keys = group(name_codes * n_templates + template_of_message[message_of_row])
    trace = np.asarray(spans.trace)[rows].astype(np.int64)
    span_counts = np.bincount(group_of_row, minlength=len(keys))
    width = max(len(traces), 1)
    trace_counts = np.bincount(group(group_of_row * width + trace)[2] // width, minlength=len(keys))
    ranked = sorted(range(len(keys)), key=lambda g: (-trace_counts[g], -span_counts[g], int(keys[g])))
    template_list = list(template_ids)
    names = spans.name.categories
    out = []
    for g in ranked[:SIGNATURES_KEPT]:
        members = np.flatnonzero(group_of_row == g)
        examples: list[list[str]] = []
        seen: set[int] = set()
        for m in members.tolist():
            if int(trace[m]) not in seen:
                seen.add(int(trace[m]))
                r = int(rows[m])
                examples.append([traces.trace_id[int(trace[m])] or "", spans.span_id[r] or ""])
                if len(examples) >= SIGNATURE_EXAMPLES:
                    break
        name_code = int(keys[g] // n_templates)
        out.append(
            [
                names[name_code] if name_code >= 0 else "",
                template_list[int(keys[g] % n_templates)],
                int(span_counts[g]),
                int(trace_counts[g]),
                messages[int(message_of_row[members[0]])][:EXAMPLE_MESSAGE_CHARS],
                examples,
            ]
        )
    return {"signatures": out, "signature_groups": len(keys)}


def merge(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One summary over several chunks: counts added by name, signatures by (name, template)."""
    if len(summaries) == 1:
        return summaries[0]
    out: dict[str, Any] = {"kinds": [0] * len(SpanKind)}
    for key in (
        "error_spans",
        "exception_spans",
        "output_error_spans",
        "error_traces",
        "input_tokens",
        "output_tokens",
    ):
        out[key] = sum(s[key] for s in summaries)
    starts = [s["start_ns"] for s in summaries if s["start_ns"] is not None]
    ends = [s["end_ns"] for s in summaries if s["end_ns"] is not None]
    out["start_ns"] = min(starts) if starts else None
    out["end_ns"] = max(ends) if ends else None
    costs = [s["cost"] for s in summaries if s["cost"] is not None]
    out["cost"] = sum(costs) if costs else None
    for s in summaries:
        out["kinds"] = [a + b for a, b in zip(out["kinds"], s["kinds"], strict=False)]
    for key in ("services", "models", "agents", "tools"):
        merged: dict[str, list[int]] = {}
        for s in summaries:
            for name, counts in s[key].items():
                have = merged.get(name)
                merged[name] = list(counts) if have is None else [a + b for a, b in zip(have, counts, strict=False)]
        out[key] = merged
    groups: dict[tuple[str, str], list[Any]] = {}
    for s in summaries:
        for name, template, n_spans, n_traces, message, examples in s["signatures"]:
            group = groups.get((name, template))
            if group is None:
                groups[(name, template)] = [name, template, n_spans, n_traces, message, list(examples)]
            else:
                group[2] += n_spans
                group[3] += n_traces
                group[5] = (group[5] + list(examples))[:SIGNATURE_EXAMPLES]
    out["signatures"] = sorted(groups.values(), key=lambda g: (-g[3], -g[2], g[0], g[1]))
    # Groups of different chunks may coincide, so the sum is an upper bound when chunks cut their lists.
    out["signature_groups"] = max(len(groups), max(s["signature_groups"] for s in summaries)) if summaries else 0
    return out
