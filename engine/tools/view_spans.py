"""view_spans: chosen spans in detail — every attribute, with a larger cap.

Long values are head/tail-cut with a marker naming the exact call that shows
the cut part (`attribute=` + `offset=`), so a model can read any value to its
end in pieces without guessing.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from engine.errors import InvalidArgumentError
from engine.tools import render
from engine.tools.budget import clamp, cut, fit
from engine.tools.common import ToolArgs, dataset_field, description, in_thread, open_dataset
from engine.tools.content import as_text, fold_flat_messages
from engine.tools.context import ToolContext
from engine.tools.registry import ToolResult, ToolSpec, register
from engine.tools.spans import SpanHead, get, more_call, span_head

__all__ = ["ViewSpansArgs", "ViewSpansResult", "SpanDetailView", "SPEC", "span_details"]

DEFAULT_MAX_CHARS = 2000
MAX_MAX_CHARS = 50_000
MIN_MAX_CHARS = 100
MAX_SPANS = 20
# Parts of the raw span outside its attributes that carry content (exception
# events with stack traces; TRAIL logs with inputs and outputs).
RAW_EXTRA_KEYS = ("events", "logs")


class ViewSpansArgs(ToolArgs):
    trace_id: str = Field(description="the trace the spans belong to")
    span_ids: list[str] = Field(min_length=1, description=f"spans to show (1-{MAX_SPANS})")
    max_chars: int = Field(
        default=DEFAULT_MAX_CHARS,
        description=(
            f"characters shown per attribute value ({MIN_MAX_CHARS}-{MAX_MAX_CHARS}); longer values are head/tail-cut"
        ),
    )
    attribute: str | None = Field(
        default=None, description="show only this attribute (e.g. input.value), to read a long value in pieces"
    )
    offset: int = Field(default=0, ge=0, description="with attribute: first character to show")
    dataset: str | None = dataset_field()


class SpanDetailView(SpanHead):
    attributes: dict[str, str] = Field(default_factory=dict, description="attribute values as text, long ones cut")
    value_sizes: dict[str, int] = Field(default_factory=dict, description="full length of each value that was cut")
    folded: int = Field(default=0, description="flat message attributes folded (same content as input/output.value)")


class ViewSpansResult(ToolResult):
    trace_id: str
    spans: list[SpanDetailView] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="spans left out to fit the budget")
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"trace {self.trace_id}: {len(self.spans)} spans"]
        for s in self.spans:
            lines.append(s.line(indent=False))
            if s.folded:
                lines.append(
                    f"  ({s.folded} flat llm.*_messages attributes folded: same content as input/output.value)"
                )
            for key, value in s.attributes.items():
                size = f" ({render.num(s.value_sizes[key])} chars)" if key in s.value_sizes else ""
                lines.append(f"  {key}{size}: {value}")
        if self.missing:
            lines.append(
                "not shown: "
                + render.call("view_spans", trace_id=self.trace_id, span_ids=self.missing)
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def span_details(ds: Any, trace_id: str, span_ids: list[str]) -> list[Any]:
    """The store's span details; an unknown id's error already names the call that lists the right ones."""
    from engine.traces import store

    return list(store.get_spans(ds, trace_id, span_ids))


def _all_values(ds: Any, detail: Any) -> dict[str, str]:
    """Attributes as text, then the raw span's events / logs when it has them."""
    values = {k: as_text(v) for k, v in (get(detail, "attributes", default={}) or {}).items()}
    raw = get(detail, "raw")
    if raw is None:
        row = get(detail, "row")
        if row is not None and hasattr(ds, "raw"):
            raw = ds.raw(int(row))
    if isinstance(raw, dict):
        for key in RAW_EXTRA_KEYS:
            value = raw.get(key)
            if value not in (None, "", [], "[]", {}):
                values[f"({key})"] = as_text(value)
    return values


async def view_spans(ctx: ToolContext, args: ViewSpansArgs, budget: int) -> ViewSpansResult:
    notes: list[str] = []
    max_chars = clamp(args.max_chars, MIN_MAX_CHARS, MAX_MAX_CHARS, "max_chars", notes)
    ids = list(dict.fromkeys(args.span_ids))
    if len(ids) > MAX_SPANS:
        notes.append(f"{len(ids)} span ids asked; showing the first {MAX_SPANS}")
    ask, later = ids[:MAX_SPANS], ids[MAX_SPANS:]
    ds = await open_dataset(ctx, args.dataset)
    details = await in_thread(span_details, ds, args.trace_id, ask)
    prepared = []
    for d in details:
        values = await in_thread(_all_values, ds, d)
        folded = 0
        if args.attribute is None:
            kept, folded = fold_flat_messages(values)
            values = {k: v for k, v in values.items() if k in kept}
        else:
            if args.attribute not in values:
                keys = ", ".join(sorted(values)[:40])
                raise InvalidArgumentError(
                    f"span {get(d, 'span_id')} has no attribute {args.attribute!r}; its attributes are: {keys}"
                )
            values = {args.attribute: values[args.attribute]}
        prepared.append((span_head(d, None, error_chars=2000), values, folded))

    def build(n: int, chars: int) -> ViewSpansResult:
        shown = []
        for head, values, folded in prepared[:n]:
            out: dict[str, str] = {}
            sizes: dict[str, int] = {}
            for key, text in values.items():
                if args.attribute is not None:
                    piece = text[args.offset : args.offset + chars]
                    end = args.offset + len(piece)
                    if end < len(text):
                        piece += " " + render.quote(
                            f"[… {len(text) - end:,} more chars; "
                            + render.call("view_spans", trace_id=args.trace_id, span_ids=[head.span_id],
                                          attribute=key, offset=end)
                            + "]"
                        )  # fmt: skip
                    if args.offset or end < len(text):
                        sizes[key] = len(text)
                    out[key] = piece
                    continue
                if len(text) > chars:
                    sizes[key] = len(text)
                out[key] = cut(text, chars, more_call(args.trace_id, head.span_id, key))
            shown.append(SpanDetailView(**head.model_dump(), attributes=out, value_sizes=sizes, folded=folded))
        missing = [h.span_id for h, _, _ in prepared[n:]] + later
        return ViewSpansResult(trace_id=args.trace_id, spans=shown, missing=missing, notes=notes)

    if args.attribute is not None and args.offset:
        notes.append(f"showing {args.attribute} from character {args.offset}")
    return fit(build, items=len(prepared), chars=max_chars, limit=budget, min_items=0, prefer="chars")


SPEC = register(
    ToolSpec(
        name="view_spans",
        title="Chosen spans in detail",
        description=description("view_spans"),
        args=ViewSpansArgs,
        result=ViewSpansResult,
        handler=view_spans,
    )
)
