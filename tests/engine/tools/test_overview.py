"""overview: the dataset at a glance, with data quality and measured failure patterns."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_overview_counts_tools_and_leads_with_the_failure_patterns(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("overview", ctx)
    r = answer.result
    assert (r.traces, r.spans, r.files_total) == (25, 100, 1)
    tools = {t.tool: t for t in r.tools}
    assert (tools["get_weather"].calls, tools["get_weather"].errors) == (7, 3)
    assert tools["lookup_order"].hidden_errors == 2
    assert r.patterns_total == 16 and len(r.patterns) == 10
    assert r.patterns[0].kind == "unsupported_answer"
    assert r.samples["with errors"] == [
        "000000000000000000000000a0000065",
        "000000000000000000000000a0000066",
        "000000000000000000000000a0000067",
    ]
    assert "get_weather: 7 calls in 7 traces, 3 errors (43%)" in answer.text
    assert "patterns()" in answer.text  # says where the other patterns are


async def test_overview_reports_malformed_lines_with_file_and_line(context_for, tool, fixture_dir) -> None:
    answer = await tool("overview", context_for(fixture_dir / "bad" / "malformed_lines.jsonl"))
    quality = answer.result.quality
    assert quality.malformed_lines > 0
    assert quality.malformed_samples and "malformed_lines.jsonl:2" in quality.malformed_samples[0]
    assert f"{quality.malformed_lines} malformed lines" in answer.text


async def test_overview_of_a_clean_dataset_says_no_pattern_was_measured(context_for, tool, fixture_dir) -> None:
    answer = await tool("overview", context_for(fixture_dir / "analytics" / "clean.jsonl"))
    assert answer.result.patterns_total == 0
    assert "failure patterns: none measured" in answer.text


async def test_overview_clamps_top_and_says_so(context_for, tool, fixture_dir) -> None:
    answer = await tool("overview", context_for(fixture_dir / "analytics" / "patterns.jsonl"), top=500)
    assert "top=500 is above the maximum; used 50" in answer.result.notes
    assert answer.result.patterns_total == len(answer.result.patterns) == 16


async def test_overview_reads_another_dataset_when_asked(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("overview", ctx, dataset=str(fixture_dir / "trail"))
    assert answer.result.traces == 3
    assert answer.result.models[0].name == "o3-mini"
