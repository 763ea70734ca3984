"""Without a model, diagnose returns the deterministic report: labelled, checked, saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.agents import DiagnoseConfig, RunStore, diagnose, diagnose_sync, iterate_sync
from engine.agents.deterministic import ENABLE_MODEL_NOTE
from engine.llm import LLMConfig
from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio


def no_model(tmp_path: Path) -> DiagnoseConfig:
    return DiagnoseConfig(llm=LLMConfig(), runs_dir=tmp_path / "runs")


def context_for(path: Path) -> ToolContext:
    ds = Dataset.open([path])
    return ToolContext(open_dataset=lambda p: ds)


def test_a_fresh_environment_has_no_model_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert not DiagnoseConfig().llm.configured


async def test_without_a_model_the_report_comes_from_the_analytics_labelled_and_checked(
    fixtures: Path, tmp_path: Path
) -> None:
    context = context_for(fixtures / "analytics" / "patterns.jsonl")
    n_traces = context.open_dataset(None).n_traces
    report = await diagnose("Why do runs fail?", context, no_model(tmp_path))

    assert report.produced_by == "deterministic" and not report.partial
    assert len(report.findings) >= 5
    assert all(f.source == "analytics" and f.hypothesis is None for f in report.findings)
    assert {"tool_error", "loop", "hallucinated_tool_call", "refusal"} <= {f.category for f in report.findings}
    # each finding names its class, decision point and frequency; failures name the surface to change
    for f in report.findings:
        assert f.title.startswith("[class ") and "Decision point: span `" in f.detail and "Frequency: " in f.detail
    assert all(f.suggested_change for f in report.findings if f.category in ("tool_error", "loop"))
    assert all(f.frequency.total_traces == n_traces and f.evidence for f in report.findings)
    # the analytics quote the raw span text exactly: every citation verifies
    assert report.citations_checked >= len(report.findings) and report.citations_failed == 0
    assert ENABLE_MODEL_NOTE in report.notes
    md = report.to_markdown()
    assert md.count("Produced without a model") == 1 and "OPENAI_BASE_URL" in md  # the banner, not the note again

    store = RunStore(tmp_path / "runs")
    (status,) = store.list()
    assert (status.state, status.mode) == ("done", "deterministic")
    assert [e.type for e in store.events(status.run_id)] == ["run_started", "report"]
    assert store.report(status.run_id) == report


async def test_a_clean_dataset_gives_a_report_saying_nothing_was_found(fixtures: Path, tmp_path: Path) -> None:
    report = await diagnose("q", context_for(fixtures / "analytics" / "clean.jsonl"), no_model(tmp_path))
    assert report.findings == [] and "found no failure pattern" in report.summary


def test_sync_run_and_sync_iterator_give_the_same_kind_of_report(fixtures: Path, tmp_path: Path) -> None:
    context = context_for(fixtures / "trail")
    report = diagnose_sync("q", context, no_model(tmp_path))
    assert report.produced_by == "deterministic"
    events = list(iterate_sync("q", context, no_model(tmp_path)))
    assert [e.type for e in events] == ["run_started", "report"]
    assert events[-1].report.findings == report.findings
    assert len(RunStore(tmp_path / "runs").list()) == 2


def test_closing_the_sync_iterator_early_stops_the_run(fixtures: Path, tmp_path: Path) -> None:
    events = iterate_sync("q", context_for(fixtures / "trail"), no_model(tmp_path))
    assert next(events).type == "run_started"
    events.close()
    (status,) = RunStore(tmp_path / "runs").list()
    assert status.state in ("cancelled", "done")  # done if it finished before the close arrived


def findings_of(path: Path, with_span_kinds: bool = True) -> list:
    from engine.agents.deterministic import deterministic_findings, llm_span_names
    from engine.traces.analytics import analyze

    ds = Dataset.open([path])
    return deterministic_findings(analyze(ds), llm_names=llm_span_names(ds) if with_span_kinds else frozenset())


def test_a_tool_failure_seen_as_failed_action_signature_and_error_rate_is_one_finding(fixtures: Path) -> None:
    findings = findings_of(fixtures / "halo" / "realistic_traces.jsonl")
    [finding] = [f for f in findings if f.title.startswith("[class 1]")]
    assert finding.title.startswith("[class 1] failed action: list_files")
    assert finding.category == "tool_error" and finding.suggested_change.target == "code"
    assert "function.list_files: Error running tool (non-fatal)" in finding.detail  # the signature's facts stay
    assert "tool list_files fails in 27% of its calls (3/11)" in finding.detail
    # evidence on the model call that chose the call, and on the tool span that failed
    assert len({(e.trace_id, e.span_id) for e in finding.evidence}) == 4


def test_one_rate_limit_on_two_model_span_names_is_one_provider_error_finding(fixtures: Path) -> None:
    findings = {f.title: f for f in findings_of(fixtures / "halo" / "medium_traces.jsonl")}
    assert set(findings) == {"[class 7] error family rate limited on 2 span names", "[class 7] root: boom"}
    rate = findings["[class 7] error family rate limited on 2 span names"]
    assert rate.category == "provider_error" and rate.frequency.traces_affected == 83
    assert findings["[class 7] root: boom"].category == "other"  # the root span is no model call


def test_without_span_kinds_a_rate_limit_message_still_reads_as_a_provider_error(fixtures: Path) -> None:
    findings = findings_of(fixtures / "halo" / "medium_traces.jsonl", with_span_kinds=False)
    assert {f.category for f in findings if "rate limited" in f.title} == {"provider_error"}


def test_on_trail_the_findings_name_the_classes_there_and_no_outlier_below_its_floor(fixtures: Path) -> None:
    from engine.traces.analytics.runs import LATENCY_FLOOR_MS

    findings = findings_of(fixtures / "trail")
    assert [f.title for f in findings] == [
        "[class 4] final answer given before any tool was used, though tools were offered",
        "[class 4] model claims a search or lookup that no span shows",
        "[class 8] slow LiteLLMModel.__call__ spans: 1 over 30.2s (median 5.7s, max 34.5s)",
    ]
    before, claim, slow = findings
    assert before.frequency.traces_affected == 3 and before.impact == "high"
    assert "Decision point: span `LiteLLMModel.__call__` (model o3-mini)" in before.detail
    assert before.suggested_change.target == "prompt"
    assert any("Based on a careful search (using our search_agent tool)" in (e.quote or "") for e in claim.evidence)
    assert slow.impact == "low" and 30.2 * 1000 > LATENCY_FLOOR_MS  # the outlier is the last, above its floor


def test_a_rare_signature_is_not_merged_into_a_tool_that_mostly_fails_otherwise() -> None:
    from engine.agents.deterministic import merge_patterns, same_failure
    from engine.traces.analytics import Pattern
    from engine.traces.analytics import PatternExample as Example

    def made(kind: str, spans: int, cited: str) -> Pattern:  # examples only: merging estimates from them
        return Pattern(
            kind=kind, title=f"{kind} {spans}", traces_affected=spans, total_traces=50, spans_affected=spans,
            examples=[Example(trace_id=f"t{c}", span_id=f"s{c}") for c in cited],
        )

    tool = made("tool_errors", 20, "abc")
    assert not same_failure(tool, made("error_signature", 2, "ab"))  # 2 of the tool's 20 failures
    assert not same_failure(tool, made("error_signature", 18, "axy"))  # one shared example of three
    main = made("error_signature", 18, "abx")
    assert same_failure(tool, main)
    assert [[p.kind for p in g] for g in merge_patterns([main, tool])] == [["error_signature", "tool_errors"]]
