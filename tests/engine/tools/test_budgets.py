"""No answer over the budget, ever: every tool, on every fixture, at the default
budget and at small ones, asked for as much as its arguments allow.

Sizes are counted the way a client pays for them: tokens of the text content
plus tokens of the structured content, by o200k_base (quicktok, an oracle
independent of the code under test). `dense` is JSON-dense content that runs at
~2 characters per token: under the old 4-characters-per-token cap, twice over
the token budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import quicktok

from engine.tools.registry import DEFAULT_BUDGET_TOKENS, REGISTRY
from engine.traces import store

FIXTURES = Path(__file__).parents[2] / "fixtures"
DATASETS = {
    "halo-tiny": FIXTURES / "halo" / "tiny_traces.jsonl",
    "halo-realistic": FIXTURES / "halo" / "realistic_traces.jsonl",
    "halo-medium": FIXTURES / "halo" / "medium_traces.jsonl",
    "trail-largest": max((FIXTURES / "trail").glob("*.json"), key=lambda p: p.stat().st_size),
    "trail": FIXTURES / "trail",
    "any-agent": FIXTURES / "any_agent",
    "analytics": FIXTURES / "analytics" / "patterns.jsonl",
    "otlp": FIXTURES / "otlp",
    "otel-sdk": FIXTURES / "otel_sdk",
    "openai-agents": FIXTURES / "openai_agents",
    "langfuse": FIXTURES / "langfuse" / "export.json",
    "bad-inputs": FIXTURES / "bad",
    "dense": FIXTURES / "dense" / "metrics.jsonl",
}
# The tightest is ~2,400 characters of JSON-dense text (600 tokens at the old 4 chars per token).
BUDGETS = [DEFAULT_BUDGET_TOKENS, 2_000, 1_000]
_O200K = quicktok.get_encoding("o200k_base")


def _tokens(answer: Any) -> int:
    """What the client receives, in tokens: text content plus structured content."""
    return _O200K.count(answer.text) + _O200K.count(orjson.dumps(answer.structured()).decode())


def _greedy_calls(ds: Any) -> list[tuple[str, dict[str, Any]]]:
    """Calls that ask for the most each tool can give on this dataset."""
    big = store.query_traces(ds, store.TraceFilter(), sort="spans", descending=True, limit=20)
    if not big.items:
        return [("overview", {"top": 50}), ("patterns", {"limit": 100}), ("query", {"limit": 100}),
                ("compare", {"after": "2026-01-01T00:00:00Z"})]  # fmt: skip
    trace_id = big.items[0].trace_id
    views = store.view_trace(ds, trace_id)
    largest = max(views, key=lambda v: v.raw_size)
    attributes = store.get_spans(ds, trace_id, [largest.span_id])[0].attributes
    longest_key = max(attributes, key=lambda k: len(str(attributes[k])), default=None)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("overview", {"top": 50}),
        ("patterns", {"limit": 100}),
        ("query", {"limit": 100}),
        ("query", {"count_only": True, "has_errors": True}),
        ("search", {"pattern": "e", "limit": 100, "context_chars": 1000}),
        ("search", {"pattern": "e", "trace_id": trace_id, "limit": 100, "context_chars": 1000}),
        ("view_trace", {"trace_id": trace_id, "max_chars": 4000}),
        ("view_spans", {"trace_id": trace_id, "span_ids": [v.span_id for v in views[:20]], "max_chars": 50_000}),
        ("synthesize", {"trace_ids": [t.trace_id for t in big.items], "digest_tokens": 100_000}),
        ("compare", {"after": _middle(ds)}),
    ]
    if longest_key is not None:
        calls.append(
            (
                "view_spans",
                {"trace_id": trace_id, "span_ids": [largest.span_id], "attribute": longest_key, "max_chars": 50_000},
            )
        )
    return calls


def _middle(ds: Any) -> str:
    """A time halfway through the dataset's traces: a compare split with two sides."""
    from datetime import UTC, datetime

    import numpy as np

    start = np.asarray(ds.traces.start_ns)
    middle = int(np.median(start)) if len(start) else 0
    return datetime.fromtimestamp(middle / 1e9, tz=UTC).isoformat()


def test_every_registered_trace_tool_is_covered() -> None:
    covered = {
        "overview",
        "patterns",
        "query",
        "search",
        "view_trace",
        "view_spans",
        "synthesize",
        "run_code",
        "compare",
    }
    ours = {name for name, spec in REGISTRY.items() if spec.handler.__module__.startswith("engine.tools")}
    assert ours == covered


@pytest.mark.anyio
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", ["empty"])
async def test_an_empty_dataset_answers_within_budget_too(name: str, budget: int, context_for, tool) -> None:
    ctx = context_for(FIXTURES / "bad" / "empty.jsonl")
    for name_of, arguments in _greedy_calls(ctx.open_dataset(None)):
        answer = await tool(name_of, ctx, budget_tokens=budget, **arguments)
        assert _tokens(answer) <= budget


@pytest.mark.anyio
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", list(DATASETS))
async def test_no_answer_exceeds_the_budget(name: str, budget: int, context_for, tool) -> None:
    ctx = context_for(DATASETS[name])
    ds = ctx.open_dataset(None)
    for name_of, arguments in _greedy_calls(ds):
        answer = await tool(name_of, ctx, budget_tokens=budget, **arguments)
        size = _tokens(answer)
        assert size <= budget, f"{name_of}({arguments}) answered {size} tokens on {name}, budget {budget}"
        assert answer.text.strip()


@pytest.mark.anyio
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", ["trail-largest", "halo-medium", "dense"])
async def test_run_code_output_never_exceeds_the_budget(name: str, budget: int, context_for, tool) -> None:
    from sandbox import run_code

    ctx = context_for(DATASETS[name], run_code=run_code)
    code = "print(spans.to_string())\nspans.to_dict('records')"
    answer = await tool("run_code", ctx, budget_tokens=budget, code=code)
    assert _tokens(answer) <= budget
    assert answer.result.ok
