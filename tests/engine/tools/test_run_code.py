"""run_code: the sandbox's answer, rendered and fitted to the budget."""

from __future__ import annotations

import pytest

from sandbox import run_code

pytestmark = pytest.mark.anyio


async def test_code_computes_over_the_span_table(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    code = "print('tools:', spans.tool_name.nunique())\nint((spans.status == 'ERROR').sum())"
    answer = await tool("run_code", ctx, code=code)
    r = answer.result
    assert r.ok and r.value == "3"
    assert "tools: 4" in r.stdout
    assert answer.text.startswith("ok in ")
    assert r.protections  # which isolation layers were active


async def test_failing_code_is_a_result_with_its_traceback(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    answer = await tool("run_code", ctx, code="spans.no_such_column")
    assert not answer.result.ok
    assert "AttributeError" in answer.result.error
    assert "FAILED" in answer.text


async def test_a_huge_output_is_cut_to_the_budget_and_says_how_to_print_less(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    answer = await tool("run_code", ctx, code="print('x' * 200_000)", budget_tokens=1000)
    assert answer.result.truncated
    assert len(answer.text) < 4000
    assert "chars cut; print less: aggregate in the code" in answer.result.stdout
