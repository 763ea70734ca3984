"""Context cost: `python -m bench.context [--repo PATH ...]` prints what tools/list and answers cost a client.

For each checkout (default: this one; give `--repo` several times to compare,
e.g. `--repo /work/main --repo .`), `context_probe.py` runs in a child process
with that checkout first on the path, lists the tools through the SDK's own
client and calls every tool greedily on the test fixtures (plus the JSON-dense
one). This process counts everything with one tokenizer (o200k_base, see
`engine/tools/tokens.py`), so the checkouts are compared on the same scale:

- tools/list: the whole result as JSON, and per part (descriptions, input
  schemas, output schemas, the rest: names, titles, annotations), per tool;
- answers: the largest, in tokens of text content plus structured content,
  per tool and overall, with characters per token;
- the tokenizer's speed on 80k characters (prose-like and JSON-dense).

Nothing is written inside a checkout: no bytecode, the index cache in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.tools.registry import DEFAULT_BUDGET_TOKENS
from engine.tools.tokens import ENCODING, count_tokens, structured_json

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "context_probe.py"
DENSE = ROOT / "tests" / "fixtures" / "dense" / "metrics.jsonl"
PARTS = ("description", "inputSchema", "outputSchema")
TOP_ANSWERS = 8


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _probe(repo: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="halo-context-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HALO_MCP_CACHE_DIR": f"{tmp}/cache",
            "XDG_CACHE_HOME": f"{tmp}/xdg",
            "HALO_MCP_RUNS_DIR": f"{tmp}/runs",
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HALO_MODEL"):
            env.pop(name, None)
        done = subprocess.run(
            [sys.executable, "-P", str(PROBE), str(repo / "tests" / "fixtures"), str(DENSE)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"the probe failed in {repo}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _size(text: str) -> tuple[int, int]:
    return len(text), count_tokens(text)


def _revision(repo: Path) -> str:
    done = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return done.stdout.strip()[:70] or "(not a git checkout)"


def report_tools(tools: list[dict[str, Any]]) -> None:
    chars, tokens = _size(_json({"tools": tools}))
    print(f"tools/list: {len(tools)} tools, {chars:,} chars, {tokens:,} tokens ({ENCODING})")
    totals = {part: [0, 0] for part in (*PARTS, "rest")}
    rows = []
    for tool in tools:
        row = [tool["name"]]
        for part in PARTS:
            value = tool.get(part)
            text = "" if value is None else value if isinstance(value, str) else _json(value)
            c, t = _size(text)
            totals[part][0] += c
            totals[part][1] += t
            row.append(f"{c:,}/{t:,}")
        rest = {k: v for k, v in tool.items() if k not in PARTS}
        c, t = _size(_json(rest))
        totals["rest"][0] += c
        totals["rest"][1] += t
        row.append(f"{c:,}/{t:,}")
        row.append(f"{count_tokens(_json(tool)):,}")
        rows.append(row)
    print("  parts (chars / tokens): " + "; ".join(f"{p} {c:,} / {t:,}" for p, (c, t) in totals.items()))
    header = ["tool", "description", "input schema", "output schema", "rest", "tokens"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  "
            + "  ".join(
                str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def report_answers(answers: list[dict[str, Any]]) -> None:
    sized = []
    for a in answers:
        if "error" in a:
            print(f"  error: {a['tool']} on {a['dataset']}: {a['error'][:200]}")
            continue
        structured = structured_json(a.get("structured"))
        chars = len(a["text"]) + len(structured)
        tokens = count_tokens(a["text"]) + count_tokens(structured)
        sized.append((tokens, chars, a["tool"], a["dataset"], a["arguments"]))
    sized.sort(key=lambda s: s[0], reverse=True)
    if not sized:
        return
    over = [s for s in sized if s[0] > DEFAULT_BUDGET_TOKENS]
    print(
        f"answers: {len(sized)} calls; largest {sized[0][0]:,} tokens ({sized[0][1]:,} chars, text + structured); "
        f"{len(over)} over {DEFAULT_BUDGET_TOKENS:,} tokens"
    )
    for tokens, chars, tool, dataset, arguments in sized[:TOP_ANSWERS]:
        shown = _json(arguments)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        print(
            f"  {tokens:>7,} tokens {chars:>8,} chars ({chars / max(tokens, 1):.1f}/token)  {tool} on {dataset} {shown}"
        )
    largest: dict[str, tuple[int, str]] = {}
    for tokens, _chars, tool, dataset, _ in sized:
        if tokens > largest.get(tool, (-1, ""))[0]:
            largest[tool] = (tokens, dataset)
    print("  largest per tool: " + ", ".join(f"{t} {n:,} ({d})" for t, (n, d) in sorted(largest.items())))


def report_speed() -> None:
    rng = random.Random(0)
    words = "the agent called a tool and the result was an error because the file was not found".split()
    prose = " ".join(rng.choice(words) for _ in range(20_000))[:80_000]
    dense = _json({f"k{i}": [round(rng.random(), 5), i] for i in range(6_000)})[:80_000]
    count_tokens("warm up")
    for label, text in (("prose-like", prose), ("JSON-dense", dense)):
        best = min(_timed(text) for _ in range(20))
        print(f"tokenizer: {label} 80k chars -> {count_tokens(text):,} tokens in {best * 1e6:,.0f} us (best of 20)")


def _timed(text: str) -> float:
    start = time.perf_counter()
    count_tokens(text)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", action="append", type=Path, help="checkout to measure (repeat to compare)")
    args = parser.parse_args(argv)
    for repo in [r.resolve() for r in (args.repo or [ROOT])]:
        print(f"== {repo} ({_revision(repo)})")
        report = _probe(repo)
        report_tools(report["tools"])
        report_answers(report["answers"])
        print()
    report_speed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
