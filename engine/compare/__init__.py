"""`compare`: did the change fix it? Two runs of an agent, measured against each other.

    compare_datasets(baseline, candidate)              two datasets as they are
    compare_datasets(ds, before="…", after="…")        one dataset split by trace start time
    compare_datasets(ds, attribute="service.version",  one dataset split by an attribute
                     baseline_value="0.1.0", candidate_value="0.2.0")

Each side gets the failure analytics of its own (`engine.traces.analytics`), and
`changes.compare_sides` matches their patterns, tools and run measurements and
tests each difference (`stats`). The `compare` tool, the `halo-mcp compare`
command and Python callers all come through `compare_datasets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.compare.changes import (
    Comparison,
    FindingCheck,
    MetricChange,
    PatternChange,
    RateChange,
    ToolChange,
    compare_sides,
)
from engine.compare.finding import FindingRef, check_finding, finding_ref
from engine.compare.sides import Side, parse_time, split_by_time, whole
from engine.errors import InvalidArgumentError
from engine.traces.analytics import Analytics, analyze, analyze_spans

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = [
    "Comparison",
    "PatternChange",
    "RateChange",
    "ToolChange",
    "MetricChange",
    "FindingCheck",
    "FindingRef",
    "finding_ref",
    "compare_datasets",
]


def compare_datasets(
    baseline: Dataset,
    candidate: Dataset | None = None,
    *,
    before: str | None = None,
    after: str | None = None,
    attribute: str | None = None,
    baseline_value: str | None = None,
    candidate_value: str | None = None,
    baseline_label: str = "baseline",
    candidate_label: str = "candidate",
    finding: FindingRef | None = None,
) -> Comparison:
    """Compare `candidate` against `baseline`, or split `baseline` when no candidate is given.

    With `finding` (`finding.finding_ref(report, n)`), the comparison also says whether
    that saved finding's evidence pattern still occurs in the candidate, and how often.
    Raises `InvalidArgumentError` when the arguments name no comparison (one dataset and
    no split) or two at once (a candidate and a split).
    """
    splits_time = before is not None or after is not None
    splits_attr = attribute is not None
    if candidate is not None:
        if splits_time or splits_attr:
            raise InvalidArgumentError(
                "give either a candidate dataset or a split of the baseline (before/after, attribute), not both"
            )
        first, second = whole(baseline, baseline_label), whole(candidate, candidate_label)
        return _compare(first, second, analyze(baseline), analyze(candidate), finding)
    if splits_time and splits_attr:
        raise InvalidArgumentError("split by time (before/after) or by attribute, not both at once")
    side = whole(baseline, baseline_label)
    if splits_time:
        first, second = split_by_time(
            side,
            parse_time(before, "before") if before is not None else None,
            parse_time(after, "after") if after is not None else None,
        )
    elif splits_attr:
        from engine.compare.attribute import split_by_attribute

        assert attribute is not None
        first, second = split_by_attribute(side, attribute, baseline_value, candidate_value)
    else:
        raise InvalidArgumentError(
            "compare needs a candidate dataset, or a split of the baseline: before/after a time, "
            "or an attribute with baseline_value and candidate_value"
        )
    comparison = _compare(first, second, analyze_spans(first.data), analyze_spans(second.data), finding)
    if not first.n_traces or not second.n_traces:
        empty = "baseline" if not first.n_traces else "candidate"
        comparison.notes.insert(0, f"the {empty} side of the split has no traces: check the split point or value")
    return comparison


def _compare(first: Side, second: Side, a: Analytics, b: Analytics, finding: FindingRef | None) -> Comparison:
    comparison = compare_sides(first, second, a, b)
    if finding is not None:
        comparison.finding = check_finding(finding, first, second, a, b)
    return comparison
