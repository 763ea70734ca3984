"""Error signatures, per-tool rates, loops and bounded rows computed in ClickHouse (chDB) equal the local answers."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.otel_clickhouse import chdb_and_file, exporter_rows

from engine.errors import InvalidArgumentError
from engine.sources import rollups
from engine.sources.base import SourceURL
from engine.sources.bounded_sql import select_rows
from engine.sources.otel_traces import quote
from engine.traces.analytics import analyze
from engine.traces.dataset import Dataset
from engine.traces.failure_text import message_template

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[SourceURL, Path]:
    tmp = tmp_path_factory.mktemp("rollups")
    rows = exporter_rows([FIXTURES / "realistic_traces.jsonl", FIXTURES / "medium_traces.jsonl"])
    # An agent stuck in a loop: one tool call repeated three more times right after itself.
    call = next(r for r in rows if r["SpanAttributes"].get("tool.name") and r["SpanAttributes"].get("input.value"))
    rows += [{**call, "SpanId": f"{call['SpanId'][:-2]}f{k}", "Timestamp": call["Timestamp"] + k} for k in (1, 2, 3)]
    url, file = chdb_and_file(tmp, rows)
    return SourceURL.parse(url), file


def test_per_tool_rates_in_clickhouse_equal_the_local_analytics(both) -> None:
    url, file = both
    pushed = rollups.tool_rates(url)
    with Dataset.open([file]) as ds:
        local = analyze(ds).tools
    assert {(t["tool"], t["calls"], t["errors"], t["traces"]) for t in pushed} == {
        (t.tool, t.calls, t.errors, t.traces) for t in local
    }
    assert all(t["error_rate"] == t["errors"] / t["calls"] for t in pushed) and any(t["errors"] for t in pushed)


def test_error_signatures_mask_messages_as_the_local_template_does(both) -> None:
    url, _ = both
    pushed = rollups.error_signatures(url, top=1000)
    raw, truncated = _rows(
        url,
        "SELECT if(SpanAttributes['exception.message'] != '', SpanAttributes['exception.message'], StatusMessage) "
        "FROM otel.otel_traces WHERE toString(StatusCode) IN ('STATUS_CODE_ERROR', 'Error') "
        "OR SpanAttributes['exception.type'] != '' OR SpanAttributes['exception.message'] != '' "
        "OR has(`Events.Name`, 'exception')",
    )
    assert not truncated and raw
    counts: dict[str, int] = {}
    for [message] in raw:
        counts[message_template(message)] = counts.get(message_template(message), 0) + 1
    assert {s["signature"]: s["spans"] for s in pushed} == counts


def test_loops_found_by_window_functions_are_the_runs_of_repeated_calls(both) -> None:
    url, _ = both
    calls, _ = _rows(
        url,
        "SELECT TraceId, if(SpanAttributes['tool.name'] != '', SpanAttributes['tool.name'], "
        "SpanAttributes['gen_ai.tool.name']) AS tool, multiIf(SpanAttributes['gen_ai.tool.call.arguments'] != '', "
        "SpanAttributes['gen_ai.tool.call.arguments'], SpanAttributes['gen_ai.tool.args'] != '', "
        "SpanAttributes['gen_ai.tool.args'], SpanAttributes['input.value']) FROM otel.otel_traces "
        "WHERE tool != '' ORDER BY TraceId, Timestamp, SpanId",
    )
    expected = set()
    for _, trace_calls in groupby(calls, key=lambda r: r[0]):
        for key, run in groupby(trace_calls, key=lambda r: (r[0], r[1], r[2])):
            n = len(list(run))
            if n >= 2:
                expected.add((key[0], key[1], n))
    pushed = rollups.loops(url, min_repeats=2, top=10_000)
    assert max(n for *_, n in expected) >= 4
    assert {(r["trace_id"], r["tool"], r["repeats"]) for r in pushed} == expected


MESSAGES = [
    "Timeout after 30s calling https://api.example.com/v1/x?q=1 (req 42)",
    "file '/tmp/a b.txt' not found at /var/lib/data/x.json",
    "user bob@example.com hit rate limit 429; retry in 12 s",
    'KeyError: "user_id" in row 0x7ffe, run 550e8400-e29b-41d4-a716-446655440000',
    "  spaced \t out\n message  ",
    "",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_the_sql_template_masks_a_message_as_message_template(both, message: str) -> None:
    url, _ = both
    [[got]], _ = _rows(url, f"SELECT {rollups.template_sql(quote(message))}")
    assert got == message_template(message)


def test_a_bounded_sql_query_says_when_it_was_cut(both) -> None:
    url, _ = both
    rows, truncated = _rows(url, "SELECT SpanId FROM otel.otel_traces", limit=5)
    assert len(rows) == 5 and truncated
    rows, truncated = _rows(url, "SELECT count() FROM otel.otel_traces;")
    assert rows == [[2061]] and not truncated
    with pytest.raises(InvalidArgumentError, match="must be one SELECT"):
        _rows(url, "DROP TABLE otel.otel_traces")


def _rows(url, statement: str, limit: int = 10_000) -> tuple[list[list[object]], bool]:
    answer = select_rows(url, statement, limit=limit)
    return answer.rows, answer.truncated
