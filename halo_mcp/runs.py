"""Background diagnose runs: start, follow, wait, cancel, list.

A diagnosis takes minutes; MCP clients give up on a tool call long before that
(Cursor after 60 s). So `diagnose` starts a run in the manager's own task group
and returns its id at once; `diagnose_status` reads the run's progress and may
wait (long poll) for it to finish. Runs belong to the manager, not to the
request or connection that started them, so a client that disconnects does not
stop its run; the engine's `RunStore` keeps every run's events and report on
disk, so finished runs can be listed and read after a restart too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from engine.agents import DiagnoseConfig, Report, RunStore, diagnose_stream
from engine.agents.runs import RunStatus as StoredStatus
from engine.errors import InvalidArgumentError, UnknownIdError
from engine.tools.context import ToolContext

__all__ = [
    "RunManager",
    "LiveRun",
    "LiveStatus",
    "MAX_ACTIVE_RUNS",
    "START_TIMEOUT_S",
    "MAX_WAIT_S",
]

logger = logging.getLogger(__name__)

# Runs going at once; more would share one model endpoint's rate limit anyway.
MAX_ACTIVE_RUNS = 4
# How long `start` waits for the engine to name its run (it first opens, and if need be
# indexes, the dataset); the run goes on in the background if this runs out.
START_TIMEOUT_S = 30.0
# Longest long-poll: under Cursor's 60 s tool-call limit with room to answer.
MAX_WAIT_S = 45.0
# Characters of the latest agent message kept as "what it is doing now".
ACTIVITY_CHARS = 240

LiveStatus = Literal["running", "finished", "failed", "cancelled", "interrupted"]


@dataclass
class LiveRun:
    """What the server knows about one run while (and after) it runs in this process."""

    run_id: str
    question: str
    dataset: str
    started_at: float
    status: LiveStatus = "running"
    finished_at: float | None = None
    turns: int = 0
    subagents: int = 0
    findings: int = 0
    tokens: int = 0
    events: int = 0
    activity: str = ""
    finding_titles: list[str] = field(default_factory=list)
    report: Report | None = None
    error: str | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    # Replaced on every update so waiters can wake on progress, not only on the end.
    changed: anyio.Event = field(default_factory=anyio.Event)
    # Only a run driven by this process has one. A run read back from disk has none:
    # it is built in a worker thread (sync resource handlers), where no scope can be made.
    scope: anyio.CancelScope | None = None

    @property
    def elapsed_s(self) -> float:
        return round((self.finished_at or time.time()) - self.started_at, 1)

    def touch(self) -> None:
        self.events += 1
        old, self.changed = self.changed, anyio.Event()
        old.set()


ProgressFn = Callable[[LiveRun], Awaitable[None]]


class RunManager:
    """Owns the task group that background runs live in; enter it for the server's lifetime."""

    def __init__(self, runs_dir: Path, config: Callable[..., DiagnoseConfig]) -> None:
        self.runs_dir = runs_dir
        self.store = RunStore(runs_dir)
        self._config = config
        self._runs: dict[str, LiveRun] = {}
        self._tg: TaskGroup | None = None
        self._stack: AsyncExitStack | None = None
        # Called once per run that ends with a report (the server lists it as a resource).
        self.on_report: Callable[[LiveRun], Awaitable[None]] | None = None

    @property
    def running(self) -> bool:
        return self._tg is not None

    async def __aenter__(self) -> RunManager:
        stack = AsyncExitStack()
        self._tg = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._stack is not None
        for run in self._runs.values():
            if run.status == "running" and run.scope is not None:
                run.scope.cancel()
        try:
            await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            self._stack = None

    @asynccontextmanager
    async def ensure_running(self) -> AsyncIterator[RunManager]:
        """Enter the manager unless someone already did (the server's lifespan uses this)."""
        if self.running:
            yield self
            return
        async with self:
            yield self

    # -- starting -------------------------------------------------------------

    async def start(
        self,
        question: str,
        context: ToolContext,
        dataset: str,
        overrides: dict[str, Any] | None = None,
        baseline: str | None = None,
    ) -> LiveRun:
        """Start a run in the background and return once the engine has named it
        (`baseline`: an earlier dataset to measure what changed against)."""
        if self._tg is None:
            raise InvalidArgumentError("this server is not accepting diagnose runs (it is shutting down)")
        active = sum(1 for r in self._runs.values() if r.status == "running")
        if active >= MAX_ACTIVE_RUNS:
            raise InvalidArgumentError(
                f"{active} diagnose runs are already running (the limit is {MAX_ACTIVE_RUNS}); "
                "wait for one with diagnose_status or stop one with diagnose_cancel"
            )
        config = self._config(**(overrides or {}))
        named: anyio.Event = anyio.Event()
        holder: dict[str, Any] = {}
        self._tg.start_soon(self._drive, question, context, dataset, config, named, holder, baseline)
        with anyio.move_on_after(START_TIMEOUT_S):
            await named.wait()
        if "run" not in holder:
            raise InvalidArgumentError(
                holder.get("error")
                or f"the run has not started after {START_TIMEOUT_S:.0f}s (the dataset is probably still being "
                "indexed); it starts by itself when the index is ready: find it with diagnose_runs"
            )
        run: LiveRun = holder["run"]
        return run

    async def _drive(
        self,
        question: str,
        context: ToolContext,
        dataset: str,
        config: DiagnoseConfig,
        named: anyio.Event,
        holder: dict[str, Any],
        baseline: str | None = None,
    ) -> None:
        run: LiveRun | None = None
        scope = anyio.CancelScope()
        try:
            with scope:
                async for event in diagnose_stream(question, context, config, baseline=baseline):
                    kind = getattr(event, "type", "")
                    if run is None:
                        run_id = getattr(event, "run_id", None)
                        if run_id is None:
                            continue
                        run = LiveRun(
                            run_id=run_id, question=question, dataset=dataset, started_at=time.time(), scope=scope
                        )
                        self._runs[run_id] = run
                        holder["run"] = run
                        named.set()
                    _apply(run, kind, event)
                    run.touch()
            if run is not None and run.status == "running":
                run.status = "cancelled" if scope.cancelled_caught else "failed"
                if run.status == "failed" and run.error is None:
                    run.error = "the engine ended without a report"
        except Exception as exc:  # a crash in the engine must not take the server down
            logger.exception("diagnose run failed")
            holder.setdefault("error", f"diagnose failed to start: {exc}")
            if run is not None:
                run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if run is not None:
                if run.status == "running":  # cancelled from outside (server shutting down)
                    run.status = "interrupted"
                run.finished_at = time.time()
                run.touch()
                run.done.set()
                if run.report is not None and self.on_report is not None:
                    try:
                        await self.on_report(run)
                    except Exception:  # listing the report must not fail the run
                        logger.exception("could not list the report of run %s", run.run_id)
            named.set()

    # -- reading --------------------------------------------------------------

    def get(self, run_id: str | None) -> LiveRun:
        """The run `run_id` (None: the most recent one started here); raises UnknownIdError."""
        if run_id is None:
            if not self._runs:
                raise UnknownIdError("no diagnose run has been started on this server; start one with diagnose")
            return max(self._runs.values(), key=lambda r: r.started_at)
        run = self._runs.get(run_id)
        if run is None:
            run = self._from_store(run_id)
        return run

    def _from_store(self, run_id: str) -> LiveRun:
        try:
            return _stored_run(self.store.status(run_id), self.store.report(run_id))
        except UnknownIdError:
            known = ", ".join(list(self._runs)[-5:]) or "none yet"
            raise UnknownIdError(
                f"no diagnose run {run_id!r}; runs started by this server: {known} (diagnose_runs lists all)"
            ) from None

    def report(self, run_id: str) -> Report | None:
        return self.get(run_id).report

    def list(self) -> list[LiveRun]:
        """Runs of this process and those on disk, newest first."""
        runs = dict(self._runs)
        for status in self.store.list():
            if status.run_id not in runs:
                runs[status.run_id] = _stored_run(status, None)
        return sorted(runs.values(), key=lambda r: r.started_at, reverse=True)

    async def wait(self, run: LiveRun, timeout_s: float, on_progress: ProgressFn | None = None) -> LiveRun:
        """Wait up to `timeout_s` for `run` to end, calling `on_progress` on each update."""
        timeout_s = max(0.0, min(timeout_s, MAX_WAIT_S))
        with anyio.move_on_after(timeout_s):
            while not run.done.is_set():
                await run.changed.wait()
                if on_progress is not None:
                    await on_progress(run)
        return run

    def cancel(self, run_id: str | None) -> LiveRun:
        run = self.get(run_id)
        if run.status == "running" and run.scope is not None:
            run.scope.cancel()
        return run


def _stored_run(status: StoredStatus, report: Report | None) -> LiveRun:
    """A run from another process (or an earlier one), as saved by the engine."""
    state: LiveStatus
    if status.state == "done":
        state = "finished"
    elif status.state in ("failed", "cancelled"):
        state = status.state
    else:  # it says running, but the process that ran it is gone
        state = "interrupted"
    run = LiveRun(
        run_id=status.run_id,
        question=status.question,
        dataset=status.dataset,
        started_at=_timestamp(status.started_at),
        status=state,
        finished_at=_timestamp(status.finished_at or status.updated_at),
        turns=status.progress.turns,
        subagents=status.progress.subagents,
        findings=status.progress.findings,
        tokens=status.progress.tokens,
        error=status.error,
        report=report,
    )
    run.done.set()
    return run


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


def _apply(run: LiveRun, kind: str, event: Any) -> None:
    """Fold one engine event into the run's visible state."""
    if kind == "progress":
        run.turns = int(getattr(event, "turns", run.turns) or 0)
        run.subagents = int(getattr(event, "subagents", run.subagents) or 0)
        run.findings = int(getattr(event, "findings", run.findings) or 0)
        run.tokens = int(getattr(event, "tokens", run.tokens) or 0)
    elif kind == "agent_message":
        text = str(getattr(event, "text", None) or getattr(event, "content", "") or "")
        if text:
            run.activity = text[:ACTIVITY_CHARS]
    elif kind == "tool_call":
        name = getattr(event, "name", None) or getattr(event, "tool", "")
        run.activity = f"calling {name}"
    elif kind == "subagent_started":
        task = getattr(event, "task", None) or getattr(event, "question", "") or ""
        run.activity = f"subagent: {str(task)[:ACTIVITY_CHARS]}"
    elif kind == "report":
        run.report = event.report
        run.findings = len(event.report.findings)
        run.status = "finished"
    elif kind == "error":
        message = str(getattr(event, "message", "") or "engine error")
        if getattr(event, "fatal", False):
            run.error, run.status = message, "failed"
        else:
            run.activity = f"problem: {message[:ACTIVITY_CHARS]}"
    elif kind == "retry":
        run.activity = f"model call retried: {str(getattr(event, 'reason', ''))[:ACTIVITY_CHARS]}"
    listed = getattr(event, "findings", None)
    for finding in listed if isinstance(listed, list) else []:
        title = getattr(finding, "title", None)
        if isinstance(title, str) and title not in run.finding_titles:
            run.finding_titles.append(title)
