"""The `compare` tool through the registry: the text a model reads, the budget it fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidArgumentError
from engine.tools.compare import TESTS_NOTE

pytestmark = pytest.mark.anyio

RUNS = Path(__file__).parents[2] / "fixtures" / "compare" / "runs"


async def test_compare_answers_with_rates_intervals_the_test_used_and_verdicts(context_for, tool) -> None:
    ctx = context_for(RUNS / "before.jsonl")
    answer = await tool("compare", ctx, candidate=str(RUNS / "after.jsonl"))
    text = answer.text
    assert "1. RESOLVED [error_signature] error family rate limited on 2 span names: 12/60 (20%) → 0/60 (0%)" in text
    assert "z-test p=" in text and "Fisher p=1; within noise" in text
    assert text.startswith(f"baseline (default dataset) (60 traces) → candidate {RUNS / 'after.jsonl'} (60 traces)")
    assert "small sample — 60 vs 60 traces" in text and TESTS_NOTE in text
    data = answer.structured()
    assert data["patterns"][0]["verdict"] == "resolved" and data["tests"] == TESTS_NOTE


async def test_compare_splits_the_default_dataset_by_time(context_for, tool) -> None:
    answer = await tool("compare", context_for(RUNS), after="2026-04-24T00:00:00Z")
    assert answer.structured()["baseline_traces"] == answer.structured()["candidate_traces"] == 60


async def test_compare_fits_a_small_budget_by_leaving_patterns_out_and_saying_so(context_for, tool) -> None:
    ctx = context_for(RUNS / "before.jsonl")
    answer = await tool("compare", ctx, budget_tokens=1_150, candidate=str(RUNS / "after.jsonl"))
    data = answer.structured()
    assert len(data["patterns"]) < data["shown_patterns"] == 2
    assert "more patterns left out to fit the budget" in answer.text


async def test_compare_without_a_candidate_or_split_is_a_sentence_for_the_model(context_for, tool) -> None:
    with pytest.raises(InvalidArgumentError, match="compare needs a candidate dataset"):
        await tool("compare", context_for(RUNS))


async def test_a_budget_too_small_for_everything_keeps_the_verdicts_and_says_what_went(context_for, tool) -> None:
    ctx = context_for(RUNS / "before.jsonl")
    answer = await tool("compare", ctx, budget_tokens=700, candidate=str(RUNS / "after.jsonl"))
    data = answer.structured()
    assert data["patterns"][0]["verdict"] == "resolved" and data["runs"] == [] and data["success"] == {}
    assert "answer cut to fit the budget: success rates, tools, run percentiles" in answer.text
    assert "small sample — 60 vs 60 traces" in answer.text
