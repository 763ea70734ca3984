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
    assert md.count("Produced without a model") == 2 and "OPENAI_BASE_URL" in md  # banner and note

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
