"""`python -m bench.clickhouse [--spans N] [--local-spans M] [--dir DIR]`: push-down latency in chDB vs the local index.

Fills an `otel_traces` table (the collector exporter's DDL, `tests/support/otel_clickhouse.py`)
with N synthetic spans made by ClickHouse itself (`numbers()`: 10 spans per trace,
one tool span in four, one error in fifty, service and tool names from small sets),
then times, each three times (best shown):

- `pushdown.overview`, `pushdown.query_traces` (errors, sorted by duration; and a
  `match()` regex), `pushdown.search_spans`, `rollups.error_signatures` and
  `rollups.tool_rates` on all N spans, computed in ClickHouse;
- the same on the local index: the first M spans fetched through `chdb://` into the
  cache (`Dataset.open`), then `store.overview`, `store.query_traces`,
  `store_search.search` and `analyze` (signatures and tool rates come from it) on them.

Never run by the tests; prints numbers only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FILL = """
INSERT INTO otel.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT
    fromUnixTimestamp64Nano(toInt64(1777000000000000000 + number * 1000000)),
    lower(hex(MD5(toString(intDiv(number, 10))))),
    lower(hex(substring(MD5(toString(number)), 1, 8))),
    if(number % 10 = 0, '', lower(hex(substring(MD5(toString(number - number % 10)), 1, 8)))),
    if(number % 4 = 1,
       concat('function.', ['list_files', 'grep', 'read_file', 'web_search'][intDiv(number % 16, 4) + 1]), 'response'),
    'SPAN_KIND_INTERNAL',
    ['svc-a', 'svc-b', 'svc-c'][intDiv(number, 10) % 3 + 1],
    map('service.name', ['svc-a', 'svc-b', 'svc-c'][intDiv(number, 10) % 3 + 1]),
    if(number % 4 = 1,
       map('openinference.span.kind', 'TOOL',
           'tool.name', ['list_files', 'grep', 'read_file', 'web_search'][intDiv(number % 16, 4) + 1],
           'output.value', if(number % 50 = 1, 'Error: rate limit exceeded', 'ok')),
       map('openinference.span.kind', 'LLM', 'llm.token_count.prompt', toString(number % 700))),
    1000000 + (number * 7919) % 900000000,
    if(number % 50 = 1, 'STATUS_CODE_ERROR', 'STATUS_CODE_OK'),
    if(number % 50 = 1, 'rate limit exceeded', '')
FROM numbers({n})
"""


def best(fn: Callable[[], Any], times: int = 3) -> tuple[float, Any]:
    out, result = [], None
    for _ in range(times):
        started = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - started)
    return min(out), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse", description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in the chDB table (N)")
    parser.add_argument("--local-spans", type=int, default=200_000, help="spans fetched into the local index (M)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)

    from support.otel_clickhouse import create_table

    from engine.sources import clickhouse, pushdown, rollups
    from engine.sources.base import SourceURL
    from engine.traces import store
    from engine.traces.analytics import analyze
    from engine.traces.dataset import Dataset
    from engine.traces.store import grep as store_search

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-ch-"))
    db = work / "chdb"
    shutil.rmtree(db, ignore_errors=True)
    db.mkdir(parents=True)
    started = time.perf_counter()
    with clickhouse.chdb_session(db) as session:
        create_table(session)
        session.query(FILL.format(n=int(args.spans)))
    print(f"filled chDB with {args.spans:,} spans in {time.perf_counter() - started:.1f} s ({db})")
    url = SourceURL.parse(f"chdb://{db}?database=otel")

    with clickhouse.chdb_session(db):  # held for the timings, as a server keeps its connection
        t_ov, totals = best(lambda: pushdown.overview(url))
        t_q, (n_err, _) = best(lambda: pushdown.query_traces(url, has_errors=True, sort="duration", descending=True))
        t_re, (n_re, _) = best(lambda: pushdown.query_traces(url, pattern="(?i)rate.?limit", limit=20))
        t_s, (n_s, _) = best(lambda: pushdown.search_spans(url, "rate.?limit", ignore_case=True))
        t_sig, sigs = best(lambda: rollups.error_signatures(url))
        t_tr, rates = best(lambda: rollups.tool_rates(url))
    print(f"push-down on {totals.spans:,} spans / {totals.traces:,} traces:")
    print(f"  overview {t_ov * 1000:.0f} ms; query(errors, by duration) {t_q * 1000:.0f} ms ({n_err:,} traces); "
          f"query(match rate.?limit) {t_re * 1000:.0f} ms ({n_re:,} traces)")
    print(f"  search(rate.?limit) {t_s * 1000:.0f} ms ({n_s:,} spans); error signatures {t_sig * 1000:.0f} ms "
          f"({len(sigs)}); tool rates {t_tr * 1000:.0f} ms ({len(rates)} tools)")

    clickhouse.FETCH_MAX_SPANS = args.local_spans
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    ds = Dataset.open([str(url.display)], cache_dir=cache)
    t_fetch = time.perf_counter() - started
    t_lov, _ = best(lambda: store.overview(ds))
    t_lq, page = best(
        lambda: store.query_traces(ds, store.TraceFilter(has_errors=True), sort="duration", descending=True)
    )
    print(f"local index of the first {ds.n_spans:,} spans (fetch + index {t_fetch:.1f} s):")
    t_ls, found = best(lambda: store_search.search(ds, "rate.?limit", ignore_case=True))
    t_la, analytics = best(lambda: analyze(ds), times=1)
    print(f"  overview {t_lov * 1000:.0f} ms; query(errors, by duration) {t_lq * 1000:.0f} ms ({page.total:,} traces)")
    print(f"  search(rate.?limit) {t_ls * 1000:.0f} ms ({found.spans_matched:,} spans); analytics (signatures and "
          f"tool rates, first run) {t_la * 1000:.0f} ms ({len(analytics.tools)} tools)")
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
