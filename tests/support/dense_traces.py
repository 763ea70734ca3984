"""Write `tests/fixtures/dense/metrics.jsonl`: HALO traces whose content is JSON-dense.

Short keys and many numbers tokenize at ~2 characters per token, half the
ratio of prose, so an answer can fit a character cap sized for prose and still
be far over the token budget. Deterministic (fixed seed):
`python tests/support/dense_traces.py` rewrites the same bytes.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from halo_lines import jsonl, span

__all__ = ["dense_spans", "write"]

TARGET = Path(__file__).resolve().parents[1] / "fixtures" / "dense" / "metrics.jsonl"
TRACES = 3
SPANS_PER_TRACE = 40
KEYS_PER_VALUE = 220
NUMERIC_ATTRIBUTES = 60


def dense_spans(seed: int = 16) -> list[dict[str, object]]:
    rng = random.Random(seed)
    spans = []
    for t in range(TRACES):
        trace = f"dense-{t:02d}"
        spans.append(span(trace, f"{trace}-root", name="evaluate", kind="AGENT", end=float(SPANS_PER_TRACE)))
        for i in range(SPANS_PER_TRACE):
            payload = {f"k{j}": round(rng.random(), 5) for j in range(KEYS_PER_VALUE)}
            attributes: dict[str, object] = {
                "tool.name": "metrics",
                "input.value": orjson.dumps({"ids": [rng.randrange(10**6) for _ in range(40)]}).decode(),
                "output.value": orjson.dumps(payload).decode(),
            }
            attributes.update({f"m.{j}": round(rng.uniform(-1e3, 1e3), 3) for j in range(NUMERIC_ATTRIBUTES)})
            spans.append(
                span(
                    trace,
                    f"{trace}-s{i:02d}",
                    f"{trace}-root",
                    name="score",
                    kind="TOOL",
                    start=i,
                    end=i + 0.5,
                    attributes=attributes,
                )
            )
    return spans


def write(path: Path = TARGET) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jsonl(*dense_spans()))
    return path


if __name__ == "__main__":
    print(write())
