"""search: a regex over raw span content — whole dataset, one trace or one span.

Counts are exact (total matches, matches per span); the matches shown are
bounded, with context, and paged by cursor. A bad regex is explained by the
store; a regex that runs too long is stopped and the answer says so. On a
ClickHouse / chDB dataset a whole-dataset search also carries
`computed_in_source`: spans matching in the whole table and the first of them,
found by `match()` in ClickHouse (`engine.sources.in_source`), on the first page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.errors import InvalidArgumentError
from engine.sources import in_source
from engine.tools import render
from engine.tools.budget import clamp, cut, fit
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
from engine.tools.context import ToolContext
from engine.tools.regex_guard import guarded
from engine.tools.registry import ToolResult, ToolSpec, register

__all__ = ["SearchArgs", "SearchResult", "Match", "SpanCount", "SPEC"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DEFAULT_CONTEXT = 80
MAX_CONTEXT = 1000
MAX_PATTERN_CHARS = 1000
DEFAULT_TIMEOUT_S = 5.0
# Spans listed with their match counts.
SPAN_COUNTS_SHOWN = 20


class SearchArgs(ToolArgs):
    pattern: str | None = Field(
        default=None,
        max_length=MAX_PATTERN_CHARS,
        description="regular expression (RE2 syntax) searched in each span's raw JSON text "
        '(e.g. "rate.?limit", "Traceback", "\\"status\\": 4\\d\\d")',
    )
    trace_id: str | None = Field(default=None, description="search only this trace")
    span_id: str | None = Field(default=None, description="search only this span (needs trace_id)")
    ignore_case: bool = Field(default=False, description="case-insensitive match")
    limit: int = Field(
        default=DEFAULT_LIMIT, description=f"matches shown per page (1-{MAX_LIMIT}); counts are always exact"
    )
    context_chars: int = Field(
        default=DEFAULT_CONTEXT, description=f"characters of context each side (0-{MAX_CONTEXT})"
    )
    cursor: str | None = Field(
        default=None, description="next_cursor of the previous page (other arguments then come from it)"
    )
    dataset: str | None = dataset_field()


class Match(BaseModel):
    trace_id: str
    span_id: str
    name: str | None = None
    before: str = ""
    match: str
    after: str = ""


class SpanCount(BaseModel):
    trace_id: str
    span_id: str
    count: int


class SearchResult(ToolResult):
    pattern: str
    scope: str = Field(description="where the search ran")
    total_matches: int = Field(description="exact number of matches in the scope")
    spans_matched: int = Field(description="spans with at least one match")
    traces_matched: int | None = None
    matches: list[Match] = Field(default_factory=list)
    span_counts: list[SpanCount] = Field(default_factory=list, description="spans with the most matches")
    has_more: bool = Field(default=False, description="more matches exist than are shown")
    next_cursor: str | None = None
    truncated_by_time: bool = Field(
        default=False, description="the search stopped at its time limit; counts are lower bounds"
    )
    notes: list[str] = Field(default_factory=list)
    computed_in_source: list[dict[str, Any]] = Field(
        default_factory=list,
        description="ClickHouse sources: spans matching in the whole table and the first matches (fields as in "
        "matches), by match() in ClickHouse over span names, status messages and attribute values",
    )

    def render(self) -> str:
        head = (
            f"/{self.pattern}/ in {self.scope}: {render.num(self.total_matches)} matches "
            f"in {render.num(self.spans_matched)} spans"
        )
        if self.traces_matched is not None:
            head += f" of {render.num(self.traces_matched)} traces"
        if self.truncated_by_time:
            head += " (STOPPED at the time limit: counts are lower bounds)"
        lines = [head]
        if self.span_counts and self.spans_matched > 1:
            lines.append("most matches: " + ", ".join(f"{c.trace_id}/{c.span_id}×{c.count}" for c in self.span_counts))
        for m in self.matches:
            where = f"{m.trace_id}/{m.span_id}" + (f" ({m.name})" if m.name else "")
            lines.append(f"- {where}: …{render.quote(m.before)}«{render.quote(m.match)}»{render.quote(m.after)}…")
        if self.next_cursor:
            lines.append(f"more: {render.call('search', cursor=self.next_cursor)}")
        for c in self.computed_in_source:
            lines.append(f"computed in ClickHouse over {c['source']}: {render.num(c['spans_matched'])} spans match")
            for m in c["matches"]:
                where = f"{m['trace_id']}/{m['span_id']}" + (f" ({m['name']})" if m["name"] else "")
                lines.append(
                    f"  - {where}: …{render.quote(m['before'])}«{render.quote(m['match'])}»{render.quote(m['after'])}…"
                )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return default


class _Cursor(CursorState):
    p: str
    tr: str | None = None
    sp: str | None = None
    i: bool = False
    cx: int = Field(ge=0, le=MAX_CONTEXT)
    k: CursorOffset = 0


async def search(ctx: ToolContext, args: SearchArgs, budget: int) -> SearchResult:
    from engine.traces.store import grep as store

    notes: list[str] = []
    limit = clamp(args.limit, 1, MAX_LIMIT, "limit", notes)
    context = clamp(args.context_chars, 0, MAX_CONTEXT, "context_chars", notes)
    state: dict[str, Any] = {
        "p": args.pattern, "tr": args.trace_id, "sp": args.span_id, "i": args.ignore_case,
        "cx": context, "k": 0,
    }  # fmt: skip
    if args.cursor:
        state = decode_cursor("search", args.cursor, _Cursor)
    elif not args.pattern:
        raise InvalidArgumentError('search needs a pattern, e.g. search(pattern="rate limit"), or a cursor')
    if state["sp"] and not state["tr"]:
        raise InvalidArgumentError("span_id needs trace_id: search(trace_id=..., span_id=..., pattern=...)")
    skip = int(state["k"])
    if skip >= store.MAX_LIMIT:
        raise InvalidArgumentError(
            f"search shows at most the first {store.MAX_LIMIT:,} matches; narrow the pattern, or search one "
            "trace (trace_id=...) or one span at a time"
        )
    ds = await open_dataset(ctx, args.dataset)
    timeout = ctx.search_timeout_s or DEFAULT_TIMEOUT_S
    found = await guarded(
        ds, state["p"], timeout, "search", store.SearchHits, state["p"], trace_id=state["tr"],
        span_id=state["sp"], limit=min(skip + limit, store.MAX_LIMIT), context_chars=state["cx"],
        ignore_case=state["i"], timeout_s=timeout,
    )  # fmt: skip
    matches = [
        Match(
            trace_id=_get(m, "trace_id"),
            span_id=_get(m, "span_id"),
            name=_get(m, "name", "span_name"),
            before=_get(m, "before", default=""),
            match=_get(m, "match", "text", default=""),
            after=_get(m, "after", default=""),
        )
        for m in list(_get(found, "matches", default=[]))[skip:]
    ]
    counts = [
        SpanCount(trace_id=_get(c, "trace_id"), span_id=_get(c, "span_id"), count=int(_get(c, "count", default=0)))
        for c in list(_get(found, "span_counts", "counts", default=[]))
    ]
    counts.sort(key=lambda c: -c.count)
    total = int(_get(found, "total_matches", "total", default=0))
    spans_matched = int(_get(found, "spans_matched", default=len(counts)))
    scope = "the whole dataset"
    if state["tr"]:
        scope = f"trace {state['tr']}" + (f" span {state['sp']}" if state["sp"] else "")
    more_exist = skip + len(matches) < total
    specs = in_source.source_specs(ds) if not state["tr"] and skip == 0 else []
    pushed = (
        await in_thread(
            in_source.search, specs, state["p"], ignore_case=state["i"], limit=limit, context_chars=state["cx"]
        )
        if specs
        else []
    )
    if in_source.copy_incomplete(ds) and in_source.source_specs(ds):
        notes.append(
            "the local copy is incomplete: counts and matches cover the copy; computed_in_source counts the whole table"
            if pushed
            else "the local copy is incomplete: counts and matches cover the copy only"
        )

    def build(n: int, chars: int) -> SearchResult:
        shown = matches[:n]
        has_more = n < len(matches) or more_exist
        resume = {**state, "k": skip + min(n, len(matches))}
        cursor = encode_cursor("search", resume) if has_more and not _timed_out(found) else None
        return SearchResult(
            pattern=state["p"],
            scope=scope,
            total_matches=total,
            spans_matched=spans_matched,
            traces_matched=_get(found, "traces_matched"),
            matches=[_shorten(m, chars) for m in shown],
            span_counts=counts[: min(SPAN_COUNTS_SHOWN, max(n, 1))],
            has_more=has_more,
            next_cursor=cursor,
            truncated_by_time=_timed_out(found),
            notes=notes,
            computed_in_source=[{**p, "matches": [_source_match(m, chars) for m in p["matches"][:n]]} for p in pushed],
        )

    most = max([len(matches), *(len(p["matches"]) for p in pushed)])
    return fit(build, items=most, chars=2 * state["cx"] + 200, limit=budget, min_items=0, min_chars=60)


def _timed_out(found: Any) -> bool:
    return bool(_get(found, "truncated_by_time", default=False))


def _source_match(hit: dict[str, Any], chars: int) -> dict[str, Any]:
    """An in-source hit with the fields of `Match`, shortened as a local match is."""
    m = Match(**{k: hit[k] for k in ("trace_id", "span_id", "name", "before", "match", "after")})
    return _shorten(m, chars).model_dump()


def _shorten(m: Match, chars: int) -> Match:
    """A match whose context and text fit `chars` in all (the match keeps priority)."""
    text = cut(m.match, max(chars // 2, 40), "narrow the pattern to see less per match")
    side = max(0, (chars - len(text)) // 2)
    return m.model_copy(update={"match": text, "before": m.before[-side:] if side else "", "after": m.after[:side]})


SPEC = register(
    ToolSpec(
        name="search",
        title="Regex search over raw span content",
        description=description("search"),
        args=SearchArgs,
        result=SearchResult,
        handler=search,
    )
)
