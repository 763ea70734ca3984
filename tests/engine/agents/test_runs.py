"""RunStore: run directories written atomically, readable while a run goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.agents.events import ErrorEvent, Progress, RunStarted
from engine.agents.report import Report
from engine.agents.runs import RunStatus, RunStore, new_run_id
from engine.errors import UnknownIdError


def status(run_id: str, state: str = "running") -> RunStatus:
    return RunStatus(run_id=run_id, state=state, question="q", dataset="d", mode="model",
                     started_at="2026-01-01T00:00:00+00:00", updated_at="2026-01-01T00:00:00+00:00")  # fmt: skip


def test_run_ids_sort_by_start_time() -> None:
    early, late = new_run_id(1_700_000_000), new_run_id(1_800_000_000)
    assert early < late
    assert early.startswith("20231114T221320Z-")


def test_a_run_directory_holds_status_events_and_report(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = new_run_id()
    path = store.create(status(run_id))
    store.append_event(run_id, RunStarted(run_id=run_id, question="q", dataset="d", mode="model"))
    store.append_event(run_id, Progress(run_id=run_id, turns=1, model_calls=1, subagents=0, findings=0,
                                        tokens=10, elapsed_s=0.1))  # fmt: skip
    assert store.report(run_id) is None  # not yet
    store.save_report(Report(run_id=run_id, question="q", dataset="d", produced_by="model", summary="all fine"))
    store.write_status(status(run_id, "done"))

    assert sorted(p.name for p in path.iterdir()) == ["events.jsonl", "report.json", "report.md", "status.json"]
    assert store.status(run_id).state == "done"
    assert [e.type for e in store.events(run_id)] == ["run_started", "progress"]
    assert [e.type for e in store.events(run_id, start=1)] == ["progress"]
    assert store.report(run_id).summary == "all fine"
    assert "all fine" in (store.report_markdown(run_id) or "")
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]


def test_an_event_line_still_being_written_is_not_read(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = new_run_id()
    path = store.create(status(run_id))
    store.append_event(run_id, ErrorEvent(run_id=run_id, message="x"))
    with open(path / "events.jsonl", "ab") as f:
        f.write(b'{"type": "progress", "run_')
    assert len(store.events(run_id)) == 1


def test_list_is_newest_first_and_skips_foreign_directories(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    ids = [new_run_id(1_700_000_000 + i) for i in range(3)]
    for run_id in ids:
        store.create(status(run_id))
    (tmp_path / "not-a-run").mkdir()
    assert [s.run_id for s in store.list()] == ids[::-1]
    assert [s.run_id for s in store.list(limit=1)] == [ids[-1]]
    assert RunStore(tmp_path / "missing").list() == []


def test_unknown_run_ids_are_named(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(UnknownIdError, match="no run '20260101T000000Z-000000'"):
        store.status("20260101T000000Z-000000")
    with pytest.raises(UnknownIdError, match="is not a run id"):
        store.report("../../etc")
