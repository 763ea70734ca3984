"""view_trace: the whole tree when it fits; a skeleton, a plan and a cursor when it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import UnknownIdError

pytestmark = pytest.mark.anyio
LOOP_TRACE = "000000000000000000000000a0000079"


def _big_trace(path: Path, spans: int) -> Path:
    """One agent run with `spans` tool calls, each returning 2 KB, and one failing call."""
    lines = []
    for i in range(spans + 1):
        parent = "" if i == 0 else ("s0000" if i % 50 == 1 else f"s{(i // 50) * 50 + 1:04d}")
        failing = i == spans // 2
        lines.append(json.dumps({
            "trace_id": "big", "span_id": f"s{i:04d}", "parent_span_id": parent, "name": "agent" if i == 0 else "fetch",
            "kind": "SPAN_KIND_INTERNAL",
            "start_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000000000Z",
            "end_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.500000000Z",
            "status": {"code": "STATUS_CODE_ERROR" if failing else "STATUS_CODE_OK",
                       "message": "boom" if failing else ""},
            "attributes": {"openinference.span.kind": "AGENT" if i == 0 else "TOOL", "tool.name": "fetch",
                           "input.value": json.dumps({"url": f"https://example.com/{i}"}), "output.value": "x" * 2000},
        }))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_trace_that_fits_is_shown_in_full_with_previews(context_for, tool, fixture_dir) -> None:
    answer = await tool("view_trace", context_for(fixture_dir / "analytics" / "patterns.jsonl"), trace_id=LOOP_TRACE)
    r = answer.result
    assert r.mode == "full" and r.span_count == len(r.spans) == 10
    assert [s.depth for s in r.spans] == [0] + [1] * 9
    tool_spans = [s for s in r.spans if s.kind == "tool"]
    assert tool_spans[0].input == '{"query": "refund policy"}'
    # LLM input is shown as its last message, not the JSON blob
    assert r.spans[1].input == "(2 messages) user: What is the refund policy?"
    assert "search_docs" in r.spans[1].output


async def test_a_trace_too_big_is_a_skeleton_with_a_plan(context_for, tool, tmp_path: Path) -> None:
    ctx = context_for(_big_trace(tmp_path / "big.jsonl", 300))
    answer = await tool("view_trace", ctx, trace_id="big")
    r = answer.result
    assert r.mode == "skeleton"
    assert all(s.input is None and s.output is None for s in r.spans)
    assert r.spans[0].raw_size and r.span_count == 301
    assert any('view_spans(trace_id="big", span_ids=["s0150"])' in p for p in r.plan)  # the failing span
    assert any("root_span_id=" in p for p in r.plan)
    assert "skeleton" in answer.text and "next:" in answer.text


async def test_a_skeleton_longer_than_one_answer_pages_by_cursor(context_for, tool, tmp_path: Path) -> None:
    ctx = context_for(_big_trace(tmp_path / "big.jsonl", 300))
    seen: list[str] = []
    answer = await tool("view_trace", ctx, trace_id="big", budget_tokens=1500)
    while True:
        assert answer.result.mode == "skeleton"
        seen += [s.span_id for s in answer.result.spans]
        if not answer.result.next_cursor:
            break
        answer = await tool("view_trace", ctx, trace_id="big", cursor=answer.result.next_cursor, budget_tokens=1500)
    assert len(seen) == len(set(seen)) == 301


async def test_root_span_id_shows_one_subtree(context_for, tool, tmp_path: Path) -> None:
    ctx = context_for(_big_trace(tmp_path / "big.jsonl", 120))
    answer = await tool("view_trace", ctx, trace_id="big", root_span_id="s0051")
    ids = [s.span_id for s in answer.result.spans]
    assert ids[0] == "s0051" and len(ids) == answer.result.span_count == 50
    assert answer.result.mode == "full"


async def test_unknown_ids_are_named_with_the_call_that_finds_them(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(UnknownIdError, match=r"'nope'.*query"):
        await tool("view_trace", ctx, trace_id="nope")
    with pytest.raises(UnknownIdError) as unknown:
        await tool("view_trace", ctx, trace_id="nope")
    assert str(unknown.value).count("trace ids") == 1, "the advice is given once"
    assert "query_traces" not in str(unknown.value)  # no such tool
    with pytest.raises(UnknownIdError, match=r"span 'nope' is not in trace"):
        await tool("view_trace", ctx, trace_id=LOOP_TRACE, root_span_id="nope")


async def test_previews_are_cut_with_a_marker_naming_the_call_that_shows_the_rest(
    context_for, tool, tmp_path: Path
) -> None:
    ctx = context_for(_big_trace(tmp_path / "big.jsonl", 3))
    answer = await tool("view_trace", ctx, trace_id="big", max_chars=200)
    out = answer.result.spans[1].output
    assert len(out) <= 200
    assert 'chars cut; view_spans(trace_id="big", span_ids=["s0001"], attribute="output.value", offset=' in out


def test_the_plan_opens_the_biggest_subtrees_below_a_single_child_chain() -> None:
    from engine.tools.spans import SpanHead
    from engine.tools.view_trace import _plan

    def head(span_id: str, depth: int) -> SpanHead:
        return SpanHead(span_id=span_id, depth=depth, name=span_id, kind="chain", status="ok")

    # main -> run -> {a (3 spans), b (1 span), c (2 spans)}
    heads = [head("main", 0), head("run", 1), head("a", 2), head("a1", 3), head("a2", 3), head("b", 2),
             head("c", 2), head("c1", 3)]  # fmt: skip
    plan = _plan("t", heads)
    assert plan[0].startswith('view_trace(trace_id="t", root_span_id="a")  # a: 3 spans')
    assert plan[1].startswith('view_trace(trace_id="t", root_span_id="c")  # c: 2 spans')
    assert len(plan) == 3 and plan[2].startswith("search(")


async def test_a_skeleton_cursor_is_refused_for_another_trace(context_for, tool, tmp_path: Path) -> None:
    from engine.errors import InvalidArgumentError

    ctx = context_for(_big_trace(tmp_path / "big.jsonl", 300))
    answer = await tool("view_trace", ctx, trace_id="big", budget_tokens=1500)
    with pytest.raises(InvalidArgumentError, match=r"belongs to another trace"):
        await tool("view_trace", ctx, trace_id="other", cursor=answer.result.next_cursor)
