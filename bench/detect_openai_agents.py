"""Traces with injected failures, written by the real OpenAI Agents SDK's own tracing,
for `python -m bench.detect`.

Same method as `detect_smolagents.py`: one agent run per scenario against the scripted
OpenAI-compatible server of the tests on 127.0.0.1, the tool's results set by the
scenario. A tracing processor keeps every `span.export()` (the SDK's `trace.span`
records, the `openai_agents` shape); a label names the n-th model call (`generation`
span, in start order) where the failure was injected.

Needs the `[bench]` extra (openai-agents).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.detect_smolagents import GARBLED, OVERSIZED, Scenario

__all__ = ["generate"]

MAX_TURNS = 6


def _scenarios(reply: Any, tool_call: Any) -> list[Scenario]:
    q = {"query": "capital of France"}
    answer = reply.text("Paris.")
    ids = iter(range(10_000))
    scripted = reply

    class _Calls:  # the SDK skips a call whose id it has answered: each scripted call gets its own
        @staticmethod
        def call(name: str, arguments: Any) -> Any:
            return scripted.calls(tool_call(name, arguments, id=f"call_{next(ids)}"))

        text = staticmethod(scripted.text)
        error = staticmethod(scripted.error)

    reply = _Calls()
    return [
        Scenario("clean", "agent", [reply.call("search", q), answer], ["Paris is the capital of France."]),
        Scenario(
            "clean_two",
            "agent",
            [reply.call("search", q), reply.call("search", {"query": "Paris population"}), answer],
            ["Paris is the capital of France.", "About 2.1 million people."],
        ),
        Scenario(
            "error_payload", "agent", [reply.call("search", q), answer], ["Error: 503 Service Unavailable"], [(1, 0)]
        ),
        Scenario(
            "tool_raises",
            "agent",
            [reply.call("search", q), answer],
            [ValueError("upstream returned HTTP 500")],
            [(1, 0), (7, 0)],
        ),
        Scenario(
            "malformed_call_json",
            "agent",
            [reply.call("search", '{"query": "capital of'), answer],
            ["Paris is the capital of France."],
            [(2, 0), (7, 0)],
        ),
        # the SDK redacts the tool's error: the model sees a failed call (class 1), and every
        # failed call of these runs carries the same redacted message (one family, class 7)
        Scenario(
            "unknown_argument",
            "agent",
            [reply.call("search", {"q": "capital of France"}), answer],
            ["Paris is the capital of France."],
            [(3, 0), (1, 0), (7, 0)],
        ),
        Scenario("answer_first", "agent", [answer], labels=[(4, 0)]),
        Scenario(
            "claimed_search",
            "agent",
            [reply.text("Based on my search, the capital of France is Paris.")],
            labels=[(4, 0)],
        ),
        Scenario(
            "repeat_after_error",
            "agent",
            [reply.call("search", q), reply.call("search", q), answer],
            [RuntimeError("search timed out after 30s"), "Paris is the capital of France."],
            [(1, 0), (7, 0), (5, 1)],
        ),
        Scenario(
            "turn_limit",
            "agent",
            [reply.call("search", {"query": "a"}), reply.call("search", {"query": "b"})],
            ["nothing useful", "nothing useful"],
            [(5, 1)],
            max_steps=2,
        ),
        Scenario("garbled_result", "agent", [reply.call("search", q), answer], [GARBLED], [(6, 1)]),
        Scenario("oversized_result", "agent", [reply.call("search", q), answer], [OVERSIZED], [(6, 1)]),
        Scenario(
            "provider_error_a", "agent", [reply.error(400, "Invalid request: context length exceeded")], labels=[(7, 0)]
        ),
        Scenario(
            "provider_error_b", "agent", [reply.error(400, "Invalid request: context length exceeded")], labels=[(7, 0)]
        ),
    ]


def generate(out_dir: Path) -> tuple[Path, Path]:
    """Run every scenario; write `openai_agents.jsonl` (spans) and `openai_agents_labels.json`."""
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_trace_processors
    from agents.tracing import TracingProcessor
    from openai import AsyncOpenAI

    from tests.support.scripted_llm import ScriptedLLM, ToolCall, reply

    kept: list[dict[str, Any]] = []

    class Keep(TracingProcessor):  # type: ignore[misc]
        """Keeps each finished span's export; sends nothing anywhere."""

        def on_trace_start(self, trace: Any) -> None: ...
        def on_trace_end(self, trace: Any) -> None: ...
        def on_span_start(self, span: Any) -> None: ...
        def on_span_end(self, span: Any) -> None:
            if (exported := span.export()) is not None:
                kept.append(exported)

        def shutdown(self) -> None: ...
        def force_flush(self) -> None: ...

    set_trace_processors([Keep()])
    results: list[Any] = []

    @function_tool
    def search(query: str) -> str:
        """Search the web and return the top result's text."""
        result = results.pop(0) if results else "no results found"
        if isinstance(result, Exception):
            raise result
        return result

    lines: list[str] = []
    labels: list[dict[str, Any]] = []
    for scenario in _scenarios(reply, ToolCall):
        kept.clear()
        results[:] = list(scenario.search)
        with ScriptedLLM() as llm:
            llm.script(*scenario.replies)
            client = AsyncOpenAI(base_url=llm.base_url, api_key="bench", max_retries=0)
            model = OpenAIChatCompletionsModel(model="m-1", openai_client=client)
            agent = Agent(name="helper", instructions="Answer with the search tool.", tools=[search], model=model)
            try:
                Runner.run_sync(agent, "What is the capital of France?", max_turns=scenario.max_steps)
            except Exception:
                pass
        lines += [json.dumps(s) for s in kept]
        calls = sorted((s for s in kept if s["span_data"].get("type") == "generation"), key=lambda s: s["started_at"])
        for cls, index in scenario.labels:
            if index >= len(calls):
                raise RuntimeError(f"scenario {scenario.name}: no model call {index} among {len(calls)}")
            labels.append({"trace_id": calls[index]["trace_id"], "span_id": calls[index]["id"], "class": cls,
                           "scenario": scenario.name})  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    traces, label_file = out_dir / "openai_agents.jsonl", out_dir / "openai_agents_labels.json"
    traces.write_text("\n".join(lines) + "\n")
    label_file.write_text(json.dumps(labels, indent=1) + "\n")
    return traces, label_file
