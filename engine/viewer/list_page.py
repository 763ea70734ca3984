"""The trace list: the dataset's charts, a filter form and one page of traces.

Filters are the store's `TraceFilter` fields a person types (errors only, tool,
model, span kind, span name, slowest first...), read from the query string by
`filter_from_query`; bad values come back as a message on the page, not an error.
Each row links to `traces/<id>` relative to the list, with the id URL-quoted.

When the server serves more than one dataset, the form leads with a chooser
(`dataset=N`, an index into the choices the caller names, never a path or URL,
so no credential of a source URL reaches a page), and every link keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from engine.errors import HaloError
from engine.traces.store import TraceFilter, query_traces
from engine.viewer.overview import charts_section
from engine.viewer.shell import esc, page

__all__ = ["list_page", "filter_from_query", "LIST_PAGE_SIZE", "FILTER_FIELDS"]

# Traces per page of the list (the next page is a link with the store's cursor).
LIST_PAGE_SIZE = 100
FILTER_FIELDS = ("tool", "model", "kind", "span_name", "agent", "service")
SORTS = ("start", "duration", "errors", "tokens", "spans")


def filter_from_query(query: Mapping[str, str]) -> tuple[TraceFilter, str, bool]:
    """The filter, sort and direction a query string asks for (raises ValueError with a message)."""
    fields: dict[str, Any] = {name: query[name] for name in FILTER_FIELDS if query.get(name)}
    if query.get("errors"):
        fields["has_errors"] = True
    if query.get("min_ms"):
        try:
            fields["min_duration_ms"] = float(query["min_ms"])
        except ValueError:
            raise ValueError(f"min_ms must be a number of milliseconds, got {query['min_ms']!r}") from None
    sort = query.get("sort") or "start"
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    try:
        return TraceFilter(**fields), sort, sort != "start"
    except ValidationError as err:
        raise ValueError(f"filter refused: {err.errors()[0].get('msg', err)}") from None


def _keep_dataset(query: Mapping[str, str]) -> str:
    """The query string that keeps the chosen dataset ("" for the default)."""
    chosen = query.get("dataset") or ""
    return "?" + urlencode({"dataset": chosen}) if chosen not in ("", "0") else ""


def _chooser(query: Mapping[str, str], datasets: Sequence[str]) -> str:
    if len(datasets) < 2:
        return ""
    chosen = query.get("dataset") or "0"
    options = "".join(
        f'<option value="{n}"{" selected" if str(n) == chosen else ""}>{esc(label)}</option>'
        for n, label in enumerate(datasets)
    )
    return f'<label>dataset <select name="dataset" class="datasets">{options}</select></label>'


def _form(query: Mapping[str, str], datasets: Sequence[str] = ()) -> str:
    inputs = [
        f'<label>{name.replace("_", " ")} <input name="{name}" value="{esc(query.get(name, ""))}" size="12"></label>'
        for name in FILTER_FIELDS
    ]
    checked = " checked" if query.get("errors") else ""
    options = "".join(
        f'<option value="{s}"{" selected" if query.get("sort", "start") == s else ""}>{s}</option>' for s in SORTS
    )
    return (
        '<form class="filters" method="get" action="">'
        + _chooser(query, datasets)
        + "".join(inputs)
        + f'<label><input type="checkbox" name="errors" value="1"{checked}> errors only</label>'
        + f'<label>min ms <input name="min_ms" value="{esc(query.get("min_ms", ""))}" size="6"></label>'
        + f'<label>sort <select name="sort">{options}</select></label>'
        + f'<button type="submit">Filter</button> <a href="{esc(_keep_dataset(query) or "?")}">clear</a></form>'
    )


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S") if ns else ""


def list_page(ds: Any, query: Mapping[str, str], title: str = "Traces", datasets: Sequence[str] = ()) -> str:
    """The trace list document for `query` (the page's query string as a mapping).

    `datasets`: labels of the datasets to choose from, the default first; `query["dataset"]`
    is the chosen one's index. With fewer than two there is no chooser.
    """
    body = [f'<header class="top"><h1>{esc(title)}</h1>']
    rows: list[str] = []
    try:
        f, sort, descending = filter_from_query(query)
        cursor = query.get("cursor") or None
        result = query_traces(ds, f, sort=sort, descending=descending, limit=LIST_PAGE_SIZE, cursor=cursor)
    except (ValueError, HaloError) as err:
        body.append(f'<p class="meta">{ds.n_traces:,} traces</p></header><main>{_form(query, datasets)}')
        body.append(f'<p class="label">{esc(err)}</p></main>')
        return page(title, "".join(body), {"view": "list", "traces": []})
    chosen = query.get("dataset") or "0"
    named = len(datasets) > 1 and chosen.isdigit() and int(chosen) < len(datasets)
    where = f" in {esc(datasets[int(chosen)])}" if named else ""
    body.append(f'<p class="meta">{result.total:,} of {ds.n_traces:,} traces match{where}</p></header><main>')
    body.append(charts_section(ds))
    body.append(_form(query, datasets))
    for t in result.items:
        href = "traces/" + quote(t.trace_id, safe="") + _keep_dataset(query)
        err_cls = ' class="err"' if t.error_count else ""
        rows.append(
            f"<tr{err_cls}><td><a href=\"{esc(href)}\">{esc(t.trace_id)}</a></td><td>{esc(t.root_name or '')}</td>"
            f"<td>{_when(t.start_ns)}</td><td class=\"num\">{t.duration_ms:,.0f}</td>"
            f"<td class=\"num\">{t.span_count:,}</td>"
            f"<td class=\"num\">{t.error_count:,}</td><td class=\"num\">{t.input_tokens + t.output_tokens:,}</td>"
            f"<td>{esc(', '.join(t.tools[:6]))}</td></tr>"
        )
    body.append(
        '<table class="list"><thead><tr><th>trace</th><th>root span</th><th>start (UTC)</th><th>ms</th><th>spans</th>'
        "<th>errors</th><th>tokens</th><th>tools</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    if result.next_cursor:
        keep = {k: v for k, v in query.items() if k != "cursor" and v}
        href = "?" + urlencode({**keep, "cursor": result.next_cursor})
        body.append(f'<p><a class="next" href="{esc(href)}">next page →</a></p>')
    body.append("</main>")
    return page(title, "".join(body), {"view": "list", "traces": []})
