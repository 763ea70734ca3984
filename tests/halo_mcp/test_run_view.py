"""A finished run's answer: the report whole when it fits the token budget, cut visibly when not."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from engine.agents import Report
from engine.tools.budget import answer_tokens
from halo_mcp.run_tools import run_view
from halo_mcp.runs import LiveRun

pytestmark = pytest.mark.anyio


def _finished(summary: str) -> LiveRun:
    report = Report(run_id="r1", question="why?", dataset="d.jsonl", produced_by="deterministic", summary=summary)
    return LiveRun(
        run_id="r1", question="why?", dataset="d.jsonl", started_at=time.time(), status="finished", report=report
    )


async def test_a_report_over_the_budget_is_cut_to_fit_it_in_real_tokens() -> None:
    rng = random.Random(3)
    dense = orjson.dumps({f"k{i}": round(rng.random(), 5) for i in range(4_000)}).decode()  # ~2 chars per token
    view = run_view(_finished(dense), 2_000)
    assert answer_tokens(view) <= 2_000
    assert view.report is None and view.report_truncated
    text = view.render()
    assert "report cut at" in text and view.report_uri in text


async def test_a_report_that_fits_comes_whole_with_its_structured_copy() -> None:
    view = run_view(_finished("Tool calls fail when the path is relative."), 2_000)
    assert view.report is not None and not view.report_truncated
    assert "report cut" not in view.render()
