"""Failure analytics: each pattern kind is found where a fixture puts it, and nowhere else.

`tests/fixtures/analytics/patterns.jsonl` holds 12 clean support-bot runs plus runs
built to contain each pattern (`expected.json` names their trace ids);
`clean.jsonl` holds only the clean runs. Both are written by `build_fixtures.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.traces.analytics import PATTERN_KINDS, Analytics, analyze, analyze_spans
from engine.traces.analytics.data import SpanData
from engine.traces.dataset import Dataset
from engine.traces.failure_text import TURN_LIMIT, find_quote, message_template
from engine.traces.model import Span
from engine.traces.readers import FileReader

ANALYTICS = Path(__file__).parents[2] / "fixtures" / "analytics"
EXPECTED: dict[str, list[str]] = json.loads((ANALYTICS / "expected.json").read_text())


def _from_index(path: Path) -> Analytics:
    return analyze(Dataset.open([path]))


def _from_reader(path: Path) -> Analytics:
    return analyze_spans(SpanData.from_spans([s for s in FileReader(path) if isinstance(s, Span)]))


@pytest.fixture(params=[_from_index, _from_reader], ids=["index", "reader"])
def analyse(request: pytest.FixtureRequest):
    return request.param


def _raw_texts(path: Path) -> dict[tuple[str, str], str]:
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        out[(record["trace_id"], record["span_id"])] = line
    return out


# Kinds whose traces need parts the support-bot fixture has no use for (parse errors,
# schemas, garbled results): tests/engine/traces/test_analytics_classes.py builds them.
BUILT_ELSEWHERE = {"unparseable_output", "bad_tool_arguments", "unusable_observation"}


def test_fixture_covers_every_pattern_kind() -> None:
    assert set(EXPECTED) == set(PATTERN_KINDS) - BUILT_ELSEWHERE


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_pattern_kind_is_found_in_the_runs_built_to_contain_it(analyse, kind: str) -> None:
    result = analyse(ANALYTICS / "patterns.jsonl")
    found = result.of_kind(kind)
    assert found, f"no {kind} pattern found"
    example_traces = {e.trace_id for p in found for e in p.examples}
    assert example_traces == set(EXPECTED[kind]), f"{kind} found in {example_traces}"
    for p in found:
        assert p.total_traces == result.total_traces == 25
        assert 1 <= p.traces_affected <= p.total_traces


def test_a_clean_dataset_has_no_patterns(analyse) -> None:
    result = analyse(ANALYTICS / "clean.jsonl")
    assert result.total_traces == 12
    assert result.patterns == []
    assert {t.tool for t in result.tools} == {"search_docs", "get_weather", "lookup_order"}
    assert all(t.errors == 0 and t.hidden_errors == 0 for t in result.tools)


def test_every_quote_is_an_exact_substring_of_the_cited_span(analyse) -> None:
    raws = _raw_texts(ANALYTICS / "patterns.jsonl")
    quoted = 0
    for p in analyse(ANALYTICS / "patterns.jsonl").patterns:
        for e in p.examples:
            if e.quote is not None:
                quoted += 1
                assert len(e.quote) <= 200
                assert e.quote in raws[(e.trace_id, e.span_id)]
    assert quoted >= 10


def test_error_signature_groups_messages_that_differ_only_in_numbers_and_urls(analyse) -> None:
    (sig,) = analyse(ANALYTICS / "patterns.jsonl").of_kind("error_signature")
    assert sig.traces_affected == 3 and sig.spans_affected == 3
    assert sig.title == "get_weather: TimeoutError: Timeout after <n> calling <url> (request <id>)"


def test_tool_stats_count_calls_errors_and_hidden_errors(analyse) -> None:
    tools = {t.tool: t for t in analyse(ANALYTICS / "patterns.jsonl").tools}
    assert (tools["get_weather"].calls, tools["get_weather"].errors) == (7, 3)
    assert (tools["lookup_order"].calls, tools["lookup_order"].hidden_errors) == (6, 2)
    (rate,) = analyse(ANALYTICS / "patterns.jsonl").of_kind("tool_errors")
    assert "3/7" in rate.title


def test_a_loop_flags_every_repeat_on_the_model_call_that_sent_it(analyse) -> None:
    (loop,) = analyse(ANALYTICS / "patterns.jsonl").of_kind("repeated_action")
    assert loop.subject == "search_docs" and loop.spans_affected == 3 and loop.traces_affected == 1
    assert all(f.context_span_id and f.span_id != f.context_span_id for f in loop.flagged)


def test_patterns_are_ranked_by_traces_affected_times_severity_outliers_last(analyse) -> None:
    patterns = analyse(ANALYTICS / "patterns.jsonl").patterns
    failures = [p.score for p in patterns if p.failure_class != 8]
    assert failures == sorted(failures, reverse=True)
    assert [p.failure_class for p in patterns[len(failures):]] == [8] * (len(patterns) - len(failures))


def test_no_final_answer_reports_both_rules(analyse) -> None:
    subjects = {p.subject for p in analyse(ANALYTICS / "patterns.jsonl").of_kind("no_final_answer")}
    assert subjects == {"last_call_requested_tools", "final_answer_never_called"}


def test_analyze_is_cached_per_dataset() -> None:
    ds = Dataset.open([ANALYTICS / "patterns.jsonl"])
    assert analyze(ds) is analyze(ds)


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("Timeout after 30s calling https://x.example/a?b=1", "Timeout after <n> calling <url>"),
        ("File not found: /home/u/data/file_12.csv", "File not found: <path>"),
        ("KeyError: 'user_42'", "KeyError: '<str>'"),
        ("id 550e8400-e29b-41d4-a716-446655440000 missing", "id <uuid> missing"),
        ("request 4f9a3b2c11 failed", "request <id> failed"),
        ("", "(no message)"),
    ],
)
def test_message_template_masks_the_parts_that_vary(message: str, template: str) -> None:
    assert message_template(message) == template


@pytest.mark.parametrize(
    "text",
    [
        b"Max turns (10) exceeded",
        b"Reached max steps.",
        b"Agent stopped due to iteration limit or time limit.",
        b"Recursion limit of 25 reached without hitting a stop condition",
        b"GraphRecursionError",
    ],
)
def test_turn_limit_phrases_of_common_frameworks_are_recognised(text: bytes) -> None:
    assert TURN_LIMIT.search(text)


@pytest.mark.parametrize("text", [b'"max_steps": null', b"smolagents.max_steps", b"the maximum is 10 steps"])
def test_turn_limit_settings_are_not_mistaken_for_hitting_the_limit(text: bytes) -> None:
    assert not TURN_LIMIT.search(text)


def test_find_quote_finds_a_json_escaped_needle() -> None:
    raw = json.dumps({"output.value": 'He said "no"\nthen left'})
    quote = find_quote(raw, 'He said "no"\nthen left')
    assert quote is not None and quote in raw


FIXTURES = ANALYTICS.parent


def test_on_the_trail_traces_the_answers_without_evidence_stand_out_and_no_small_outlier() -> None:
    result = analyze(Dataset.open([FIXTURES / "trail"]))
    assert (result.total_traces, result.total_spans) == (3, 33)
    assert sorted(p.kind for p in result.patterns) == ["latency_outlier", "unsupported_answer", "unsupported_answer"]
    before, claim, slow = result.patterns
    assert before.subject == "answer_before_tools" and before.traces_affected == 3
    assert claim.subject == "claimed_unseen_evidence" and "Based on a careful search" in claim.examples[0].quote
    assert slow.subject == "LiteLLMModel.__call__" and slow.traces_affected == 1
    # the only outlier is above the absolute floor; the 33k-token call is under the token floor
    assert (slow.examples[0].trace_id, slow.examples[0].span_id) == (
        "f39aec9b8a61fd2aaed5849cc00bc165",
        "b5dd8eb7f514a817",
    )
    # smolagents records its tools and managed agents on the agent span, so every call is checked.
    assert not any("no offered-tool list" in n for n in result.notes)


def test_on_halo_medium_one_rate_limit_on_two_model_span_names_is_one_error_family() -> None:
    result = analyze(Dataset.open([FIXTURES / "halo" / "medium_traces.jsonl"]))
    found = {(p.title, p.traces_affected, p.spans_affected) for p in result.of_kind("error_signature")}
    assert found == {
        ("root: boom", 46, 46),
        ("error family rate limited on 2 span names", 83, 83),  # 88 error spans, 5 of them wrappers
    }
    assert [p.kind for p in result.patterns] == ["error_signature"] * 2
