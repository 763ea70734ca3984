"""Data-layer benchmark: `python -m bench [--mb 1024] [--dataset halo|mixed|both]` prints build
speed, reopen, overview, views, search.

Each phase runs in a fresh child process so imports, page cache warm-up of our
own objects and memory of one phase do not flatter the next; build memory is the
child's peak RSS (VmHWM) plus its worker processes' peak. Numbers on a shared
machine are noisy: run twice and read the better one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"

# Targets from the issue (2-core machine) and the reference numbers quoted there.
# The targets of issue 12 (the data layer on Arrow), per dataset: figure -> (op, value, note).
TARGETS: dict[str, dict[str, tuple[str, float, str]]] = {
    "halo": {
        "build_mb_s": (">=", 67.0, "5x halo-engine 0.3.5's 13.4 MB/s"),
        "reopen_ms_per_1m_spans": ("<=", 10.0, "HALO: 1.6 s"),
        "overview_ms": ("<=", 20.0, "HALO: 500 ms"),
        "view_trace_p50_ms": ("<=", 1.0, ""),
        "build_peak_rss_mb": ("<=", 1024.0, "on 1 GB; HALO: 510 MB on 200 MB"),
    },
    "mixed": {  # the two targets for a folder of 20,000 small files (`--mb 1024`)
        "build_mb_s": (">=", 60.0, "a folder of small files of every shape"),
        "reopen_ms": ("<=", 100.0, ""),
    },
}
# Side by side, a later checkout's build speed over the first one's (the main before a change).
BUILD_RATIO_MIN = 0.8

VIEW_SAMPLES = 300
# Reopens measured, each in a fresh process (one is the query process's): a single one is noise on a shared machine.
REOPEN_SAMPLES = 5


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_rss_mb() -> float:
    """Resident memory of this process and all its descendants, now."""
    total = 0
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


class _RssSampler(threading.Thread):
    """Samples the process tree's resident memory every few ms; `peak` is the largest sum seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, _tree_rss_mb())


def _cpu_ticks() -> list[int]:
    """Machine-wide CPU time so far by kind (/proc/stat: user, nice, system, idle, iowait, irq, softirq, steal).

    Empty where there is no /proc/stat. Steal is time the hypervisor gave this
    VM's CPUs to someone else: wall-clock figures cannot beat it.
    """
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def child_build(path: Path, cache: Path, workers: int | None) -> dict[str, Any]:
    """Index one file (with `workers`) or a folder (as `Dataset.open` does: file by file, default workers)."""
    from engine.traces.dataset import Dataset
    from engine.traces.index.segments import Builder, ensure_segment

    sampler = _RssSampler()
    sampler.start()
    ticks = _cpu_ticks()
    started = time.perf_counter()
    cpu_started = time.process_time()
    if path.is_dir():
        with Builder() as builder:
            n_workers = builder.workers
        ds = Dataset.open([path], cache_dir=cache)
        spans, traces, malformed = ds.n_spans, ds.n_traces, sum(f.malformed for f in ds.files)
        size, files = sum(f.size for f in ds.files), len(ds.files)
        ds.close()
    else:
        with Builder(workers) as builder:
            seg = ensure_segment(path, cache, builder=builder)
        n_workers, spans, traces, malformed = builder.workers, seg.spans, seg.traces, seg.meta["malformed"]
        size, files = path.stat().st_size, 1
    seconds = time.perf_counter() - started
    ticks = [b - a for a, b in zip(ticks, _cpu_ticks(), strict=True)]
    sampler.stop.set()
    sampler.join()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu = time.process_time() - cpu_started
    cpu = main_cpu + children.ru_utime + children.ru_stime
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "main_cpu_seconds": main_cpu,
        "spans": spans,
        "traces": traces,
        "bytes": size,
        "files": files,
        "main_rss_mb": _vmhwm_mb(),
        "tree_rss_peak_mb": sampler.peak,
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "workers": n_workers,
        "malformed": malformed,
        # shares of the machine's CPU time during the build
        "idle_share": (ticks[3] + ticks[4]) / sum(ticks) if ticks and sum(ticks) else None,
        "steal_share": ticks[7] / sum(ticks) if ticks and sum(ticks) else None,
    }


def _reopen(path: Path, cache: Path) -> tuple[Any, float]:
    """The dataset reopened from its built index, and the seconds that took."""
    from engine.traces.dataset import Dataset

    t0 = time.perf_counter()
    ds = Dataset.open([path], cache_dir=cache)
    seconds = time.perf_counter() - t0
    assert all(f.index == "fresh" for f in ds.files), "the index was rebuilt instead of reopened"
    return ds, seconds


def child_reopen(path: Path, cache: Path) -> dict[str, Any]:
    """One reopen in a fresh process: what a client's new session pays before its first answer."""
    return {"reopen_s": _reopen(path, cache)[1]}


def child_query(path: Path, cache: Path) -> dict[str, Any]:
    import numpy as np

    from engine.traces import store

    ds, reopen = _reopen(path, cache)

    t0 = time.perf_counter()
    ov = store.overview(ds)
    overview_ms = (time.perf_counter() - t0) * 1e3

    rng = random.Random(7)
    picks = [rng.randrange(ds.n_traces) for _ in range(VIEW_SAMPLES)]
    ids = [ds.traces.trace_id[t] for t in picks]
    times = []
    for trace_id in ids:
        t0 = time.perf_counter()
        store.view_trace(ds, trace_id)
        times.append((time.perf_counter() - t0) * 1e3)

    t0 = time.perf_counter()
    page = store.query_traces(ds, store.TraceFilter(has_errors=True), sort="duration", descending=True, limit=20)
    query_ms = (time.perf_counter() - t0) * 1e3

    t0 = time.perf_counter()
    store.search(ds, "rate limit|timeout", trace_id=ids[0], ignore_case=True)
    search_trace_ms = (time.perf_counter() - t0) * 1e3

    t0 = time.perf_counter()
    everywhere = store.search(ds, "rate limited", limit=20, timeout_s=60)
    search_all_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    details = store.get_spans(ds, ids[1], [v.span_id for v in store.view_trace(ds, ids[1])][:5])
    get_spans_ms = (time.perf_counter() - t0) * 1e3

    return {
        "spans": ds.n_spans,
        "traces": ds.n_traces,
        "reopen_s": reopen,
        "overview_ms": overview_ms,
        "error_signatures": len(ov.error_signatures),
        "view_trace_p50_ms": float(np.percentile(times, 50)),
        "view_trace_p95_ms": float(np.percentile(times, 95)),
        "query_errors_by_duration_ms": query_ms,
        "query_total": page.total,
        "search_one_trace_ms": search_trace_ms,
        "search_all_s": search_all_s,
        "search_all_matches": everywhere.total_matches,
        "search_all_truncated": everywhere.truncated_by_time,
        "get_spans_5_ms": get_spans_ms,
        "details": len(details),
        "rss_mb": _vmhwm_mb(),
    }


def _python(repo: Path) -> str:
    """The interpreter of a checkout: its .venv when it has one (so it runs its own install), else this one."""
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if repo != ROOT and venv.exists() else sys.executable


def _in_child(phase: str, *args: str, repo: Path = ROOT) -> dict[str, Any]:
    proc = subprocess.run(
        [_python(repo), "-m", "bench.run", "--child", phase, *args],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(kind: str, name: str, value: float) -> str:
    op, target, reference = TARGETS[kind][name]
    ok = value >= target if op == ">=" else value <= target
    ref = f"  ({reference})" if reference else ""
    return f"  {name:<26} {value:>10.3f}   target {op} {target:<8} {'OK' if ok else 'MISSED'}{ref}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--mb", type=int, default=1024, help="size of the generated HALO JSONL file (default 1024)")
    parser.add_argument("--workers", type=int, default=None, help="build worker processes (default: CPU count)")
    parser.add_argument("--dataset", choices=("halo", "mixed", "both"), default="both",
                        help="HALO-only file (worst case), mixed folder of every shape, or both (default)")
    parser.add_argument("--keep-cache", action="store_true", help="reuse the index built by an earlier run")
    parser.add_argument("--repo", action="append", type=Path, default=None,
                        help="checkout to measure (repeat to compare side by side on the same data, phases "
                        "alternating; each runs its own .venv if it has one); default this checkout")
    parser.add_argument("--rounds", type=int, default=1, help="with --repo: measure every checkout this many times")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        phase, path, cache, *rest = args.child
        if phase == "build":
            out = child_build(Path(path), Path(cache), int(rest[0]) if rest and rest[0] != "None" else None)
        elif phase == "reopen":
            out = child_reopen(Path(path), Path(cache))
        else:
            out = child_query(Path(path), Path(cache))
        print(json.dumps(out))
        return 0

    from bench.generate import generate
    from bench.mixed import dataset_bytes, generate_mixed

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work makes numbers noisy)")
    if args.dataset in ("halo", "both"):
        path = DATA / f"halo_{args.mb}mb.jsonl"
        t0 = time.perf_counter()
        generate(path, args.mb << 20)
        print(
            f"data: {path} ({path.stat().st_size / 1e6:,.0f} MB, ready in {time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
        )
        print("\n== HALO-only: one HALO JSONL file, the smallest spans (worst case for the build) ==")
        _compare("halo", path, f"cache_{args.mb}mb", args.workers, args)
    if args.dataset in ("mixed", "both"):
        folder = DATA / f"mixed_{args.mb}mb"
        t0 = time.perf_counter()
        generate_mixed(folder, args.mb << 20)
        size, files = dataset_bytes(folder)
        print(
            f"data: {folder} ({size / 1e6:,.0f} MB in {files:,} files, ready in {time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
        )
        print(f"\n== mixed: every fixture shape re-keyed, {files:,} files "
              f"(JSONL per line-based shape + many small JSON documents; bench/mixed.py SHARES) ==")
        try:
            _compare("mixed", folder, f"cache_mixed_{args.mb}mb", None, args)
        except SystemExit as exc:  # e.g. too many open files: say so, keep the HALO figures above
            print(f"mixed FAILED: {str(exc).strip().splitlines()[-1]}")
            return 1
    return 0


def _compare(kind: str, path: Path, cache_name: str, workers: int | None, args: argparse.Namespace) -> None:
    """`_run_dataset` for each checkout of `--repo` (rounds alternating), then the figures side by side."""
    repos = [r.resolve() for r in args.repo] if args.repo else [ROOT]
    if len(repos) == 1 and args.rounds == 1:
        _run_dataset(kind, path, DATA / cache_name, workers, args.keep_cache, repos[0])
        return
    rows: dict[Path, list[dict[str, float]]] = {r: [] for r in repos}
    for round_no in range(args.rounds):
        for i, repo in enumerate(repos):
            print(f"\n-- {repo} (round {round_no + 1}) --")
            rows[repo].append(
                _run_dataset(kind, path, DATA / f"{cache_name}_repo{i}", workers, args.keep_cache, repo)
            )
    print("\nside by side (each figure: the best of the rounds):")
    names = list(next(iter(rows.values()))[0])
    print(f"  {'':<24}" + "".join(f"{r.name:>18}" for r in repos))
    best_of: dict[Path, dict[str, float]] = {}
    for name in names:
        best = max if name in _HIGHER_IS_BETTER else min
        for r in repos:
            best_of.setdefault(r, {})[name] = best(run[name] for run in rows[r])
        print(f"  {name:<24}" + "".join(f"{best_of[r][name]:>18.3f}" for r in repos))
    print(f"targets ({kind}, the best of the rounds):")
    first = repos[0]
    for r in repos:
        print(f"  {r.name}:")
        for name in TARGETS[kind]:
            print("  " + _check(kind, name, best_of[r][name]))
        if r != first:
            ratio = best_of[r]["build_mb_s"] / best_of[first]["build_mb_s"]
            verdict = "OK" if ratio >= BUILD_RATIO_MIN else "MISSED"
            print(f"    {'build vs ' + first.name:<26} {ratio:>10.2f}x  target >= {BUILD_RATIO_MIN}x     {verdict}")


_HIGHER_IS_BETTER = frozenset({"build_mb_s", "build_mb_per_cpu_s"})


def _run_dataset(
    kind: str, path: Path, cache: Path, workers: int | None, keep_cache: bool, repo: Path = ROOT
) -> dict[str, float]:
    """Build then query one dataset (a file or a folder) in fresh child processes of `repo`; print the figures."""
    if not keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"load average now {os.getloadavg()[0]:.2f}")
    build = _in_child("build", str(path), str(cache), str(workers), repo=repo)
    mb = build["bytes"] / 1e6
    mb_s = mb / build["seconds"]
    peak = build["tree_rss_peak_mb"]
    print(f"build: {mb:,.0f} MB in {build['files']:,} files, {build['spans']:,} spans, {build['traces']:,} traces "
          f"in {build['seconds']:.1f} s = {mb_s:.1f} MB/s, {build['spans'] / build['seconds']:,.0f} spans/s "
          f"({build['workers']} workers, {build['malformed']} malformed)")
    cpus = min(build["workers"], os.cpu_count() or 1)
    print(f"build CPU: {build['cpu_seconds']:.1f} s = {mb / build['cpu_seconds']:.1f} MB per CPU-second, "
          f"{build['cpu_seconds'] / build['spans'] * 1e6:.1f} us per span "
          f"(on {cpus} idle CPUs at most {cpus * mb / build['cpu_seconds']:.0f} MB/s); "
          f"{build['main_cpu_seconds']:.1f} s of it in the main process (split, merge, write)")
    if build["steal_share"] is not None:
        print(f"machine CPU time during the build: {build['idle_share']:.0%} idle, "
              f"{build['steal_share']:.0%} stolen by the hypervisor (given to other VMs)")
    print(f"build memory: {peak:.0f} MB peak of main + workers together (sampled every 20 ms); "
          f"main alone {build['main_rss_mb']:.0f} MB, largest worker {build['worker_rss_mb']:.0f} MB")
    print(f"load average after the build {os.getloadavg()[0]:.2f}")

    q = _in_child("query", str(path), str(cache), repo=repo)
    reopens = sorted([q["reopen_s"], *(_in_child("reopen", str(path), str(cache), repo=repo)["reopen_s"]
                                       for _ in range(REOPEN_SAMPLES - 1))])  # fmt: skip
    q["reopen_s"] = reopens[0]
    per_million = q["reopen_s"] / (q["spans"] / 1e6)
    print(f"reopen: {q['reopen_s'] * 1e3:.1f} ms for {q['spans']:,} spans ({per_million * 1e3:.1f} ms per 1M spans); "
          f"the best of {len(reopens)} fresh processes, median {reopens[len(reopens) // 2] * 1e3:.1f} ms")
    print(f"overview: {q['overview_ms']:.1f} ms ({q['error_signatures']} error signatures)")
    print(
        f"view_trace: p50 {q['view_trace_p50_ms']:.2f} ms, p95 {q['view_trace_p95_ms']:.2f} ms"
        f" ({VIEW_SAMPLES} random traces)"
    )
    print(
        f"query has_errors sorted by duration: {q['query_errors_by_duration_ms']:.1f} ms ({q['query_total']:,} traces)"
    )
    print(f"get_spans (5 spans): {q['get_spans_5_ms']:.1f} ms")
    print(f"search in one trace: {q['search_one_trace_ms']:.1f} ms; whole dataset: {q['search_all_s']:.2f} s "
          f"({q['search_all_matches']:,} matches{', TRUNCATED' if q['search_all_truncated'] else ''})")
    print(f"query process peak RSS: {q['rss_mb']:.0f} MB")
    figures = {
        "build_mb_s": mb_s, "build_mb_per_cpu_s": mb / build["cpu_seconds"], "build_peak_rss_mb": peak,
        "reopen_ms": q["reopen_s"] * 1e3, "reopen_ms_per_1m_spans": per_million * 1e3, "overview_ms": q["overview_ms"],
        "view_trace_p50_ms": q["view_trace_p50_ms"], "view_trace_p95_ms": q["view_trace_p95_ms"],
        "query_ms": q["query_errors_by_duration_ms"], "search_all_s": q["search_all_s"],
        "query_rss_mb": q["rss_mb"], "cache_mb": _size_mb(cache),
    }  # fmt: skip
    print("targets:")
    for name in TARGETS[kind]:
        print(_check(kind, name, figures[name]))
    return figures


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


if __name__ == "__main__":
    sys.exit(main())
