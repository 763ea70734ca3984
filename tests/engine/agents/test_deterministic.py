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
    assert all(f.source == "analytics" and f.hypothesis is None and f.suggested_change is None
               for f in report.findings)  # fmt: skip
    assert {"tool_error", "loop", "hallucinated_tool_call", "refusal"} <= {f.category for f in report.findings}
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


def test_a_tool_failure_seen_as_a_signature_and_as_an_error_rate_is_one_finding(fixtures: Path) -> None:
    findings = findings_of(fixtures / "halo" / "realistic_traces.jsonl")
    [finding] = [f for f in findings if "list_files" in f.title or "list_files" in (f.detail or "")]
    assert finding.title == "tool list_files fails in 27% of its calls (3/11)"
    assert finding.category == "tool_error"
    assert "function.list_files: Error running tool (non-fatal)" in finding.detail  # the signature's facts stay
    assert len({(e.trace_id, e.span_id) for e in finding.evidence}) == 3


def test_rate_limited_model_calls_are_provider_errors_and_other_errors_are_not(fixtures: Path) -> None:
    findings = {f.title: f.category for f in findings_of(fixtures / "halo" / "medium_traces.jsonl")}
    assert findings["anthropic.chat.completions.create: rate limited"] == "provider_error"
    assert findings["openai.chat.completions.create: rate limited"] == "provider_error"
    assert findings["root: boom"] == "other"  # the root span is no model call


def test_without_span_kinds_a_rate_limit_message_still_reads_as_a_provider_error(fixtures: Path) -> None:
    findings = findings_of(fixtures / "halo" / "medium_traces.jsonl", with_span_kinds=False)
    assert {f.category for f in findings if "rate limited" in f.title} == {"provider_error"}


def test_a_span_both_slow_and_token_heavy_is_one_finding_naming_both(fixtures: Path) -> None:
    [finding] = findings_of(fixtures / "trail")
    assert finding.title.startswith("slow LiteLLMModel.__call__ spans") and finding.category == "latency"
    assert "token-heavy LiteLLMModel.__call__ calls" in finding.detail
    assert len(finding.evidence) == 1


def test_a_rare_signature_is_not_merged_into_a_tool_that_mostly_fails_otherwise() -> None:
    from engine.agents.deterministic import merge_patterns, same_failure
    from engine.traces.analytics import Evidence as Example, Pattern

    def made(kind: str, spans: int, cited: str) -> Pattern:
        return Pattern(
            kind=kind, title=f"{kind} {spans}", traces_affected=spans, total_traces=50, spans_affected=spans,
            examples=[Example(trace_id=f"t{c}", span_id=f"s{c}") for c in cited],
        )

    tool = made("tool_errors", 20, "abc")
    assert not same_failure(tool, made("error_signature", 2, "ab"))  # 2 of the tool's 20 failures
    assert not same_failure(tool, made("error_signature", 18, "axy"))  # one shared example of three
    main = made("error_signature", 18, "abx")
    assert same_failure(tool, main)
    assert [[p.kind for p in g] for g in merge_patterns([main, tool])] == [["tool_errors", "error_signature"]]
