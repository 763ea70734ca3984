"""`diagnose --baseline`: what changed between two runs of the agent, measured and reported first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, diagnose
from engine.llm import LLMConfig
from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio

RESOLVED = "error family rate limited on 2 span names"


def _context(fixtures: Path, candidate: str) -> ToolContext:
    default = Dataset.open([fixtures / candidate])
    return ToolContext(open_dataset=lambda path: default if path is None else Dataset.open([path]))


def _no_model(tmp_path: Path) -> DiagnoseConfig:
    return DiagnoseConfig(llm=LLMConfig(api_key=None, base_url=None), runs_dir=tmp_path / "runs")


async def test_without_a_model_the_report_leads_with_the_resolved_pattern(fixtures: Path, tmp_path: Path) -> None:
    context = _context(fixtures, "compare/runs/after.jsonl")
    before = str(fixtures / "compare/runs/before.jsonl")
    report = await diagnose("What changed?", context, _no_model(tmp_path), baseline=before)

    assert report.produced_by == "deterministic" and report.changes is not None
    changes = report.changes
    assert changes.counts == {"resolved": 1, "unchanged": 1}
    (moved,) = changes.patterns
    assert (moved.verdict, moved.title) == ("resolved", RESOLVED)
    assert (moved.baseline, moved.candidate, moved.baseline_total) == (12, 0, 60)
    assert changes.baseline == before and changes.small_sample
    assert report.summary.startswith(f"Against the baseline {before}: 0 new, 0 worse, 1 resolved, 0 better")
    (finding,) = report.findings  # the candidate's remaining failure, said against the baseline
    assert finding.detail is not None and finding.detail.startswith("Against the baseline: unchanged within noise")

    markdown = report.to_markdown()
    assert markdown.index("## What changed") < markdown.index("## Summary") < markdown.index("## Findings")
    assert f"**RESOLVED** [error_signature] {RESOLVED}: 12/60 (20%) → 0/60 (0%)" in markdown
    assert "not distinguishable from noise" in markdown


async def test_three_traces_a_side_is_called_a_small_sample_and_nothing_moves(fixtures: Path, tmp_path: Path) -> None:
    # the other way round (the candidate is the run before the fix): 3 traces cannot show the change
    context = _context(fixtures, "compare/small/before.jsonl")
    baseline = str(fixtures / "compare/small/after.jsonl")
    report = await diagnose("What got worse?", context, _no_model(tmp_path), baseline=baseline)
    changes = report.changes
    assert changes is not None and changes.small_sample and changes.candidate_traces == 3
    assert changes.sample.startswith("small sample — 3 vs 3 traces")
    assert all(p.verdict == "unchanged" for p in changes.patterns) or changes.patterns == []
    assert changes.counts.get("unchanged", 0) >= 1  # 3 traces: nothing is distinguishable from noise
    assert "(small sample)" in report.summary.splitlines()[0]


async def test_without_a_baseline_the_report_has_no_changes(fixtures: Path, tmp_path: Path) -> None:
    report = await diagnose("Why?", _context(fixtures, "compare/runs/after.jsonl"), _no_model(tmp_path))
    assert report.changes is None and "## What changed" not in report.to_markdown()


async def test_the_model_driven_root_is_told_of_the_baseline_and_compares_both(
    fixtures: Path, tmp_path: Path, llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig]
) -> None:
    after, before = str(fixtures / "compare/runs/after.jsonl"), str(fixtures / "compare/runs/before.jsonl")
    default = Dataset.open([after])
    context = ToolContext(open_dataset=lambda path: default if path is None else Dataset.open([path]))
    finding = {
        "title": "root fails with boom in both runs", "category": "other", "impact": "low",
        "traces_affected": 3, "total_traces": 60,
        "evidence": [{"trace_id": "t-00030-after", "span_id": "s-t-00030-0-after", "quote": "boom"}],
    }  # fmt: skip
    llm.script_for(
        "# Question",
        reply.calls(("compare", {"baseline": before, "candidate": after}), ("overview", {"dataset": before})),
        reply.call("final_report", {"summary": "The rate limits are gone; boom stays.", "findings": [finding]}),
    )  # fmt: skip
    report = await diagnose("What changed?", context, make_config(), baseline=before)

    task = llm.requests[0].messages[1]["content"]
    assert "# Baseline: what changed?" in task and f'dataset="{before}"' in task
    assert f"RESOLVED [error_signature] {RESOLVED}" in task  # the measured comparison, before any tool call
    results = [m["content"] for m in llm.requests[1].messages if m["role"] == "tool"]
    assert len(results) == 2 and "RESOLVED" in results[0] and "60 traces" in results[1]
    assert "not allowed" not in " ".join(results) and "failed" not in results[0][:200]
    assert report.produced_by == "model" and report.summary == "The rate limits are gone; boom stays."
    assert report.changes is not None and report.changes.counts["resolved"] == 1
    assert (report.citations_checked, report.citations_failed) == (1, 0)
    assert report.to_markdown().index("## What changed") < report.to_markdown().index("## Summary")
