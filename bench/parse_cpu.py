"""Worker CPU per span of the HALO fast path: `python -m bench.parse_cpu [--mb 64] [--repeat 3] [--profile]`.

Times `parse.parse_range` in this process (no workers, no merging) on the first
`--mb` MB of `bench/data/halo_200mb.jsonl` with `time.process_time`, and prints
microseconds of CPU per span and MB per CPU-second (best of `--repeat`).
With `--profile`, prints the cProfile top functions of one more run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from engine.traces.index.parse import parse_range, split_at_newlines

DATA = Path(__file__).resolve().parent / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", default=str(DATA / "halo_200mb.jsonl"))
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    path = Path(args.file)
    (start, cut), *_ = split_at_newlines(path, 0, path.stat().st_size, args.mb << 20)
    size = (cut or path.stat().st_size) - start
    parse_range(str(path), "halo", start, cut, True)  # warm caches (page cache, plan caches)
    best = float("inf")
    n = 0
    for _ in range(args.repeat):
        t0 = time.process_time()
        piece = parse_range(str(path), "halo", start, cut, True)
        best = min(best, time.process_time() - t0)
        n = piece.n
        del piece
    per_span, rate = best * 1e6 / n, size / 1e6 / best
    print(f"{size / 1e6:.1f} MB, {n:,} spans: {per_span:.2f} us CPU per span, {rate:.1f} MB per CPU-second")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        parse_range(str(path), "halo", start, cut, True)
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
