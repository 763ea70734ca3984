"""`compare_datasets`: the Python entry point, on the bundled before/after traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compare import compare_datasets
from engine.errors import InvalidArgumentError
from engine.traces.dataset import Dataset

FIXTURES = Path(__file__).parents[2] / "fixtures" / "compare"
RUNS = FIXTURES / "runs"
AFTER_DAY = "2026-04-24T00:00:00Z"


def _open(*paths: Path) -> Dataset:
    return Dataset.open(list(paths))


def _by_title(comparison) -> dict:
    return {p.title: p for p in comparison.patterns}


def test_the_fixed_rate_limit_errors_are_resolved_and_the_untouched_failure_unchanged() -> None:
    c = compare_datasets(_open(RUNS / "before.jsonl"), _open(RUNS / "after.jsonl"))
    patterns = _by_title(c)
    fixed = patterns["error family rate limited on 2 span names"]
    assert (fixed.baseline, fixed.baseline_total, fixed.candidate, fixed.candidate_total) == (12, 60, 0, 60)
    assert fixed.verdict == "resolved" and fixed.p_value < 0.001
    assert fixed.high < 0, "the whole interval of the difference is below zero"
    kept = patterns["root: boom"]
    assert (kept.baseline, kept.candidate, kept.verdict, kept.test) == (3, 3, "unchanged", "fisher_exact")
    assert c.patterns[0] is fixed, "patterns with a verdict come first"


def test_a_failure_only_in_the_candidate_is_new() -> None:
    c = compare_datasets(_open(RUNS / "after.jsonl"), _open(RUNS / "before.jsonl"))
    assert _by_title(c)["error family rate limited on 2 span names"].verdict == "new"


def test_a_small_sample_says_so_and_gives_no_verdict_for_a_change_within_noise() -> None:
    c = compare_datasets(_open(FIXTURES / "small" / "before.jsonl"), _open(FIXTURES / "small" / "after.jsonl"))
    assert c.small_sample and c.sample.startswith("small sample — 3 vs 3 traces")
    assert "not distinguishable from noise" in c.sample
    gone = [p for p in c.patterns if p.kind == "tool_errors"]
    assert gone and gone[0].candidate == 0 and gone[0].verdict == "unchanged"
    assert gone[0].detectable > abs(gone[0].difference) - 1e-9 or gone[0].p_value >= 0.05
    [tool] = [t for t in c.tools if t.tool == "list_files"]
    assert (tool.errors.baseline, tool.errors.baseline_total, tool.errors.candidate) == (3, 11, 0)


def test_a_time_split_of_one_dataset_equals_the_two_files() -> None:
    both = _open(RUNS)
    split = compare_datasets(both, after=AFTER_DAY)
    apart = compare_datasets(_open(RUNS / "before.jsonl"), _open(RUNS / "after.jsonl"))
    assert (split.baseline_traces, split.candidate_traces) == (60, 60)
    strip = {"baseline", "candidate"}
    assert split.model_dump(exclude=strip) == apart.model_dump(exclude=strip)


def test_a_rollout_window_between_before_and_after_is_left_out() -> None:
    c = compare_datasets(_open(RUNS), before="2026-04-23T05:02:00Z", after=AFTER_DAY)
    assert 0 < c.baseline_traces < 60 and c.candidate_traces == 60


def test_an_attribute_split_compares_the_two_service_versions() -> None:
    c = compare_datasets(
        _open(RUNS, FIXTURES / "small"), attribute="service.version", baseline_value="0.1.0", candidate_value="0.2.0"
    )
    assert (c.baseline_traces, c.candidate_traces) == (60, 60)
    assert _by_title(c)["error family rate limited on 2 span names"].verdict == "resolved"
    assert any("3 of 123 traces left out of the service.version split" in n for n in c.notes)


def test_an_attribute_split_by_model_uses_the_model_calls() -> None:
    c = compare_datasets(_open(RUNS), attribute="model", baseline_value="claude-haiku-4-5", candidate_value="none")
    assert c.baseline_traces > 0 and c.candidate_traces == 0
    assert any("candidate side of the split has no traces" in n for n in c.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "compare needs a candidate dataset, or a split"),
        ({"after": "soon"}, "is not an ISO-8601 time"),
        ({"before": AFTER_DAY, "after": "2026-04-23T00:00:00Z"}, "after is earlier than before"),
        ({"attribute": "model"}, "needs attribute, baseline_value and candidate_value"),
        ({"after": AFTER_DAY, "attribute": "model"}, "not both at once"),
    ],
)
def test_arguments_that_name_no_comparison_are_refused_with_a_sentence(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        compare_datasets(_open(RUNS), **kwargs)


def test_a_candidate_and_a_split_at_once_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not both"):
        compare_datasets(_open(RUNS / "before.jsonl"), _open(RUNS / "after.jsonl"), after=AFTER_DAY)


def _report(evidence: list[dict], title: str = "rate limits") -> object:
    from engine.agents.report import Report

    return Report.model_validate({
        "run_id": "20261204T000000Z-abcdef", "question": "why?", "dataset": str(RUNS / "before.jsonl"),
        "produced_by": "deterministic", "summary": "s",
        "findings": [{"title": title, "frequency": {"traces_affected": 12, "total_traces": 60}, "evidence": evidence}],
    })  # fmt: skip


def test_a_saved_finding_whose_evidence_was_fixed_no_longer_occurs() -> None:
    from engine.compare import finding_ref

    ref = finding_ref(_report([{"trace_id": "t-00001", "span_id": "s-t-00001-3", "quote": "rate limited"}]), 1)
    c = compare_datasets(_open(RUNS / "before.jsonl"), _open(RUNS / "after.jsonl"), finding=ref)
    assert c.finding is not None and not c.finding.still_occurs
    [pattern] = c.finding.patterns
    assert (pattern.title, pattern.verdict) == ("error family rate limited on 2 span names", "resolved")
    [quote] = c.finding.quotes
    assert (quote.traces.baseline, quote.traces.candidate) == (12, 0)
    assert "does not occur in the 60 candidate traces" in c.finding.summary


def test_a_saved_finding_whose_failure_remains_still_occurs() -> None:
    from engine.compare import finding_ref

    boom = [{"trace_id": "t-00030", "span_id": None, "quote": "boom"}]  # a trace, no span named
    c = compare_datasets(
        _open(RUNS / "before.jsonl"), _open(RUNS / "after.jsonl"), finding=finding_ref(_report(boom), 1)
    )
    assert c.finding is not None and c.finding.still_occurs
    assert c.finding.quotes[0].traces.candidate == 3
    assert [(p.title, p.candidate, p.verdict) for p in c.finding.patterns] == [("root: boom", 3, "unchanged")]


def test_a_finding_number_out_of_range_is_refused_naming_the_valid_ones() -> None:
    from engine.compare import finding_ref

    with pytest.raises(InvalidArgumentError, match="has no finding 2; its findings are 1-1"):
        finding_ref(_report([]), 2)
