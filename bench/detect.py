"""`python -m bench.detect`: recall and precision of the failure detectors, per class.

The labelled set has two parts (both in `bench/detect_data/`):
- `smolagents.jsonl`: runs of the real smolagents agents with one injected failure
  each (or none), exported by the real OpenInference instrumentation, labelled at the
  model call where the failure was injected (`detect_smolagents.py` writes them);
- `openai_agents.jsonl`: the same kind of runs of the real OpenAI Agents SDK, exported
  by its own tracing (`detect_openai_agents.py`); `--regenerate` reruns both, which
  needs the `[bench]` extra;
- `hand_labels.json`: labels written by hand for the shared traces copied into
  `tests/fixtures/` (TRAIL, HALO, any-agent).

Every trace of the set is labelled in full, so a flag on an unlabelled span counts
against precision. A detector's flag counts for the class of its pattern kind
(`analytics.CLASS_OF_KIND`), on the span it flags (the decision span). The detectors
never read these files: nothing in `engine/` knows a label or a fixture's wording.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from engine.traces.analytics import CLASS_OF_KIND, FAILURE_CLASSES, analyze
from engine.traces.dataset import Dataset

__all__ = ["main", "score"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "detect_data"

Key = tuple[str, str]


def _predicted(paths: list[Path]) -> dict[int, set[Key]]:
    out: dict[int, set[Key]] = defaultdict(set)
    for p in analyze(Dataset.open(paths)).patterns:
        out[CLASS_OF_KIND[p.kind]] |= {(f.trace_id, f.span_id) for f in p.flagged}
    return out


def _labels(items: list[dict]) -> dict[int, set[Key]]:  # type: ignore[type-arg]
    out: dict[int, set[Key]] = defaultdict(set)
    for item in items:
        out[int(item["class"])].add((item["trace_id"], item["span_id"]))
    return out


def _sets() -> list[tuple[str, list[Path], dict[int, set[Key]]]]:
    sets = []
    for name in ("smolagents", "openai_agents"):
        generated = DATA / f"{name}.jsonl"
        if generated.exists():
            labels = json.loads((DATA / f"{name}_labels.json").read_text())
            sets.append((f"{name} (injected)", [generated], _labels(labels)))
    hand = json.loads((DATA / "hand_labels.json").read_text())
    for rel, items in hand["files"].items():
        sets.append((f"hand: {rel}", [ROOT / rel], _labels(items)))
    return sets


def score(predicted: dict[int, set[Key]], labels: dict[int, set[Key]]) -> dict[int, tuple[int, int, int]]:
    """class -> (true positives, labelled, flagged)."""
    return {c: (len(predicted[c] & labels[c]), len(labels[c]), len(predicted[c])) for c in FAILURE_CLASSES}


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def _table(title: str, counts: dict[int, tuple[int, int, int]]) -> list[str]:
    lines = [title, f"  {'class':<48} {'labels':>6} {'flags':>6} {'hits':>5} {'recall':>7} {'precision':>9}"]
    for c, (hit, labelled, flagged) in counts.items():
        name = f"{c} {FAILURE_CLASSES[c]}"
        lines.append(
            f"  {name:<48} {labelled:>6} {flagged:>6} {hit:>5} {_ratio(hit, labelled):>7} {_ratio(hit, flagged):>9}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help="rerun the smolagents scenarios first")
    args = parser.parse_args(argv)
    if args.regenerate:
        from bench import detect_openai_agents, detect_smolagents

        detect_smolagents.generate(DATA)
        detect_openai_agents.generate(DATA)
    total: dict[int, list[int]] = {c: [0, 0, 0] for c in FAILURE_CLASSES}
    out: list[str] = []
    for title, paths, labels in _sets():
        counts = score(_predicted(paths), labels)
        out += [*_table(title, counts), ""]
        for c, values in counts.items():
            total[c] = [a + b for a, b in zip(total[c], values, strict=True)]
    out += _table("all labelled sets", {c: (v[0], v[1], v[2]) for c, v in total.items()})
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
