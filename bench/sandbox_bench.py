"""run_code cost per call: `python -m bench.sandbox_bench [--calls 20] [--mb 200]`.

Prints p50 / p95 wall time of one run_code call, measured in the caller:
- cold: no spare child, so the call pays the interpreter start and the numpy /
  pandas / engine imports;
- warm: a spare child was started ahead for the same dataset (the default, one
  spare, started during the previous call) and had time to import, as between
  two calls of a model that thinks in between;
- back-to-back: calls with no pause, so a spare is often still importing;
for `1+1`, for a pandas groupby over the TRAIL fixture, and for the same groupby
over a generated HALO file of `--mb` megabytes (0 to skip). HALO's sandbox
(Deno + Pyodide) needs 6-10 s per cold call on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
TRAIL = ROOT / "tests" / "fixtures" / "trail"
GROUPBY = (
    "g = spans.groupby(['kind', 'tool_name'], observed=True).agg("
    "n=('span_id', 'size'), errors=('status', lambda s: (s == 'ERROR').sum()), "
    "ms=('duration_ms', 'median'))\n"
    "g.sort_values('n', ascending=False).head(10)"
)
WARM_PAUSE_S = 2.0


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered) * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   (n={len(ordered)})"


async def _measure(code: str, dataset: object, calls: int, mode: str) -> list[float]:
    from sandbox import Limits, run_code
    from sandbox.spawn import SPARES

    limits = Limits(warm_spares=0 if mode == "cold" else 1)
    SPARES.close()
    if mode != "cold":  # spares are started for the last call's view: one untimed call first
        await run_code(code, dataset=dataset, limits=limits)  # type: ignore[arg-type]
    samples = []
    for _ in range(calls):
        if mode == "warm":
            await anyio.sleep(WARM_PAUSE_S)
        started = time.perf_counter()
        result = await run_code(code, dataset=dataset, limits=limits)  # type: ignore[arg-type]
        samples.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"run_code failed: {result.error}")
    SPARES.close()
    return samples


def _big_dataset(mb: int, workdir: Path) -> object:
    from bench.generate import generate
    from engine.traces.dataset import Dataset

    existing = ROOT / "bench" / "data" / f"halo_{mb}mb.jsonl"
    path = existing if existing.exists() else generate(workdir / f"halo_{mb}mb.jsonl", mb << 20)
    started = time.perf_counter()
    ds = Dataset.open([path], cache_dir=workdir / "cache")
    print(f"  indexed {path.name}: {ds.n_spans} spans, {ds.n_traces} traces "
          f"in {time.perf_counter() - started:.1f} s (parent, once)")
    return ds


async def main_async(calls: int, mb: int) -> None:
    from engine.traces.dataset import Dataset
    from sandbox import protections_available

    print("run_code per-call cost (wall time in the caller)")
    print("  kernel layers: " + ", ".join(f"{k}={v}" for k, v in protections_available().items()))
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        workdir = Path(tmp)
        trail = Dataset.open([TRAIL], cache_dir=workdir / "cache")
        cases: list[tuple[str, str, object, list[str]]] = [
            ("1+1", "1+1", None, ["cold", "warm", "back-to-back"]),
            (f"groupby TRAIL ({trail.n_spans} spans)", GROUPBY, trail, ["cold", "warm"]),
        ]
        if mb:
            big = _big_dataset(mb, workdir)
            cases.append((f"groupby {mb} MB HALO ({big.n_spans} spans)", GROUPBY, big, ["warm"]))  # type: ignore[attr-defined]
        for label, code, dataset, modes in cases:
            for mode in modes:
                samples = await _measure(code, dataset, calls, mode)
                print(f"  {label:<40} {mode:<13} {_percentiles(samples)}")
    print("  reference: HALO (Deno + Pyodide) 6-10 s per cold call here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per measurement")
    parser.add_argument("--mb", type=int, default=200, help="size of the big HALO file (0: skip)")
    args = parser.parse_args(argv)
    anyio.run(main_async, args.calls, args.mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
