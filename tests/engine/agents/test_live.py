"""Optional live run against a real OpenAI-compatible endpoint.

Set HALO_E2E_BASE_URL (and HALO_E2E_API_KEY, HALO_E2E_MODEL as the endpoint needs)
to run it, e.g. a local Ollama: HALO_E2E_BASE_URL=http://127.0.0.1:11434/v1
HALO_E2E_MODEL=qwen3:8b. HALO_E2E_CONTEXT_LIMIT (tokens) and HALO_E2E_TIMEOUT_S fit it
to a small local server; docs/local-models.md says how to run llama.cpp and Ollama for
it. Skipped otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.agents import DiagnoseConfig, RunStore, diagnose
from engine.llm import LLMConfig
from engine.tools.context import ToolContext
from engine.traces.dataset import Dataset

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not os.environ.get("HALO_E2E_BASE_URL"), reason="HALO_E2E_BASE_URL not set"),
]


async def test_a_live_model_diagnoses_the_trail_sample_with_checked_citations(fixtures: Path, tmp_path: Path) -> None:
    ds = Dataset.open([fixtures / "trail"])
    llm = LLMConfig(
        base_url=os.environ["HALO_E2E_BASE_URL"],
        api_key=os.environ.get("HALO_E2E_API_KEY") or None,
        model=os.environ.get("HALO_E2E_MODEL") or "gpt-4.1-mini",
        timeout_s=float(os.environ.get("HALO_E2E_TIMEOUT_S") or 300),
        agent_max_tokens=int(os.environ.get("HALO_MAX_OUTPUT_TOKENS") or 4096),
    )
    config = DiagnoseConfig(llm=llm, max_turns=12, subagent_max_turns=6, token_budget=400_000, wall_clock_s=1800,
                            context_limit_tokens=int(os.environ.get("HALO_E2E_CONTEXT_LIMIT") or 100_000),
                            runs_dir=tmp_path / "runs")  # fmt: skip
    report = await diagnose("Why do these agent runs fail or go wrong?", ToolContext(open_dataset=lambda p: ds), config)

    assert report.produced_by == "model" and report.summary
    assert report.facts.model_calls >= 1
    assert report.citations_checked == sum(len(f.evidence) for f in report.findings)
    assert RunStore(tmp_path / "runs").list()[0].state == "done"
    print(report.to_markdown())
