"""patterns: the analytics as a filtered, paged list with examples to open."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgumentError

pytestmark = pytest.mark.anyio


async def test_patterns_filter_by_kind_and_subject(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    loops = await tool("patterns", ctx, kinds=["repeated_action"])
    assert [p.kind for p in loops.result.patterns] == ["repeated_action"]
    assert loops.result.patterns[0].examples[0].trace_id == "000000000000000000000000a0000079"
    weather = await tool("patterns", ctx, subject="WEATHER")
    assert {p.kind for p in weather.result.patterns} == {"failed_action", "error_signature", "tool_errors"}


async def test_pages_by_cursor_cover_every_pattern_once(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    seen, cursor = [], None
    while True:
        page = await tool("patterns", ctx, limit=5, **({"cursor": cursor} if cursor else {}))
        seen += [(p.kind, p.title) for p in page.result.patterns]
        cursor = page.result.next_cursor
        if cursor is None:
            break
        assert f'patterns(cursor="{cursor}")' in page.text
    assert len(seen) == len(set(seen)) == page.result.total_patterns == 16


async def test_a_small_budget_shows_fewer_patterns_and_a_cursor_to_the_rest(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    page = await tool("patterns", ctx, budget_tokens=800)
    assert 0 < len(page.result.patterns) < 16
    assert page.result.next_cursor is not None


async def test_a_cursor_from_another_tool_is_refused(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    first = await tool("query", ctx, limit=1)
    with pytest.raises(InvalidArgumentError, match=r"was not issued by patterns"):
        await tool("patterns", ctx, cursor=first.result.next_cursor)


async def test_unknown_kind_is_a_validation_error_naming_the_kinds(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(InvalidArgumentError, match=r"kinds.0"):
        await tool("patterns", ctx, kinds=["bogus"])
