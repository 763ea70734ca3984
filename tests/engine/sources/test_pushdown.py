"""Overview counts and a filtered trace query computed as SQL in ClickHouse (chDB) equal the local index's."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.otel_clickhouse import chdb_and_file, exporter_rows

from engine.errors import InvalidArgumentError
from engine.sources import pushdown
from engine.sources.base import SourceURL
from engine.traces import store
from engine.traces.analytics import analyze
from engine.traces.dataset import Dataset
from engine.traces.store import grep as store_search

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[SourceURL, Path]:
    """The HALO realistic and medium sample traces (2,058 spans, 503 traces), in chDB and as a file."""
    rows = exporter_rows([FIXTURES / "realistic_traces.jsonl", FIXTURES / "medium_traces.jsonl"])
    url, file = chdb_and_file(tmp_path_factory.mktemp("pushdown"), rows)
    return SourceURL.parse(url), file


def test_the_overview_computed_in_clickhouse_equals_the_local_one(both) -> None:
    url, file = both
    pushed = pushdown.overview(url)
    with Dataset.open([file]) as ds:
        ov = store.overview(ds)
        tools = analyze(ds).tools
    assert (pushed.spans, pushed.traces) == (ov.spans, ov.traces) == (2058, 503)
    assert (pushed.error_spans, pushed.error_traces) == (ov.error_spans, ov.error_traces)
    assert (pushed.start_ns, pushed.end_ns) == (ov.start_ns, ov.end_ns)
    assert pushed.trace_duration_ms == ov.trace_duration_ms
    assert [(s["name"], s["spans"], s["traces"]) for s in pushed.services] == [
        (s.name, s.spans, s.traces) for s in ov.services
    ]
    assert {(t["tool"], t["calls"], t["errors"], t["traces"]) for t in pushed.tools} == {
        (t.tool, t.calls, t.errors, t.traces) for t in tools
    }
    assert pushed.error_traces > 0


@pytest.mark.parametrize(
    ("pushed_args", "local_filter"),
    [
        ({"has_errors": True}, {"has_errors": True}),
        ({"has_errors": False}, {"has_errors": False}),
        ({"tool": "list_files"}, {"tool": "list_files"}),
        ({"min_duration_ms": 5000.0}, {"min_duration_ms": 5000.0}),
        (
            {"span_name": "function.list_files", "has_errors": True},
            {"span_name": "function.list_files", "has_errors": True},
        ),
    ],
)
@pytest.mark.parametrize(("sort", "descending"), [("start", False), ("duration", True), ("errors", True)])
def test_a_filtered_query_in_clickhouse_lists_the_local_traces(
    both, pushed_args, local_filter, sort, descending
) -> None:
    url, file = both
    total, rows = pushdown.query_traces(url, sort=sort, descending=descending, limit=10, **pushed_args)
    with Dataset.open([file]) as ds:
        page = store.query_traces(ds, store.TraceFilter(**local_filter), sort=sort, descending=descending, limit=500)
    assert total == page.total and total > 0
    local = [(s.trace_id, s.span_count, s.error_count) for s in page.items]
    got = [(r["trace_id"], r["spans"], r["errors"]) for r in rows]
    assert set(got) <= set(local) and len(got) == min(10, total)
    keys = {"start": lambda r: r["start_ns"], "duration": lambda r: r["duration_ms"], "errors": lambda r: r["errors"]}
    values = [keys[sort](r) for r in rows]
    assert values == sorted(values, reverse=descending)


def test_a_regex_search_runs_as_match_in_clickhouse(both) -> None:
    url, file = both
    total, rows = pushdown.query_traces(url, pattern="(?i)rate.?limit", limit=500)
    with Dataset.open([file]) as ds:
        page = store.query_traces(ds, store.TraceFilter(pattern="rate.?limit", ignore_case=True), limit=500)
    assert total > 0 and {r["trace_id"] for r in rows} == {s.trace_id for s in page.items}


def test_pushdown_refuses_what_it_cannot_sort_or_page(both) -> None:
    url, _ = both
    with pytest.raises(InvalidArgumentError, match="sort must be one of"):
        pushdown.query_traces(url, sort="cost")
    with pytest.raises(InvalidArgumentError, match="limit must be"):
        pushdown.query_traces(url, limit=10_000)


@pytest.mark.parametrize(
    "args",
    [
        {"max_duration_ms": 2000.0},
        {"pattern": "RATE.?LIMIT", "ignore_case": True},
        {"has_errors": True, "min_duration_ms": 100.0, "max_duration_ms": 60_000.0},
    ],
)
def test_the_rest_of_the_filter_and_a_keyset_cursor_list_the_local_traces_in_order(both, args) -> None:
    url, file = both
    with Dataset.open([file]) as ds:
        everything = store.query_traces(ds, store.TraceFilter(), sort="start", limit=500).items
        window = {"start_after": everything[50].start_ns, "start_before": everything[400].start_ns}
        ids = [s.trace_id for s in everything[::3]]
        local = store.query_traces(
            ds, store.TraceFilter(**args, **window, trace_ids=ids), sort="duration", descending=True, limit=500
        )
    want = [(s.trace_id, s.span_count, s.error_count) for s in local.items]
    got, after = [], None
    while True:
        total, rows = pushdown.query_traces(
            url, **args, **window, trace_ids=ids, sort="duration", descending=True, limit=7, after=after
        )
        got += [(r["trace_id"], r["spans"], r["errors"]) for r in rows]
        if len(rows) < 7:
            break
        after = rows[-1]["key"]
    assert total == local.total > 0
    assert sorted(got) == sorted(want) and len(got) == len(set(got))


@pytest.mark.parametrize(("pattern", "ignore_case"), [("rate limited", False), ("BOOM", True)])
def test_a_span_search_by_match_finds_the_local_spans_with_a_snippet(both, pattern, ignore_case) -> None:
    url, file = both
    total, rows = pushdown.search_spans(url, pattern, ignore_case=ignore_case, limit=200)
    with Dataset.open([file]) as ds:
        local = store_search.search(ds, pattern, ignore_case=ignore_case, limit=500)
    assert total == local.spans_matched > 0
    assert {(r["trace_id"], r["span_id"]) for r in rows} <= {(m.trace_id, m.span_id) for m in local.matches}
    assert all(r["match"].lower() == pattern.lower() and r["before"] + r["match"] for r in rows)
    with pytest.raises(InvalidArgumentError, match="limit must be"):
        pushdown.search_spans(url, "x", limit=0)
