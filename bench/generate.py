"""Large realistic trace files for the benchmarks: re-keyed copies of the fixture traces.

Every copy of a source trace gets a fresh trace id, fresh span ids (parent links
kept) and times shifted forward, so the output is a valid HALO JSONL file of
many distinct traces with the size and content mix of real ones.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import defaultdict
from datetime import UTC
from pathlib import Path

import orjson

__all__ = ["SOURCES", "generate"]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    ROOT / "tests/fixtures/halo/medium_traces.jsonl",
    ROOT / "tests/fixtures/halo/realistic_traces.jsonl",
    ROOT / "tests/fixtures/halo/tiny_traces.jsonl",
)
_SHIFT_NS = 37_000_000_000  # each copy starts 37 s after the previous one


def _load_traces(sources: tuple[Path, ...]) -> list[list[dict]]:
    traces: dict[tuple[Path, str], list[dict]] = defaultdict(list)
    for src in sources:
        for line in src.read_bytes().splitlines():
            if line.strip():
                obj = orjson.loads(line)
                traces[(src, obj["trace_id"])].append(obj)
    return list(traces.values())


def _iso_shift(text: str, ns: int) -> str:
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    frac = int(text[20:29]) + ns % 1_000_000_000
    moved = base + timedelta(seconds=ns // 1_000_000_000 + frac // 1_000_000_000)
    return moved.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac % 1_000_000_000:09d}Z"


def generate(out: Path, size_bytes: int, sources: tuple[Path, ...] = SOURCES) -> Path:
    """Write `out` (HALO JSONL) until it holds at least `size_bytes`; reuse it if it already does."""
    if out.exists() and out.stat().st_size >= size_bytes:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    traces = _load_traces(sources)
    tmp = out.with_suffix(".tmp")
    written = copy = 0
    with open(tmp, "wb") as f:
        while written < size_bytes:
            for spans in traces:
                seed = hashlib.blake2b(f"{copy}:{spans[0]['trace_id']}".encode(), digest_size=16).hexdigest()
                ids = {s["span_id"]: f"{seed[:8]}{i:08x}" for i, s in enumerate(spans)}
                shift = copy * _SHIFT_NS
                lines = []
                for s in spans:
                    s = dict(s, trace_id=seed, span_id=ids[s["span_id"]])
                    if s.get("parent_span_id"):
                        s["parent_span_id"] = ids.get(s["parent_span_id"], s["parent_span_id"])
                    for key in ("start_time", "end_time"):
                        if isinstance(s.get(key), str) and len(s[key]) == 30:
                            s[key] = _iso_shift(s[key], shift)
                    lines.append(orjson.dumps(s))
                block = b"\n".join(lines) + b"\n"
                f.write(block)
                written += len(block)
                copy += 1
                if written >= size_bytes:
                    break
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mb", type=int, default=1024, help="size in MB (default 1024)")
    args = parser.parse_args(argv)
    path = generate(args.out, args.mb << 20)
    print(f"{path}: {path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
