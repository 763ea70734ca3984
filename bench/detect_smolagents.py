"""Traces with injected failures, written by the real smolagents agents under the real
OpenInference instrumentation, for `python -m bench.detect`.

Each scenario runs one agent (ToolCallingAgent or CodeAgent) against the scripted
OpenAI-compatible server of the tests (`tests/support/scripted_llm.py`, real HTTP on
127.0.0.1), with tools whose results the scenario sets. The OpenInference smolagents
instrumentation exports every span through the OTel SDK, written as `span.to_json()`
lines (the `otel_sdk` shape). A label names the model call where the failure was
injected (the n-th model call of the run, counted in start order) and its class.

Needs the `[bench]` extra (smolagents, openinference-instrumentation-smolagents).
Run `python -m bench.detect --regenerate` to rewrite `bench/detect_data/`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Scenario", "generate"]

# Model calls of one scenario at most (a scripted reply each).
MAX_STEPS = 6
GARBLED = " ".join("Paris is the capital and most populous city of France" * 4)
OVERSIZED = "Paris is the capital of France. " * 1_600  # ~51k characters


@dataclass
class Scenario:
    name: str
    agent: str  # "tool" or "code"
    replies: list[Any]  # scripted replies, built lazily (need the `reply` helpers)
    search: list[Any] = field(default_factory=list)  # search results in call order; an Exception is raised
    labels: list[tuple[int, int]] = field(default_factory=list)  # (class, model call index)
    max_steps: int = MAX_STEPS


def _scenarios(reply: Any) -> list[Scenario]:
    q = {"query": "capital of France"}
    final = reply.call("final_answer", {"answer": "Paris"})
    code_final = reply.text("Thought: I have it.\nCode:\n```py\nfinal_answer('Paris')\n```<end_code>")
    code_search = reply.text("Thought: search.\nCode:\n```py\nprint(search(query='capital of France'))\n```<end_code>")
    return [
        Scenario("clean_tool", "tool", [reply.call("search", q), final], ["Paris is the capital of France."]),
        Scenario("clean_code", "code", [code_search, code_final], ["Paris is the capital of France."]),
        Scenario(
            "clean_two_searches",
            "tool",
            [reply.call("search", q), reply.call("search", {"query": "Paris population"}), final],
            ["Paris is the capital of France.", "About 2.1 million people."],
        ),
        Scenario(
            "error_payload", "tool", [reply.call("search", q), final], ["Error: 503 Service Unavailable"], [(1, 0)]
        ),
        Scenario(
            "tool_raises",
            "tool",
            [reply.call("search", q), final],
            [ValueError("upstream returned HTTP 500")],
            [(1, 0)],
        ),
        # these two also answer without any tool use (class 4 on the answering call)
        Scenario(
            "code_raises",
            "code",
            [reply.text("Thought: divide.\nCode:\n```py\nx = 1 / 0\n```<end_code>"), code_final],
            labels=[(1, 0), (4, 1)],
        ),
        Scenario("no_code_block", "code", [reply.text("The answer is Paris."), code_final], labels=[(2, 0), (4, 1)]),
        Scenario(
            "malformed_call_json",
            "tool",
            [reply.call("search", '{"query": "capital of'), final],
            ["Paris is the capital of France."],
            [(2, 0)],
        ),
        Scenario(
            "unknown_argument",
            "tool",
            [reply.call("search", {"q": "capital of France"}), final],
            ["Paris is the capital of France."],
            [(3, 0)],
        ),
        Scenario(
            "unoffered_tool", "tool", [reply.call("browse", {"url": "https://example.org"}), final], labels=[(3, 0)]
        ),
        Scenario("answer_first", "tool", [final], labels=[(4, 0)]),
        Scenario(
            "claimed_search",
            "code",
            [
                reply.text(
                    "Thought: Based on my search, the capital of France is Paris.\n"
                    "Code:\n```py\nfinal_answer('Paris')\n```<end_code>"
                )
            ],
            labels=[(4, 0)],
        ),
        Scenario(
            "repeat_after_error",
            "tool",
            [reply.call("search", q), reply.call("search", q), final],
            [RuntimeError("search timed out after 30s"), "Paris is the capital of France."],
            [(1, 0), (5, 1)],
        ),
        Scenario("repeat_three", "tool", [reply.call("search", q)] * 3 + [final], ["Paris."] * 3, [(5, 1), (5, 2)]),
        Scenario(
            "step_limit",
            "tool",
            [reply.call("search", {"query": "a"}), reply.call("search", {"query": "b"}), reply.text("Paris")],
            ["nothing useful", "nothing useful"],
            [(5, 1)],
            max_steps=2,
        ),
        Scenario("garbled_result", "tool", [reply.call("search", q), final], [GARBLED], [(6, 1)]),
        Scenario("oversized_result", "tool", [reply.call("search", q), final], [OVERSIZED], [(6, 1)]),
        Scenario(
            "provider_error_a", "tool", [reply.error(400, "Invalid request: context length exceeded")], labels=[(7, 0)]
        ),
        Scenario(
            "provider_error_b", "code", [reply.error(400, "Invalid request: context length exceeded")], labels=[(7, 0)]
        ),
    ]


def generate(out_dir: Path) -> tuple[Path, Path]:
    """Run every scenario; write `smolagents.jsonl` (spans) and `smolagents_labels.json`."""
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from opentelemetry import context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool

    from tests.support.scripted_llm import ScriptedLLM, reply

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    SmolagentsInstrumentor().instrument(tracer_provider=provider)
    results: list[Any] = []

    @tool
    def search(query: str) -> str:
        """Search the web and return the top result's text.

        Args:
            query: what to look for
        """
        result = results.pop(0) if results else "no results found"
        if isinstance(result, Exception):
            raise result
        return result

    lines: list[str] = []
    labels: list[dict[str, Any]] = []
    try:
        for scenario in _scenarios(reply):
            exporter.clear()
            results[:] = list(scenario.search)
            token = context.attach(context.Context())  # a fresh trace, whatever a failed run left attached
            with ScriptedLLM() as llm:
                llm.script(*scenario.replies)
                model = OpenAIServerModel(
                    model_id="m-1", api_base=llm.base_url, api_key="bench", client_kwargs={"max_retries": 0}
                )
                make: Callable[..., Any] = ToolCallingAgent if scenario.agent == "tool" else CodeAgent
                agent = make(tools=[search], model=model, max_steps=scenario.max_steps, verbosity_level=-1)
                try:
                    agent.run("What is the capital of France?")
                except Exception:
                    pass
                finally:
                    context.detach(token)
            spans = [json.loads(s.to_json()) for s in exporter.get_finished_spans()]
            lines += [json.dumps(s) for s in spans]
            llm_spans = sorted(
                (s for s in spans if s["attributes"].get("openinference.span.kind") == "LLM"),
                key=lambda s: s["start_time"],
            )
            for cls, index in scenario.labels:
                if index >= len(llm_spans):
                    raise RuntimeError(
                        f"scenario {scenario.name}: no model call {index} among {len(llm_spans)}"
                        f" (spans: {[s['name'] for s in spans]})"
                    )
                target = llm_spans[index]
                labels.append({
                    "trace_id": target["context"]["trace_id"][2:], "span_id": target["context"]["span_id"][2:],
                    "class": cls, "scenario": scenario.name,
                })  # fmt: skip
    finally:
        SmolagentsInstrumentor().uninstrument()
    out_dir.mkdir(parents=True, exist_ok=True)
    traces, label_file = out_dir / "smolagents.jsonl", out_dir / "smolagents_labels.json"
    traces.write_text("\n".join(lines) + "\n")
    label_file.write_text(json.dumps(labels, indent=1) + "\n")
    return traces, label_file
