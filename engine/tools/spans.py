"""Span headers shared by view_trace, view_spans and synthesize.

One line per span says what it is (kind, name, model, tool), how it went
(status, error), when and how long, and what it cost (tokens, raw size), with
the full span id a model cites.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.tools import render
from engine.traces.model import SpanKind, SpanStatus

__all__ = ["SpanHead", "span_head", "get", "kind_text", "status_text", "more_call", "details_of"]

# Indentation stops growing past this depth (a 200-deep chain would be all spaces).
MAX_INDENT_DEPTH = 12


def get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present attribute (or key) of `obj` among `names`."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return default


def kind_text(kind: Any) -> str:
    if isinstance(kind, SpanKind):
        return kind.name.lower()
    if isinstance(kind, int):
        return SpanKind(kind).name.lower()
    return str(kind).lower()


def status_text(status: Any) -> str:
    if isinstance(status, SpanStatus):
        return status.name.lower()
    if isinstance(status, int):
        return SpanStatus(status).name.lower()
    return str(status).lower()


class SpanHead(BaseModel):
    """What a span is, how it went, when, and what it cost."""

    span_id: str
    parent_id: str | None = None
    depth: int = 0
    name: str
    kind: str
    status: str
    error: str | None = Field(default=None, description="exception, error status message, or error found in the output")
    start_ms: float | None = Field(default=None, description="start, in ms after the trace's first span")
    duration_ms: float | None = None
    model: str | None = None
    tool: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    raw_size: int | None = Field(default=None, description="bytes of the span's raw JSON")

    def line(self, *, indent: bool = True) -> str:
        pad = "  " * min(self.depth, MAX_INDENT_DEPTH) if indent else ""
        what = self.kind
        if self.model:
            what += f" {self.model}"
        if self.tool and self.tool != self.name:
            what += f" tool={self.tool}"
        status = self.status.upper() if self.status == "error" else self.status
        parts = [f"{pad}{self.span_id} {self.name} [{what}] {status}"]
        if self.start_ms is not None:
            parts.append(f"+{render.ms(self.start_ms)}")
        parts.append(render.ms(self.duration_ms))
        tok = render.tokens(self.input_tokens, self.output_tokens)
        if tok:
            parts.append(tok)
        if self.raw_size is not None:
            parts.append(_size(self.raw_size))
        line = " ".join(parts)
        if self.error:
            line += f" — {render.quote(self.error)}"
        return line


def _size(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f}KB"
    return f"{n / 1024 / 1024:.1f}MB"


def span_head(view: Any, trace_start_ns: int | None, *, error_chars: int = 300) -> SpanHead:
    """A store `SpanView` / `SpanDetail` as a header."""
    start = get(view, "start_ns", default=0)
    end = get(view, "end_ns", default=0)
    duration = get(view, "duration_ms")
    if duration is None:
        duration = render.ns_to_ms(start, end)
    status = status_text(get(view, "status", default="unset"))
    error = get(view, "exception")
    if not error and status == "error":
        error = get(view, "status_message") or "(error without a message)"
    if not error and get(view, "output_error"):
        error = f"output reads as an error: {get(view, 'output_error')}"
    if error and len(error) > error_chars:
        error = error[: error_chars - 1] + "…"
    tin, tout = get(view, "input_tokens"), get(view, "output_tokens")
    return SpanHead(
        span_id=get(view, "span_id"),
        parent_id=get(view, "parent_id"),
        depth=int(get(view, "depth", default=0)),
        name=get(view, "name", default=""),
        kind=kind_text(get(view, "kind", default="other")),
        status=status,
        error=error,
        start_ms=(start - trace_start_ns) / 1e6 if trace_start_ns and start and start >= trace_start_ns else None,
        duration_ms=duration,
        model=get(view, "model"),
        tool=get(view, "tool_name", "tool"),
        input_tokens=None if tin is None or tin < 0 else int(tin),
        output_tokens=None if tout is None or tout < 0 else int(tout),
        raw_size=get(view, "raw_size"),
    )


def more_call(trace_id: str, span_id: str, attribute: str | None = None) -> Any:
    """The view_spans call that shows the rest of a cut value (offset filled in by `cut`)."""
    if attribute is None:
        return render.call("view_spans", trace_id=trace_id, span_ids=[span_id])

    def hint(offset: int) -> str:
        return render.call("view_spans", trace_id=trace_id, span_ids=[span_id], attribute=attribute, offset=offset)

    return hint


def details_of(ds: Any, trace_id: str, span_ids: list[str]) -> list[Any]:
    """`store.get_spans` for any number of ids (the store takes a bounded number per call)."""
    from engine.traces.store import views as store_views

    step = store_views.MAX_SPAN_IDS
    out: list[Any] = []
    for i in range(0, len(span_ids), step):
        out += store_views.get_spans(ds, trace_id, span_ids[i : i + step])
    return out
