"""Fixtures for engine runs: the TRAIL sample traces, a scripted model server, a runs dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.scripted_llm import ScriptedLLM

from engine.agents import DiagnoseConfig, Event, diagnose_stream
from engine.llm import LLMConfig
from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset


@pytest.fixture
def trail(fixtures: Path) -> Dataset:
    return Dataset.open([fixtures / "trail"])


@pytest.fixture
def context(trail: Dataset) -> ToolContext:
    def open_dataset(path: str | None) -> Dataset:
        return trail if path is None else Dataset.open([path])

    return ToolContext(open_dataset=open_dataset)


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def make_config(llm: ScriptedLLM, tmp_path: Path) -> Callable[..., DiagnoseConfig]:
    def make(**kw: Any) -> DiagnoseConfig:
        llm_kw = {"backoff_s": 0.01, "timeout_s": 10, **kw.pop("llm_kw", {})}
        llm_config = LLMConfig(base_url=llm.base_url, model="scripted-agent", compaction_model="scripted-small",
                               **llm_kw)  # fmt: skip
        return DiagnoseConfig(llm=llm_config, runs_dir=tmp_path / "runs", **kw)

    return make


@pytest.fixture
def collect(context: ToolContext) -> Callable[..., Awaitable[list[Event]]]:
    async def run(config: DiagnoseConfig, question: str = "Why do these runs fail?") -> list[Event]:
        return [event async for event in diagnose_stream(question, context, config)]

    return run

