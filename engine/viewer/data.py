"""A trace as the data the page draws: spans in tree order, bounded, with what was cut.

The page never reads the dataset; it gets one JSON document built here. Every
bound is a named limit in `Limits`, and a trace that hits one says so in its
`notes` (spans left out, values cut), so a reader knows what the picture omits.
When spans must be left out, the cited spans, their ancestors and the spans
with errors are kept first, then the earliest others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.tools.content import fold_flat_messages, input_of, output_of
from engine.tools.spans import details_of, get, span_head
from engine.tools.view_trace import trace_spans
from engine.viewer.conversation import Message, messages_in, messages_out

__all__ = ["Limits", "TRACE_PAGE_LIMITS", "REPORT_LIMITS", "APP_LIMITS", "trace_data", "Citation"]


@dataclass(frozen=True)
class Limits:
    """How much of one trace a page carries."""

    max_spans: int  # spans drawn; past this, spans are left out (cited / error spans kept)
    value_chars: int  # characters of each input, output, error or message kept
    max_messages: int  # messages of one LLM span's conversation (the last ones are kept)
    max_value_chars_total: int  # all values of the trace together; past this, values are left out


# `halo-mcp view` and `/ui/traces/{id}`: one trace, shown whole up to a large trace.
TRACE_PAGE_LIMITS = Limits(max_spans=5_000, value_chars=4_000, max_messages=60, max_value_chars_total=4_000_000)
# Each cited trace of a report: the report stays small however many traces it cites.
REPORT_LIMITS = Limits(max_spans=300, value_chars=2_000, max_messages=30, max_value_chars_total=400_000)
# Traces cited by one report that are drawn (in the order the findings cite them).
REPORT_MAX_TRACES = 20
APP_LIMITS = REPORT_LIMITS


@dataclass(frozen=True)
class Citation:
    """A span a finding cites, with the quote it rests on."""

    span_id: str | None
    quote: str | None
    label: str


def _cut(text: str | None, chars: int) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    if len(text) <= chars:
        return text, False
    return text[:chars] + f"… [{len(text) - chars:,} more chars]", True


def _keep(heads: list[Any], wanted: set[str], limit: int) -> list[int]:
    """Indexes of spans to draw: wanted spans, their ancestors and error spans first, then the earliest."""
    if len(heads) <= limit:
        return list(range(len(heads)))
    index = {h.span_id: i for i, h in enumerate(heads)}
    chosen: list[int] = []
    seen: set[int] = set()

    def add(i: int) -> None:
        chain = []
        while i >= 0 and i not in seen:
            chain.append(i)
            parent = heads[i].parent_id
            i = index.get(parent, -1) if parent else -1
        for j in reversed(chain):
            seen.add(j)
            chosen.append(j)

    for i, h in enumerate(heads):
        if h.span_id in wanted:
            add(i)
    for i, h in enumerate(heads):
        if h.status == "error" and len(seen) < limit:
            add(i)
    for i in range(len(heads)):
        if len(seen) >= limit:
            break
        add(i)
    return sorted(chosen)


def _messages(found: list[Message], limits: Limits, budget: list[int]) -> tuple[list[dict[str, Any]], int]:
    dropped = max(0, len(found) - limits.max_messages)
    out = []
    for m in found[dropped:]:
        content, _ = _cut(m.content, limits.value_chars)
        budget[0] -= len(content or "")
        calls = [{"n": c.name[:200], "a": _cut(c.arguments, limits.value_chars)[0]} for c in m.tool_calls]
        out.append({"r": m.role[:40], "c": content, "calls": calls})
    return out, dropped


def trace_data(
    ds: Any,
    trace_id: str,
    limits: Limits,
    citations: list[Citation] | None = None,
) -> dict[str, Any]:
    """One trace as the page's JSON: header figures, spans (compact keys), notes of what was cut."""
    views = trace_spans(ds, trace_id)
    starts = [s for v in views if (s := get(v, "start_ns", default=0))]
    t0 = min(starts) if starts else None
    heads = [span_head(v, t0, error_chars=limits.value_chars) for v in views]
    cited = {c.span_id: c for c in citations or [] if c.span_id}
    keep = _keep(heads, set(cited), limits.max_spans)
    notes = []
    if len(keep) < len(heads):
        notes.append(
            f"{len(heads) - len(keep):,} of {len(heads):,} spans not drawn "
            f"(limit {limits.max_spans:,} spans per trace; cited spans, their parents and error spans kept)"
        )
    shown = [heads[i] for i in keep]
    details = {get(d, "span_id"): d for d in details_of(ds, trace_id, list(dict.fromkeys(h.span_id for h in shown)))}
    position = {h.span_id: n for n, h in enumerate(shown)}
    budget = [limits.max_value_chars_total]
    cut_values = dropped_values = dropped_messages = 0
    spans = []
    ends = [get(v, "end_ns", default=0) for v in views]
    for h in shown:
        detail = details.get(h.span_id)
        attrs, _ = fold_flat_messages(get(detail, "attributes", default={}) or {})
        item: dict[str, Any] = {
            "id": h.span_id,
            "p": position.get(h.parent_id or "", -1),
            "n": h.name[:300],
            "k": h.kind,
            "s": h.status,
            "t0": h.start_ms or 0.0,
            "dur": h.duration_ms or 0.0,
        }
        if h.error:
            item["e"] = h.error
        for key, value in (("m", h.model), ("tool", h.tool), ("ti", h.input_tokens), ("to", h.output_tokens)):
            if value is not None:
                item[key] = value if not isinstance(value, str) else value[:200]
        if budget[0] > 0:
            if h.kind == "llm":
                msgs_in, drop_in = _messages(messages_in(attrs), limits, budget)
                msgs_out, drop_out = _messages(messages_out(attrs), limits, budget)
                dropped_messages += drop_in + drop_out
                if msgs_in or msgs_out:
                    item["msgs"] = msgs_in
                    item["reply"] = msgs_out
            for key, found in (("in", input_of(attrs)), ("out", output_of(attrs))):
                if found is None or item.get("msgs" if key == "in" else "reply"):
                    continue  # the conversation shows it
                text, was_cut = _cut(found[1], limits.value_chars)
                cut_values += was_cut
                budget[0] -= len(text or "")
                item[key] = text
            if h.kind == "tool" and "in" not in item and get(detail, "tool_args"):
                item["in"] = _cut(get(detail, "tool_args"), limits.value_chars)[0]
        elif input_of(attrs) or output_of(attrs):
            dropped_values += 1
        citation = cited.get(h.span_id)
        if citation is not None:
            item["hl"] = citation.label
            if citation.quote:
                item["q"] = citation.quote
        spans.append(item)
    if cut_values:
        notes.append(f"{cut_values:,} inputs/outputs cut to {limits.value_chars:,} chars")
    if dropped_messages:
        notes.append(
            f"{dropped_messages:,} earlier messages of conversations left out (limit {limits.max_messages} per span)"
        )
    if dropped_values:
        notes.append(
            f"inputs/outputs of {dropped_values:,} spans left out "
            f"(limit {limits.max_value_chars_total:,} chars per trace)"
        )
    missing = [c for c in citations or [] if c.span_id and c.span_id not in position]
    if missing:
        notes.append(f"cited span(s) not in this trace: {', '.join(c.span_id or '' for c in missing[:5])}")
    return {
        "id": trace_id,
        "spans": spans,
        "total": len(heads),
        "errors": sum(1 for h in heads if h.status == "error"),
        "dur": (max(ends) - t0) / 1e6 if t0 and ends and max(ends) >= t0 else 0.0,
        "notes": notes,
    }
