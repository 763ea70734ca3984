"""Child of `bench.context`: what a client receives from one checkout's server.

Run as a script with the checkout first on `PYTHONPATH` and the working
directory outside any checkout, so the `engine` and `halo_mcp` packages that
load are that checkout's (an editable install of another one is found later).
It uses only what every version has: `build_server`, the SDK's in-process
`Client`, and `engine.traces.store` to pick the greediest calls. It counts
nothing itself: the parent counts with one tokenizer for every checkout.

    python context_probe.py FIXTURES [EXTRA_DATASET ...] > probe.json

prints {"tools": [tools/list entries, as on the wire], "answers": [{"tool",
"dataset", "arguments", "text", "structured", "error"}]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

RUN_CODE = "print(spans.to_string())\nspans.to_dict('records')"


def datasets(fixtures: Path, extra: list[Path]) -> dict[str, Path]:
    """The fixtures `tests/engine/tools/test_budgets.py` holds to the budget, plus `extra`."""
    found = {
        "halo-tiny": fixtures / "halo" / "tiny_traces.jsonl",
        "halo-realistic": fixtures / "halo" / "realistic_traces.jsonl",
        "halo-medium": fixtures / "halo" / "medium_traces.jsonl",
        "trail-largest": max((fixtures / "trail").glob("*.json"), key=lambda p: p.stat().st_size),
        "trail": fixtures / "trail",
        "any-agent": fixtures / "any_agent",
        "analytics": fixtures / "analytics" / "patterns.jsonl",
        "otlp": fixtures / "otlp",
        "otel-sdk": fixtures / "otel_sdk",
        "openai-agents": fixtures / "openai_agents",
    }
    found.update({p.stem: p for p in extra})
    return found


def greedy_calls(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Calls asking for the most each tool can give on this dataset."""
    from engine.traces import store
    from engine.traces.dataset import Dataset

    ds = Dataset.open([str(path)])
    calls: list[tuple[str, dict[str, Any]]] = [
        ("overview", {"top": 50}),
        ("patterns", {"limit": 100}),
        ("query", {"limit": 100}),
        ("search", {"pattern": "e", "limit": 100, "context_chars": 1000}),
        ("run_code", {"code": RUN_CODE}),
    ]
    big = store.query_traces(ds, store.TraceFilter(), sort="spans", descending=True, limit=20)
    if not big.items:
        return calls
    trace_id = big.items[0].trace_id
    views = store.view_trace(ds, trace_id)
    largest = max(views, key=lambda v: v.raw_size)
    attributes = store.get_spans(ds, trace_id, [largest.span_id])[0].attributes
    calls += [
        ("search", {"pattern": "e", "trace_id": trace_id, "limit": 100, "context_chars": 1000}),
        ("view_trace", {"trace_id": trace_id, "max_chars": 4000}),
        ("view_spans", {"trace_id": trace_id, "span_ids": [v.span_id for v in views[:20]], "max_chars": 50_000}),
        ("synthesize", {"trace_ids": [t.trace_id for t in big.items], "digest_tokens": 100_000}),
    ]
    longest = max(attributes, key=lambda k: len(str(attributes[k])), default=None)
    if longest is not None:
        one = {"trace_id": trace_id, "span_ids": [largest.span_id], "attribute": longest, "max_chars": 50_000}
        calls.append(("view_spans", one))
    return calls


async def probe(fixtures: Path, extra: list[Path]) -> dict[str, Any]:
    from mcp import Client

    from engine.llm import LLMConfig
    from halo_mcp.server import ServerConfig, build_server

    found = datasets(fixtures, extra)
    roots = sorted({str(fixtures), *(str(p.parent) for p in extra)})
    server = build_server(ServerConfig(roots=roots, llm=LLMConfig(api_key=None, base_url=None), cwd=Path.cwd()))
    answers: list[dict[str, Any]] = []
    async with Client(server.mcp) as client:
        listed = await client.list_tools()
        tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
        for label, path in found.items():
            for name, arguments in greedy_calls(path):
                entry: dict[str, Any] = {"tool": name, "dataset": label, "arguments": arguments}
                try:
                    result = await client.call_tool(name, {**arguments, "dataset": str(path)})
                except Exception as exc:  # a refused answer is a finding, not the end of the probe
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                else:
                    entry["text"] = "".join(getattr(c, "text", "") for c in result.content)
                    entry["structured"] = result.structured_content
                    if result.is_error:
                        entry["error"] = entry["text"][:300]
                answers.append(entry)
    return {"tools": tools, "answers": answers}


def main() -> None:
    fixtures, *extra = (Path(a).resolve() for a in sys.argv[1:])
    report = anyio.run(probe, fixtures, list(extra))
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
