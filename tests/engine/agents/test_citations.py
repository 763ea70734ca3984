"""Citation checks: ids must exist, quotes must occur in the cited span."""

from __future__ import annotations

import orjson
import pytest

from engine.agents.citations import check_evidence, quote_in_text, span_haystacks, verify_report
from engine.agents.report import Evidence, Finding, Frequency, Report
from engine.traces.dataset import Dataset

RAW = orjson.dumps(
    {
        "name": "web_search",
        "attributes": {
            "output.value": 'Error: rate limit exceeded\n  retry after 30s\tfor "bing"',
            "input.value": '{"query": "capital of \\u00c9cuador", "page": 2}',
        },
        # TRAIL keeps attributes as a Python-repr string: texts escaped twice
        "span_attributes": "{'output.value': 'Traceback (most recent call last):\\\\n  File \"x.py\"'}",
    }
)


def found(quote: str) -> bool:
    return quote_in_text(quote, span_haystacks(RAW))


@pytest.mark.parametrize(
    "quote",
    [
        "rate limit exceeded",
        "Error: rate limit exceeded retry after 30s",  # newline + indent read as one space
        'for "bing"',  # the JSON text has \" here
        "capital of Écuador",  # \u00c9 in the raw text
        "Traceback (most recent call last): File",  # escaped twice in a repr string
        '"rate limit exceeded"',  # surrounding quote marks are not part of the quote
        "Error: rate limit ... for \"bing\"",  # "..." marks a gap
        "Error: … 30s",
    ],
)
def test_quotes_as_models_read_them_are_found(quote: str) -> None:
    assert found(quote)


@pytest.mark.parametrize(
    "quote",
    [
        "rate limit was exceeded",  # paraphrase
        "RATE LIMIT EXCEEDED",  # case matters
        "retry after 30s ... rate limit",  # parts out of order
        "...",
        "",
    ],
)
def test_paraphrased_reordered_or_empty_quotes_are_not_found(quote: str) -> None:
    assert not found(quote)


# Against a real dataset: the TRAIL sample (OpenInference nested JSON, repr-string attributes).
TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
LLM_SPAN_C = "b5dd8eb7f514a817"
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"  # \u201c-escaped in the file


def check(ds: Dataset, **kw: str | None) -> Evidence:
    return check_evidence(Evidence.model_validate(kw), ds)


def test_existing_ids_and_a_quote_from_the_span_verify(trail: Dataset) -> None:
    ev = check(trail, trace_id=TRACE_C, span_id=LLM_SPAN_C, quote=QUOTE_C)
    assert (ev.verified, ev.problem) == (True, None)
    assert check(trail, trace_id=TRACE_C.upper(), span_id=LLM_SPAN_C).trace_id == TRACE_C  # normalised


def test_a_quote_without_a_span_is_looked_up_in_the_trace_and_its_span_named(trail: Dataset) -> None:
    ev = check(trail, trace_id=TRACE_C, quote=QUOTE_C)
    assert ev.verified and ev.span_id == LLM_SPAN_C


@pytest.mark.parametrize(
    ("evidence", "problem"),
    [
        ({"trace_id": "0" * 32}, "trace id '00000000000000000000000000000000' is not in the dataset"),
        ({"trace_id": TRACE_C, "span_id": "feedfacefeedface"}, f"span id 'feedfacefeedface' is not in trace {TRACE_C}"),
        (
            {"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": "KeyError"},
            f"the quote does not occur in span {LLM_SPAN_C}",
        ),
        (
            {"trace_id": TRACE_C, "quote": "KeyError: 'answer'"},
            f"the quote does not occur in any span of trace {TRACE_C}",
        ),
    ],
)
def test_unknown_ids_and_quotes_not_in_the_span_fail_with_the_reason(
    trail: Dataset, evidence: dict[str, str], problem: str
) -> None:
    ev = check(trail, **evidence)
    assert (ev.verified, ev.problem) == (False, problem)


def test_verify_report_counts_checked_and_failed_and_notes_unsupported_findings(trail: Dataset) -> None:
    good = Evidence(trace_id=TRACE_C, span_id=LLM_SPAN_C, quote=QUOTE_C)
    bad = Evidence(trace_id="nope")
    report = Report(run_id="r", question="q", dataset="d", produced_by="model", summary="s", findings=[
        Finding(title="supported", frequency=Frequency(traces_affected=1, total_traces=3), evidence=[good, bad]),
        Finding(title="unsupported", frequency=Frequency(traces_affected=1, total_traces=30), evidence=[bad]),
    ])  # fmt: skip
    checked = verify_report(report, trail)
    assert (checked.citations_checked, checked.citations_failed) == (3, 2)
    assert [e.verified for e in checked.findings[0].evidence] == [True, False]
    assert any("finding 2 ('unsupported') has no verified evidence" in n for n in checked.notes)
    assert any("claims 30 total traces; the dataset has 3" in n for n in checked.notes)
