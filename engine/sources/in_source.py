"""The `query`, `search` and `patterns` tools' whole-table figures for ClickHouse / chDB sources.

A ClickHouse dataset is answered from a local copy that one fetch fills with at
most `clickhouse.FETCH_MAX_SPANS` spans; past that the copy is incomplete and
its answers cover part of the table. These functions compute the same question
as SQL in the engine (`pushdown`, `rollups`) so the tools can carry the whole
table's answer next to the copy's, as `computed_in_source`, one entry per source.

What has no SQL equivalent is never approximated: a `query` filter on model,
agent, span kind or tokens gets no in-source figure at all (`unpushed` names
them; the tool says so when the copy is incomplete), and a sort on tokens, cost
or call counts gets the in-source total without a page. `search` is pushed down
for the whole dataset only (a trace or span search reads the copy), and its
in-source text is a span's name, status message and attribute values rather
than its raw JSON (see `pushdown.search_spans`).
"""

from __future__ import annotations

from typing import Any

from engine.sources import pushdown, rollups
from engine.sources.base import SourceURL

__all__ = [
    "IN_SOURCE_PATTERNS_TOP", "PUSHED_FILTERS", "ROLLUP_OF_KIND", "copy_incomplete", "patterns", "query", "search",
    "source_specs", "unpushed",
]  # fmt: skip

SCHEMES = ("clickhouse", "chdb")
# The `query` filters `pushdown.query_traces` computes in SQL; the others (model, agent, kind, tokens) it cannot.
PUSHED_FILTERS = frozenset(
    {"has_errors", "service", "span_name", "tool", "min_duration_ms", "max_duration_ms", "start_after",
     "start_before", "trace_ids", "pattern", "ignore_case"}
)  # fmt: skip
# Entries of each rollup list `patterns` carries per source (from the PUSHDOWN_TOP the engine returns).
IN_SOURCE_PATTERNS_TOP = 10
# Which rollup answers which analytics pattern kind.
ROLLUP_OF_KIND = {"error_signature": "error_signatures", "tool_errors": "tool_rates", "repeated_action": "loops"}


def source_specs(ds: Any) -> list[str]:
    """The dataset's ClickHouse / chDB source URLs (empty for files and other sources)."""
    return [s for s in getattr(ds, "source_specs", []) if s.split("://", 1)[0].lower() in SCHEMES]


def copy_incomplete(ds: Any) -> bool:
    """Whether a fetch stopped at its limit, so the local copy holds part of a source."""
    return any(not f.complete for f in getattr(ds, "sources", []))


def unpushed(spec: dict[str, Any]) -> list[str]:
    """The set `query` filters that have no SQL equivalent."""
    return sorted(k for k in spec if k not in PUSHED_FILTERS)


def query(
    specs: list[str],
    filters: dict[str, Any],
    *,
    sort: str,
    descending: bool,
    limit: int,
    after: list[list[Any] | None] | None,
    count_only: bool = False,
) -> list[dict[str, Any]]:
    """Per source: the matching-trace total and up to `limit` + 1 rows after each source's keyset.

    `filters` are `query_traces` arguments (times in epoch ns). `after[i]` is
    source i's keyset: [] the first page, [value, trace id] after that row, None
    a source already listed to its end (its page is then empty). The extra row
    tells the caller whether a source has more. A sort SQL lacks, or
    `count_only`, gives no rows. Ties are ordered by trace id here, by index
    order in the copy, so pages of a sort with many ties (errors, spans) may differ.
    """
    out = []
    for i, spec in enumerate(specs):
        url = SourceURL.parse(spec)
        key = after[i] if after is not None and i < len(after) else []
        listable = sort in pushdown.SORTS and key is not None and not count_only
        total, rows = pushdown.query_traces(
            url, **filters, sort=sort if listable else "start", descending=descending,
            limit=limit + 1 if listable else 1, after=(int(key[0]), str(key[1])) if key else None,
        )  # fmt: skip
        out.append({"source": url.display, "total": total, "traces": rows if listable else []})
    return out


def search(
    specs: list[str], pattern: str, *, ignore_case: bool, limit: int, context_chars: int
) -> list[dict[str, Any]]:
    """Per source: spans matching `pattern` in the whole table and the first `limit` of them."""
    out = []
    for spec in specs:
        url = SourceURL.parse(spec)
        total, hits = pushdown.search_spans(
            url,
            pattern,
            ignore_case=ignore_case,
            limit=min(limit, pushdown.SEARCH_MAX_MATCHES),
            context_chars=min(context_chars, pushdown.SNIPPET_CHARS),
        )
        out.append({"source": url.display, "spans_matched": total, "matches": hits})
    return out


def patterns(specs: list[str], *, kinds: list[str] | None, subject: str | None) -> list[dict[str, Any]]:
    """Per source: the whole table's error signatures, per-tool error rates and loops (the rollups of `kinds`).

    `subject` keeps entries whose tool or signature holds it (case-insensitive),
    out of the PUSHDOWN_TOP each rollup returns; each list keeps
    IN_SOURCE_PATTERNS_TOP entries and says how many matched.
    """
    wanted = [r for k, r in ROLLUP_OF_KIND.items() if not kinds or k in kinds]
    if not wanted:
        return []
    needle = (subject or "").lower()
    out = []
    for spec in specs:
        url = SourceURL.parse(spec)
        entry: dict[str, Any] = {"source": url.display}
        for name in wanted:
            rows: list[dict[str, Any]] = getattr(rollups, name)(url)
            rows = [r for r in rows if needle in str(r.get("tool", r.get("signature", ""))).lower()]
            entry[name] = rows[:IN_SOURCE_PATTERNS_TOP]
            entry[f"{name}_total"] = len(rows)
        out.append(entry)
    return out
