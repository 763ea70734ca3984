"""search: exact counts, bounded matches with context, scopes, and bad patterns explained."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.errors import InvalidArgumentError, InvalidPatternError, UnknownIdError
from engine.traces.user_regex import BacktrackingPatternError, compile_pattern, needs_backtracking

pytestmark = pytest.mark.anyio
LOOP_TRACE = "000000000000000000000000a0000079"


async def test_counts_are_exact_and_matches_carry_context(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("search", ctx, pattern="refund policy", limit=2, context_chars=20)
    text = (fixture_dir / "analytics" / "patterns.jsonl").read_text()
    r = answer.result
    assert r.total_matches == text.count("refund policy")
    assert len(r.matches) == 2 and r.has_more and r.next_cursor
    assert all(m.match == "refund policy" and len(m.before) <= 20 for m in r.matches)
    assert "«refund policy»" in answer.text


async def test_cursor_pages_through_every_match_once(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    page = await tool("search", ctx, pattern="search_docs", limit=7)
    seen = []
    while True:
        seen += [(m.trace_id, m.span_id, m.before) for m in page.result.matches]
        if not page.result.next_cursor:
            break
        page = await tool("search", ctx, cursor=page.result.next_cursor, limit=7)
    assert len(seen) == page.result.total_matches


async def test_search_within_one_trace_and_one_span(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    in_trace = await tool("search", ctx, pattern="refund policy", trace_id=LOOP_TRACE)
    assert {m.trace_id for m in in_trace.result.matches} == {LOOP_TRACE}
    span = in_trace.result.matches[0].span_id
    in_span = await tool("search", ctx, pattern="refund policy", trace_id=LOOP_TRACE, span_id=span)
    assert {m.span_id for m in in_span.result.matches} == {span}
    assert in_span.result.total_matches < in_trace.result.total_matches


async def test_unknown_trace_id_names_it_and_the_lookup_calls(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(UnknownIdError, match=r"'nope'.*query"):
        await tool("search", ctx, pattern="x", trace_id="nope")


async def test_span_id_without_trace_id_is_explained(context_for, tool, fixture_dir) -> None:
    with pytest.raises(InvalidArgumentError, match=r"span_id needs trace_id"):
        await tool("search", context_for(fixture_dir / "analytics" / "patterns.jsonl"), pattern="x", span_id="s")


async def test_invalid_regex_is_explained_with_its_position(context_for, tool, fixture_dir) -> None:
    with pytest.raises(InvalidPatternError, match=r"invalid regular expression.*position"):
        await tool("search", context_for(fixture_dir / "analytics" / "patterns.jsonl"), pattern="(unclosed")


async def test_limits_out_of_range_are_clamped_and_said(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("search", ctx, pattern="refund", limit=10_000, context_chars=-5)
    assert "limit=10000 is above the maximum; used 100" in answer.result.notes
    assert "context_chars=-5 is below the minimum; used 0" in answer.result.notes


@pytest.mark.parametrize(("pattern", "backtracks"), [("(a+)+$", False), ("(x|xy)*z", False), (".*.*=", False),
                                                     ("(.|..){0,100}#", False), ("rate.?limit", False),
                                                     ("(?<=a)b", True), (r"(a)\1", True), (r"end\Z", True)])
def test_only_lookaround_and_backreferences_need_a_backtracking_engine(pattern: str, backtracks: bool) -> None:
    assert needs_backtracking(pattern) is backtracks


def test_a_backtracking_pattern_is_refused_in_process_with_a_reason() -> None:
    with pytest.raises(BacktrackingPatternError, match=r"needs a backtracking regex engine.*Lookaround"):
        compile_pattern("(?<=a)b")


async def test_a_catastrophic_regex_is_stopped_at_the_time_limit(context_for, tool, tmp_path: Path) -> None:
    span = {
        "trace_id": "t1", "span_id": "s1", "parent_span_id": "", "name": "tool", "kind": "SPAN_KIND_INTERNAL",
        "start_time": "2026-01-01T00:00:00.000000000Z", "end_time": "2026-01-01T00:00:01.000000000Z",
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {"output.value": "a" * 60 + "!"},
    }  # fmt: skip
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(span) + "\n")
    ctx = context_for(path, search_timeout_s=1.0)
    linear = await tool("search", ctx, pattern="(a+)+$")  # RE2: no backtracking, answered at once
    assert linear.result.total_matches == 0
    started = time.monotonic()
    with pytest.raises(InvalidPatternError, match=r"ran past its time limit"):
        await tool("search", ctx, pattern="(a+)+(?=b)")  # a lookahead: run in the killable child
    assert time.monotonic() - started < 30
    answer = await tool("search", ctx, pattern="a+!")  # the tool still works afterwards
    assert answer.result.total_matches == 1


async def test_a_backtracking_pattern_that_finishes_gives_the_same_answer_from_its_child(
    context_for, tool, fixture_dir
) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    assert needs_backtracking("(?<=refund )policy")
    child = await tool("search", ctx, pattern="(?<=refund )policy", limit=3)
    plain = await tool("search", ctx, pattern="refund policy", limit=3)
    assert child.result.total_matches == plain.result.total_matches > 0
    assert [m.span_id for m in child.result.matches] == [m.span_id for m in plain.result.matches]


async def test_a_query_pattern_is_guarded_too(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("query", ctx, pattern="(?:Order )+(?:8812)+", count_only=True)
    assert answer.result.total == 1
