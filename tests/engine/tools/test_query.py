"""query: filtered, sorted trace summaries, paged by cursor, or just a count."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgumentError

pytestmark = pytest.mark.anyio


async def test_filters_combine_and_total_is_exact(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "halo" / "medium_traces.jsonl")
    errors = await tool("query", ctx, has_errors=True, count_only=True)
    anthropic = await tool("query", ctx, has_errors=True, model="claude-3-5-sonnet", count_only=True)
    everything = await tool("query", ctx, count_only=True)
    assert everything.result.total == 500
    assert 0 < errors.result.total < 500
    assert anthropic.result.total <= errors.result.total
    assert errors.result.traces == []
    assert errors.text.startswith(f"{errors.result.total} traces match (has_errors=True)")


async def test_sort_by_duration_descending_puts_the_slowest_first(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("query", ctx, sort="duration", descending=True, limit=3)
    durations = [t.duration_ms for t in answer.result.traces]
    assert durations == sorted(durations, reverse=True)
    assert answer.result.traces[0].trace_id == "000000000000000000000000a00000ab"  # the 47 s run


async def test_cursor_pages_cover_every_trace_once_even_when_the_budget_cuts_pages(
    context_for, tool, fixture_dir
) -> None:
    ctx = context_for(fixture_dir / "halo" / "medium_traces.jsonl")
    seen: list[str] = []
    page = await tool("query", ctx, limit=100, has_errors=True, sort="tokens", budget_tokens=1500)
    total = page.result.total
    while True:
        assert len(page.result.traces) < 100  # the budget, not the limit, cut the page
        seen += [t.trace_id for t in page.result.traces]
        if page.result.next_cursor is None:
            break
        page = await tool("query", ctx, cursor=page.result.next_cursor, limit=100, budget_tokens=1500)
    assert len(seen) == len(set(seen)) == total


async def test_pattern_filter_keeps_traces_with_a_matching_span(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("query", ctx, pattern="Order 8812")
    assert [t.trace_id for t in answer.result.traces] == ["000000000000000000000000a000006f"]


async def test_limit_out_of_range_is_clamped_and_said(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("query", ctx, limit=0)
    assert len(answer.result.traces) == 1
    assert "limit=0 is below the minimum; used 1" in answer.text


async def test_a_time_that_is_not_iso_is_explained(context_for, tool, fixture_dir) -> None:
    with pytest.raises(InvalidArgumentError, match="not an ISO-8601 time"):
        await tool("query", context_for(fixture_dir / "analytics" / "patterns.jsonl"), start_after="yesterday")


async def test_start_after_filters_by_time(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("query", ctx, start_after="2026-06-01T00:00:00Z", count_only=True)
    assert 0 < answer.result.total < 25
