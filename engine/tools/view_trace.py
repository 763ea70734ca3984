"""view_trace: one trace as a tree, with inputs and outputs cut to fit.

A trace that fits is shown in full: every span's header plus previews of its
input, output and error. One that does not is shown as a skeleton (ids, names,
kinds, status, sizes) with a plan of the next calls — never as a dump cut at an
arbitrary point. A skeleton too long for one answer is paged by cursor.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field

from engine.errors import InvalidArgumentError, UnknownIdError
from engine.tools import render
from engine.tools.budget import MIN_FIELD_CHARS, clamp, cut, fit, fits
from engine.tools.common import (
    CursorOffset,
    CursorState,
    ToolArgs,
    dataset_field,
    decode_cursor,
    description,
    encode_cursor,
    in_thread,
    open_dataset,
)
from engine.tools.content import fold_flat_messages, input_of, output_of, readable
from engine.tools.context import ToolContext
from engine.tools.registry import CHARS_PER_TOKEN, ToolResult, ToolSpec, register
from engine.tools.spans import SpanHead, details_of, get, more_call, span_head

__all__ = ["ViewTraceArgs", "ViewTraceResult", "SpanNode", "SPEC", "trace_spans"]

DEFAULT_PREVIEW = 300
MAX_PREVIEW = 4000
MIN_PREVIEW = 80
# Skeleton lines cost about this much; a trace with more lines than the budget
# allows is not even tried in full.
SKELETON_LINE_CHARS = 160
# A cut preview's marker (it names the view_spans call that shows the rest).
PREVIEW_MARKER_CHARS = 150
PLAN_ITEMS = 3


class ViewTraceArgs(ToolArgs):
    trace_id: str = Field(description="the trace to show")
    root_span_id: str | None = Field(default=None, description="show only the subtree under this span")
    max_chars: int = Field(
        default=DEFAULT_PREVIEW,
        description=f"characters of each input / output preview ({MIN_PREVIEW}-{MAX_PREVIEW}); "
        "view_spans shows whole values",
    )
    cursor: str | None = Field(default=None, description="next_cursor of a paged skeleton")
    dataset: str | None = dataset_field()


class SpanNode(SpanHead):
    input: str | None = Field(default=None, description="preview of the span's input")
    output: str | None = Field(default=None, description="preview of the span's output")


class ViewTraceResult(ToolResult):
    trace_id: str
    mode: Literal["full", "skeleton"] = Field(description="full: headers and previews; skeleton: headers only")
    span_count: int = Field(description="spans in the trace (or in the subtree shown)")
    error_count: int
    duration_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    spans: list[SpanNode] = Field(default_factory=list, description="in tree order (depth-first by start time)")
    next_cursor: str | None = Field(default=None, description="the skeleton continues: pass as cursor")
    plan: list[str] = Field(default_factory=list, description="calls to make next")
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        head = f"trace {self.trace_id}: {render.num(self.span_count)} spans, {render.ms(self.duration_ms)}"
        head += f", {self.error_count} errors"
        tok = render.tokens(self.input_tokens, self.output_tokens)
        if tok:
            head += f", {tok}"
        if self.mode == "skeleton":
            head += "; too big to show in full, skeleton (id name [kind] status start duration tokens size):"
        lines = [head]
        for s in self.spans:
            lines.append(s.line())
            pad = "  " * min(s.depth, 12) + "  "
            if s.input is not None:
                lines.append(f"{pad}in: {render.quote(s.input)}")
            if s.output is not None:
                lines.append(f"{pad}out: {render.quote(s.output)}")
        if self.next_cursor:
            more = render.call("view_trace", trace_id=self.trace_id, cursor=self.next_cursor)
            lines.append(f"skeleton continues: {more}")
        if self.plan:
            lines.append("next:")
            lines += [f"- {p}" for p in self.plan]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def trace_spans(ds: Any, trace_id: str) -> list[Any]:
    """The store's tree view of a trace; an unknown id's error already names the lookup calls."""
    from engine.traces import store

    return list(store.view_trace(ds, trace_id))


def _subtree(views: list[Any], root_span_id: str, trace_id: str) -> list[Any]:
    for i, v in enumerate(views):
        if get(v, "span_id") == root_span_id:
            depth = get(v, "depth", default=0)
            end = i + 1
            while end < len(views) and get(views[end], "depth", default=0) > depth:
                end += 1
            return views[i:end]
    raise UnknownIdError(
        f"span {root_span_id!r} is not in trace {trace_id}; "
        f'view_trace(trace_id="{trace_id}") lists its span ids'
    )


def _subtree_sizes(heads: list[SpanHead]) -> list[int]:
    """Spans in each span's subtree (itself included), from the DFS order and depths."""
    sizes = [1] * len(heads)
    stack: list[int] = []  # open subtrees; one closes where a span at its depth or above starts
    for i, h in enumerate(heads):
        while stack and heads[stack[-1]].depth >= h.depth:
            j = stack.pop()
            sizes[j] = i - j
        stack.append(i)
    for j in stack:
        sizes[j] = len(heads) - j
    return sizes


def _branches(heads: list[SpanHead]) -> list[int]:
    """Children of the first span that has several, walking down single-child chains from the top."""
    if not heads:
        return []
    sizes = _subtree_sizes(heads)
    top = [i for i, h in enumerate(heads) if h.depth == heads[0].depth]
    while len(top) == 1 and sizes[top[0]] > 1:
        i = top[0]
        top = [j for j in range(i + 1, i + sizes[i]) if heads[j].depth == heads[i].depth + 1]
    return sorted(top, key=lambda i: -sizes[i])


def _plan(trace_id: str, heads: list[SpanHead], *, short: bool = False) -> list[str]:
    """Next calls for a trace shown as a skeleton; `short` for the tightest budgets."""
    plan: list[str] = []
    errors = list(dict.fromkeys(h.span_id for h in heads if h.error))[: 3 if short else 10]
    if errors:
        plan.append(render.call("view_spans", trace_id=trace_id, span_ids=errors) + "  # spans with errors")
    sizes = _subtree_sizes(heads)
    for i in _branches(heads)[: 1 if short else PLAN_ITEMS]:  # the biggest subtrees, to open one at a time
        if sizes[i] > 1:
            plan.append(
                render.call("view_trace", trace_id=trace_id, root_span_id=heads[i].span_id)
                + f"  # {heads[i].name}: {sizes[i]} spans"
            )
    plan.append(render.call("search", trace_id=trace_id, pattern="error|exception|fail") + "  # find content inside")
    return plan


class _Cursor(CursorState):
    tr: str
    r: str | None = None
    o: CursorOffset


async def view_trace(ctx: ToolContext, args: ViewTraceArgs, budget: int) -> ViewTraceResult:
    notes: list[str] = []
    preview = clamp(args.max_chars, MIN_PREVIEW, MAX_PREVIEW, "max_chars", notes)
    root_span_id, offset, force_skeleton = args.root_span_id, 0, False
    if args.cursor:
        state = decode_cursor("view_trace", args.cursor, _Cursor)
        if state["tr"] != _short_hash(args.trace_id):
            raise InvalidArgumentError(
                f"this cursor belongs to another trace, not {args.trace_id}; pass the trace_id it was issued with"
            )
        root_span_id, offset, force_skeleton = state.get("r"), int(state["o"]), True
    ds = await open_dataset(ctx, args.dataset)
    views = await in_thread(trace_spans, ds, args.trace_id)
    if root_span_id:
        views = _subtree(views, root_span_id, args.trace_id)
    starts = [s for v in views if (s := get(v, "start_ns", default=0))]
    ends = [get(v, "end_ns", default=0) for v in views]
    t0 = min(starts) if starts else None
    heads = [span_head(v, t0) for v in views]
    tin = [h.input_tokens for h in heads if h.input_tokens is not None and h.kind == "llm"]
    tout = [h.output_tokens for h in heads if h.output_tokens is not None and h.kind == "llm"]
    base: dict[str, Any] = dict(
        trace_id=args.trace_id,
        span_count=len(views),
        error_count=sum(1 for h in heads if h.status == "error"),
        duration_ms=(max(ends) - t0) / 1e6 if t0 and ends and max(ends) >= t0 else None,
        input_tokens=sum(tin) if tin else None,
        output_tokens=sum(tout) if tout else None,
    )
    limit = budget

    # The smallest full view: each span's line plus two minimal previews (or its whole raw size),
    # in characters; estimated in tokens only to skip views that cannot fit (the real count decides).
    least = sum(SKELETON_LINE_CHARS + min(h.raw_size or 0, 2 * (MIN_PREVIEW + PREVIEW_MARKER_CHARS)) for h in heads)
    if not force_skeleton and least <= limit * CHARS_PER_TOKEN:
        details = await in_thread(details_of, ds, args.trace_id, [h.span_id for h in heads])
        attrs = {get(d, "span_id"): get(d, "attributes", default={}) or {} for d in details}

        def full(chars: int) -> ViewTraceResult:
            nodes = []
            for h in heads:
                a, _ = fold_flat_messages(attrs.get(h.span_id, {}))
                nodes.append(
                    SpanNode(
                        **h.model_dump(),
                        input=_preview(input_of(a), chars, args.trace_id, h.span_id),
                        output=_preview(output_of(a), chars, args.trace_id, h.span_id),
                    )
                )
            return ViewTraceResult(mode="full", spans=nodes, notes=notes, **base)

        for chars in _descending(preview, MIN_PREVIEW):
            result = full(chars)
            if fits(result, limit):
                if chars < preview:
                    notes.append(f"previews cut to {chars} chars to fit the answer budget")
                return full(chars)

    plan, short_plan = _plan(args.trace_id, heads), _plan(args.trace_id, heads, short=True)
    rest = heads[offset:]

    def skeleton(n: int, _: int) -> ViewTraceResult:
        cursor = None
        if offset + n < len(heads):
            cursor = encode_cursor("view_trace", {"tr": _short_hash(args.trace_id), "r": root_span_id, "o": offset + n})
        shown = [
            SpanNode(**h.model_dump(exclude={"error"}), error=h.error[:120] if h.error else None) for h in rest[:n]
        ]
        skel_notes = notes + ([f"skeleton spans {offset + 1}-{offset + n} of {len(heads)}"] if cursor or offset else [])
        result = ViewTraceResult(mode="skeleton", spans=shown, next_cursor=cursor, plan=plan, notes=skel_notes, **base)
        if not fits(result, limit):  # tight budgets: fewer next calls, more spans
            result = result.model_copy(update={"plan": short_plan})
        return result

    return fit(skeleton, items=len(rest), chars=MIN_FIELD_CHARS, limit=limit, min_items=0)


def _preview(found: tuple[str, str] | None, chars: int, trace_id: str, span_id: str) -> str | None:
    """A value's readable form cut to `chars`; the marker names the call showing it whole."""
    if found is None:
        return None
    key, text = found
    shown = readable(text)
    if shown is text:  # unchanged: an offset into the raw value is meaningful
        return cut(text, chars, more_call(trace_id, span_id, key))
    return cut(shown, chars, render.call("view_spans", trace_id=trace_id, span_ids=[span_id], attribute=key))


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _descending(high: int, low: int) -> list[int]:
    """Preview sizes to try, largest first, halving down to `low`."""
    sizes, size = [], high
    while size > low:
        sizes.append(size)
        size //= 2
    return [*sizes, low]


SPEC = register(
    ToolSpec(
        name="view_trace",
        title="One trace as a tree",
        description=description("view_trace"),
        args=ViewTraceArgs,
        result=ViewTraceResult,
        handler=view_trace,
    )
)
