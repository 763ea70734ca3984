"""The query, search and patterns tools on a chDB dataset carry the whole table's answer computed in ClickHouse.

Each tool is called through the registry on the `chdb://` dataset and on a file
of the same spans; the `computed_in_source` figures must equal the file's local
answer. When one fetch copies only part of the table the answer says so, and the
in-source figures still count the whole table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.contexts import opening_context, without_keys
from support.otel_clickhouse import chdb_and_file, exporter_rows

import engine.tools  # noqa: F401  (registers the tools)
from engine.sources import clickhouse, local
from engine.tools.registry import call_tool

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"
ROW = ("trace_id", "start", "duration_ms", "spans", "errors")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    """The HALO realistic and medium sample traces (2,058 spans, 503 traces) as the exporter writes them."""
    return exporter_rows([FIXTURES / "realistic_traces.jsonl", FIXTURES / "medium_traces.jsonl"])


@pytest.fixture
def both(rows: list[dict[str, Any]], tmp_path: Path) -> tuple[str, str]:
    url, file = chdb_and_file(tmp_path, rows)
    return url, str(file)


async def answers(spec: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The results of `calls` on one dataset; cursor="next" stands for the previous answer's next_cursor."""
    ctx, out = opening_context(spec), list[Any]()
    for name, args in calls:
        if args.get("cursor") == "next":
            args = {**args, "cursor": out[-1].next_cursor}
        out.append((await call_tool(name, ctx, args)).result)
    return out


def local_rows(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(getattr(t, k) for k in ROW) for t in result.traces]


def pushed_rows(result: Any) -> list[tuple[Any, ...]]:
    [entry] = result.computed_in_source
    return [tuple(r[k] for k in ROW) for r in entry["traces"]]


QUERIES = [
    {"has_errors": True},
    {"tool": "list_files"},
    {"pattern": "rate.?limit", "ignore_case": True},
    {"sort": "duration", "descending": True},
    {"has_errors": True, "sort": "duration", "descending": True, "limit": 7},
]


async def test_query_in_clickhouse_lists_what_the_local_query_lists(both) -> None:
    url, file = both
    calls = [("query", q) for q in QUERIES] + [("query", {"cursor": "next"})]
    on_source, on_file = await answers(url, calls), await answers(file, calls)
    for args, pushed, want in zip([*QUERIES, "second page"], on_source, on_file, strict=True):
        [entry] = pushed.computed_in_source
        assert entry["total"] == want.total == pushed.total > 0, args
        assert pushed_rows(pushed) == local_rows(want) == local_rows(pushed) and want.traces, args
        assert not pushed.notes, args  # the copy is whole: nothing to warn of
    first, second = ({t.trace_id for t in r.traces} for r in on_file[-2:])
    assert len(first) == 7 and second and not first & second  # the cursor moved on (a page of the default limit)


async def test_a_filter_or_sort_without_sql_gets_no_in_source_page(both) -> None:
    url, _ = both
    [by_model, by_cost, counted] = await answers(
        url, [("query", {"model": "gpt-4o"}), ("query", {"sort": "cost"}), ("query", {"count_only": True})]
    )
    assert by_model.computed_in_source == []
    assert [(e["total"], e["traces"]) for e in by_cost.computed_in_source] == [(503, [])]
    assert any("sort=cost has no SQL equivalent" in n for n in by_cost.notes)
    assert [(e["total"], e["traces"]) for e in counted.computed_in_source] == [(503, [])]


@pytest.mark.parametrize(("pattern", "ignore_case"), [("rate limited", False), ("BOOM", True)])
async def test_search_in_clickhouse_finds_the_spans_the_local_search_finds(both, pattern, ignore_case) -> None:
    url, file = both
    call = [("search", {"pattern": pattern, "ignore_case": ignore_case})]
    [pushed], [want] = await answers(url, call), await answers(file, call)
    [entry] = pushed.computed_in_source
    assert entry["spans_matched"] == want.spans_matched == pushed.spans_matched > 0
    first_spans = list(dict.fromkeys((m.trace_id, m.span_id) for m in want.matches))
    assert [(m["trace_id"], m["span_id"]) for m in entry["matches"]] == first_spans[: len(entry["matches"])]
    assert len(entry["matches"]) == min(20, entry["spans_matched"])
    assert all(m["match"].lower() == pattern.lower() for m in entry["matches"])


async def test_patterns_in_clickhouse_measure_what_the_local_patterns_measure(both) -> None:
    url, file = both
    call = [("patterns", {"limit": 100})]
    [pushed], [want] = await answers(url, call), await answers(file, call)
    [entry] = pushed.computed_in_source
    tool_errors = {p.subject: p.spans_affected for p in want.patterns if p.kind == "tool_errors"}
    assert tool_errors and {t["tool"]: t["errors"] for t in entry["tool_rates"] if t["errors"]} == tool_errors
    families = [p for p in want.patterns if p.kind == "error_signature"]
    assert entry["error_signatures_total"] == len(families) > 0
    for s in entry["error_signatures"]:  # the same families, affecting the same traces
        [family] = [p for p in families if s["signature"].lower() in p.title.lower()]
        assert family.traces_affected == s["traces"]
    # The one local repeat is a call sent twice: under LOOP_MIN_REPEATS, so no loop in the engine either.
    assert entry["loops"] == [] and [p.kind for p in want.patterns].count("repeated_action") == 1
    [only_tools] = await answers(url, [("patterns", {"kinds": ["tool_errors"], "subject": "LIST"})])
    [narrowed] = only_tools.computed_in_source
    assert set(narrowed) == {"source", "tool_rates", "tool_rates_total"}
    assert [t["tool"] for t in narrowed["tool_rates"]] == ["list_files"]
    [one] = await answers(url, [("patterns", {"limit": 1})])  # the in-source lists follow the page size
    assert [len(one.computed_in_source[0][k]) for k in ("error_signatures", "tool_rates")] == [1, 1]
    assert one.computed_in_source[0]["error_signatures_total"] == 3


async def test_an_incomplete_copy_says_so_and_the_in_source_figures_count_the_whole_table(
    both, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, file = both
    monkeypatch.setattr(clickhouse, "FETCH_MAX_SPANS", 500)
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("query", {"has_errors": True, "sort": "duration", "descending": True}),
        ("query", {"model": "gpt-4o"}),
        ("search", {"pattern": "rate limited"}),
        ("patterns", {}),
    ]
    query, by_model, search, patterns = await answers(url, calls)
    whole_query, _, whole_search, whole_patterns = await answers(file, calls)
    assert query.total < whole_query.total == query.computed_in_source[0]["total"]
    assert pushed_rows(query) == local_rows(whole_query)
    assert any("incomplete" in n and "computed_in_source counts the whole table" in n for n in query.notes)
    assert by_model.computed_in_source == [] and any("incomplete" in n and "model" in n for n in by_model.notes)
    assert search.spans_matched < whole_search.spans_matched == search.computed_in_source[0]["spans_matched"]
    assert any("incomplete" in n for n in search.notes)
    assert patterns.total_traces < whole_patterns.total_traces
    assert any("incomplete" in n and "whole table" in n for n in patterns.notes)
    [rates] = patterns.computed_in_source
    assert {t["tool"]: t["errors"] for t in rates["tool_rates"] if t["errors"]} == {
        p.subject: p.spans_affected for p in whole_patterns.patterns if p.kind == "tool_errors"
    }


async def test_the_cursor_pages_the_whole_table_past_the_end_of_an_incomplete_copy(
    both, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, file = both
    monkeypatch.setattr(clickhouse, "FETCH_MAX_SPANS", 500)
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    args: dict[str, Any] = {"has_errors": True, "sort": "duration", "descending": True, "limit": 30}
    ctx, pushed, copied = opening_context(url), list[tuple[Any, ...]](), list[str]()
    for _ in range(10):  # 123 error traces at 30 a page: five pages
        result = (await call_tool("query", ctx, args)).result
        pushed += pushed_rows(result)
        copied += [t.trace_id for t in result.traces]
        if not result.next_cursor:
            break
        args = {"cursor": result.next_cursor, "limit": 30}
    whole = await answers(
        file,
        [("query", {"has_errors": True, "sort": "duration", "descending": True, "limit": 100}),
         ("query", {"cursor": "next", "limit": 100})],
    )  # fmt: skip
    assert pushed == local_rows(whole[0]) + local_rows(whole[1]) and len(pushed) == whole[0].total == 123
    assert len(copied) == len(set(copied)) < 123  # the copy ran out first; the cursor went on in ClickHouse


_ORIGIN = ("dataset", "sources", "freshness", "files")




async def test_view_trace_view_spans_and_run_code_answer_on_chdb_as_on_the_file(both) -> None:
    """The tools with nothing to push down answer from the copy: the same as on the file."""
    from sandbox import run_code

    url, file = both
    code = (
        "(len(spans), int(traces.error_count.sum()),"
        " spans.groupby('tool_name').size().sort_values().tail(3).to_dict(), round(float(spans.duration_ms.sum()), 3))"
    )
    values = []
    for spec in (url, file):
        ctx = opening_context(spec)
        ctx.run_code = run_code
        [first] = (await call_tool("query", ctx, {"limit": 1, "has_errors": True})).result.traces
        trace = await call_tool("view_trace", ctx, {"trace_id": first.trace_id})
        span_ids = [s["span_id"] for s in trace.structured()["spans"][:2]]
        spans = await call_tool("view_spans", ctx, {"trace_id": first.trace_id, "span_ids": span_ids})
        ran = (await call_tool("run_code", ctx, {"code": code})).result
        assert ran.ok, ran.error
        values.append((without_keys(trace.structured(), _ORIGIN), without_keys(spans.structured(), _ORIGIN), ran.value))
    assert values[0] == values[1]
