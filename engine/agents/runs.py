"""Saved runs: one directory per run, readable while the run is still going.

    runs_dir/<run_id>/status.json    state + progress, rewritten atomically
                     /events.jsonl   one event per line, appended as they happen
                     /report.json    the Report, once there is one
                     /report.md      the same, rendered

Run ids sort by start time (UTC timestamp, then random hex), so `list()` is
newest-first without reading any file. The MCP server serves these files and a
later session can read a run it did not start.
"""

from __future__ import annotations

import builtins  # inside RunStore, `list` is its method
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from engine.agents.events import EVENT_ADAPTER, Event
from engine.agents.report import Report
from engine.errors import UnknownIdError
from engine.traces.index.cache import atomic_write_bytes

__all__ = ["RunStore", "RunStatus", "RunProgress", "RunState", "new_run_id"]

RunState = Literal["running", "done", "failed", "cancelled"]
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


class RunProgress(BaseModel):
    turns: int = 0
    model_calls: int = 0
    subagents: int = 0
    findings: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0


class RunStatus(BaseModel):
    run_id: str
    state: RunState
    question: str
    dataset: str
    mode: Literal["model", "deterministic"]
    started_at: str
    updated_at: str
    finished_at: str | None = None
    progress: RunProgress = Field(default_factory=RunProgress)
    partial: bool = False
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunStore:
    """Reads and writes runs under `runs_dir`."""

    def __init__(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir).expanduser()

    def path(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise UnknownIdError(f"{run_id!r} is not a run id (they look like 20260101T120000Z-a1b2c3)")
        return self.runs_dir / run_id

    def _existing(self, run_id: str) -> Path:
        path = self.path(run_id)
        if not (path / "status.json").is_file():
            raise UnknownIdError(f"no run {run_id!r} in {self.runs_dir}")
        return path

    # writing ----------------------------------------------------------------

    def create(self, status: RunStatus) -> Path:
        path = self.path(status.run_id)
        path.mkdir(parents=True, exist_ok=False)
        (path / "events.jsonl").touch()
        self.write_status(status)
        return path

    def write_status(self, status: RunStatus) -> None:
        status = status.model_copy(update={"updated_at": _now()})
        atomic_write_bytes(self.path(status.run_id) / "status.json", status.model_dump_json(indent=2).encode())

    def append_event(self, run_id: str, event: BaseModel) -> None:
        line = event.model_dump_json().encode() + b"\n"
        with open(self.path(run_id) / "events.jsonl", "ab") as f:
            f.write(line)

    def save_report(self, report: Report) -> None:
        path = self.path(report.run_id)
        atomic_write_bytes(path / "report.json", report.model_dump_json(indent=2).encode())
        atomic_write_bytes(path / "report.md", report.to_markdown().encode())

    # reading ----------------------------------------------------------------

    def list(self, limit: int | None = None) -> list[RunStatus]:
        """Runs newest first."""
        if not self.runs_dir.is_dir():
            return []
        ids = sorted((p.name for p in self.runs_dir.iterdir() if _RUN_ID.match(p.name)), reverse=True)
        out = []
        for run_id in ids:
            try:
                out.append(self.status(run_id))
            except (UnknownIdError, ValueError):
                continue  # a run directory being created, or damaged: skip it
            if limit is not None and len(out) >= limit:
                break
        return out

    def status(self, run_id: str) -> RunStatus:
        path = self._existing(run_id)
        return RunStatus.model_validate_json((path / "status.json").read_bytes())

    def report(self, run_id: str) -> Report | None:
        """The run's report, or None while it has none yet."""
        file = self._existing(run_id) / "report.json"
        return Report.model_validate_json(file.read_bytes()) if file.is_file() else None

    def report_markdown(self, run_id: str) -> str | None:
        file = self._existing(run_id) / "report.md"
        return file.read_text("utf-8") if file.is_file() else None

    def events(self, run_id: str, *, start: int = 0, limit: int | None = None) -> builtins.list[Event]:
        """Events from index `start`; a last line still being written is left out."""
        data = (self._existing(run_id) / "events.jsonl").read_bytes()
        lines = data.split(b"\n")[:-1]  # only complete lines
        end = len(lines) if limit is None else min(len(lines), start + limit)
        return [EVENT_ADAPTER.validate_json(line) for line in lines[start:end]]

    def raw_events(self, run_id: str) -> builtins.list[dict[str, Any]]:
        data = (self._existing(run_id) / "events.jsonl").read_bytes()
        return [orjson.loads(line) for line in data.split(b"\n")[:-1]]
