"""Report model and its Markdown rendering."""

from __future__ import annotations

from engine.agents.report import Evidence, Finding, Frequency, Report, RunFacts, SuggestedChange, rank_findings


def finding(title: str, impact: str, affected: int, **kw: object) -> Finding:
    return Finding.model_validate(
        {"title": title, "impact": impact, "frequency": Frequency(traces_affected=affected, total_traces=10), **kw}
    )


def test_categories_written_loosely_are_normalised_and_unknown_ones_become_other() -> None:
    assert finding("a", "high", 1, category="Tool error").category == "tool_error"
    assert finding("a", "high", 1, category="hallucinated-tool-call").category == "hallucinated_tool_call"
    assert finding("a", "High", 1, category="gremlins").category == "other"


def test_findings_rank_by_impact_then_traces_affected() -> None:
    ranked = rank_findings([finding("low", "low", 9), finding("med", "medium", 2), finding("high-few", "high", 1),
                            finding("high-many", "high", 5)])  # fmt: skip
    assert [f.title for f in ranked] == ["high-many", "high-few", "med", "low"]


def test_markdown_shows_findings_failed_citations_counts_and_run_facts() -> None:
    report = Report(
        run_id="20260101T000000Z-abcdef",
        question="Why do runs fail?",
        dataset="traces.jsonl",
        produced_by="model",
        summary="Search fails.",
        findings=[
            finding(
                "Search tool times out",
                "high",
                4,
                category="tool_error",
                hypothesis="No timeout retry.",
                suggested_change=SuggestedChange(target="retry_logic", change="Retry search once on timeout."),
                evidence=[
                    Evidence(trace_id="t1", span_id="s1", quote="TimeoutError", verified=True),
                    Evidence(trace_id="t9", verified=False, problem="trace id 't9' is not in the dataset"),
                ],
            )
        ],
        citations_checked=2,
        citations_failed=1,
        facts=RunFacts(model_calls=3, input_tokens=100, output_tokens=20, turns=3, subagents=1, duration_s=2.5),
    )
    md = report.to_markdown()
    assert "### 1. Search tool times out" in md
    assert "**high impact** · tool error · 4/10 traces (40%)" in md
    assert "**Suggested change (retry logic):** Retry search once on timeout." in md
    assert "- ✓ trace `t1` span `s1`: “TimeoutError”" in md
    assert "- ✗ trace `t9` (**not verified**: trace id 't9' is not in the dataset)" in md
    assert "2 checked against the dataset, 1 failed" in md
    assert "| 3 | 0 | 100 | 20 | unknown | 3 | 1 | 0 | 2.5s |" in md
    assert "Produced without a model" not in md


def test_deterministic_and_partial_reports_are_labelled() -> None:
    report = Report(run_id="r", question="q", dataset="d", produced_by="deterministic", partial=True,
                    partial_reason="the turn budget of 3 turns was used up", summary="s")  # fmt: skip
    md = report.to_markdown()
    assert "**Produced without a model**" in md and "OPENAI_API_KEY" in md
    assert "**Partial report**: the turn budget of 3 turns was used up." in md
    assert "No findings." in md


def test_report_round_trips_through_json() -> None:
    report = Report(run_id="r", question="q", dataset="d", produced_by="model", summary="s",
                    findings=[finding("x", "low", 1, evidence=[Evidence(trace_id="t", quote="q" * 500)])])  # fmt: skip
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert len(again.findings[0].evidence[0].quote or "") == 300  # quotes are held short


def test_percentages_use_the_tools_format_and_a_non_zero_share_never_reads_zero() -> None:
    from engine.tools import render

    assert str(Frequency(traces_affected=2, total_traces=513)) == "2/513 traces (0.4%)"
    assert str(Frequency(traces_affected=2, total_traces=513)).endswith(f"({render.pct(2, 513)})")  # as overview
    assert str(Frequency(traces_affected=1, total_traces=5000)) == "1/5000 traces (<0.1%)"
    assert str(Frequency(traces_affected=0, total_traces=10)) == "0/10 traces (0%)"
    assert str(Frequency(traces_affected=3, total_traces=3)) == "3/3 traces (100%)"
    assert render.pct(998, 1000) == "99.8%" and render.pct(9999, 10000) == ">99.9%" and render.pct(1, 0) == "0%"


def test_a_report_made_without_a_model_says_so_once_and_shows_no_all_zero_run_table() -> None:
    note = "Produced without a model. To run the full diagnosis engine, set OPENAI_API_KEY."
    report = Report(run_id="r", question="q", dataset="d", produced_by="deterministic", summary="s",
                    facts=RunFacts(duration_s=1.25),
                    notes=[note, "2 smaller failure patterns are not listed."])  # fmt: skip
    md = report.to_markdown()
    assert md.count("Produced without a model") == 1
    assert "2 smaller failure patterns are not listed." in md  # other notes stay
    assert "| model calls |" not in md and "No model was called: the analytics took 1.2s." in md
