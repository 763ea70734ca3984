"""ClickHouse sources on the real ClickHouse engine in-process (chDB), with the collector exporter's schema.

The table is made by the exporter's DDL (`support.otel_clickhouse`) and filled
from the real HALO sample traces (tests/fixtures/halo, MIT, see its NOTICE),
written the way the exporter writes spans. No ClickHouse server runs here: the
`clickhouse://` path is tested only for an unreachable host (README says so).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.otel_clickhouse import create_table, exporter_rows, filled_chdb, halo_lines, insert_rows

from engine.errors import PathNotAllowedError, SourceError
from engine.sources import clickhouse, local
from engine.traces.dataset import Dataset
from halo_mcp.datasets import DatasetCatalog

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"


@pytest.fixture
def chdb_dir(tmp_path: Path) -> Path:
    filled_chdb(tmp_path / "chdb", exporter_rows([FIXTURES / "realistic_traces.jsonl"]))
    return tmp_path / "chdb"


def url_of(path: Path) -> str:
    return f"chdb://{path}?database=otel"


def test_a_fetched_table_reads_as_the_same_spans_in_a_file(chdb_dir: Path, tmp_path: Path) -> None:
    ref = tmp_path / "same.jsonl"
    ref.write_bytes(halo_lines(exporter_rows([FIXTURES / "realistic_traces.jsonl"])))
    with Dataset.open([url_of(chdb_dir)]) as ds, Dataset.open([ref]) as file_ds:
        assert (ds.n_spans, ds.n_traces) == (file_ds.n_spans, file_ds.n_traces) == (58, 3)
        fetched = sorted(ds.raw_text(r) for r in range(ds.n_spans))
        assert fetched == sorted(file_ds.raw_text(r) for r in range(file_ds.n_spans))
        [fresh] = ds.sources
        assert fresh.complete and fresh.source == url_of(chdb_dir) and fresh.fetches == 1
        assert ds.quality.sources == [fresh.line()] and "complete" in fresh.line()


def test_a_trace_read_in_two_batches_of_one_fetch_is_one_trace(
    chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse, "FETCH_BATCH_SPANS", 7)  # 58 spans of 3 traces: every trace cut
    with Dataset.open([url_of(chdb_dir)]) as ds:
        assert (ds.n_spans, ds.n_traces) == (58, 3) and ds.quality.traces_in_several_files == 0


def test_a_reopen_fetches_only_the_newer_spans(chdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "0")
    first = Dataset.open([url_of(chdb_dir)])
    assert first.n_spans == 58
    more = exporter_rows([FIXTURES / "medium_traces.jsonl"])[:300]
    shift = first.sources[0].newest_span_ns - min(r["Timestamp"] for r in more) + 1_000_000_000
    for r in more:  # spans that arrive later than every copied one
        r["Timestamp"] += shift
        r["Events.Timestamp"] = [t + shift for t in r["Events.Timestamp"]]
    with clickhouse.chdb_session(chdb_dir) as session:
        insert_rows(session, more)
    again = Dataset.open([url_of(chdb_dir)])
    assert again.n_spans == 358 and again.sources[0].fetches == 2 and again.sources[0].fetched_now
    assert again.quality.duplicate_span_ids == 0


def test_the_throttle_serves_the_copy_between_fetches(chdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    Dataset.open([url_of(chdb_dir)])
    with clickhouse.chdb_session(chdb_dir) as session:
        insert_rows(session, exporter_rows([FIXTURES / "tiny_traces.jsonl"]))
    ds = Dataset.open([url_of(chdb_dir)])
    assert ds.n_spans == 58 and not ds.sources[0].fetched_now and ds.sources[0].fetches == 1


def test_a_fetch_past_its_limit_says_incomplete_and_the_next_continues(
    chdb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse, "FETCH_MAX_SPANS", 25)
    monkeypatch.setattr(clickhouse, "FETCH_BATCH_SPANS", 7)
    monkeypatch.setenv(local.SOURCE_REFRESH_ENV, "3600")
    ds = Dataset.open([url_of(chdb_dir)])
    fresh = ds.sources[0]
    assert not fresh.complete and "INCOMPLETE" in fresh.line() and "of the 58 spans" in fresh.note
    assert 0 < ds.n_spans <= 25
    seen = ds.n_spans
    while not fresh.complete:  # an incomplete copy is continued whatever the throttle
        ds = Dataset.open([url_of(chdb_dir)])
        fresh = ds.sources[0]
        assert ds.n_spans > seen
        seen = ds.n_spans
    assert ds.n_spans == 58 and ds.quality.duplicate_span_ids == 0


def test_a_table_missing_columns_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "thin"
    path.mkdir()
    with clickhouse.chdb_session(path) as session:
        session.query(
            "CREATE TABLE default.otel_traces (TraceId String, SpanId String) ENGINE = MergeTree ORDER BY TraceId"
        )
    with pytest.raises(SourceError, match=r"chdb://.*thin: table default.otel_traces lacks the column\(s\) Timestamp"):
        Dataset.open([f"chdb://{path}"])


def test_bad_source_urls_are_errors_naming_the_url(tmp_path: Path, chdb_dir: Path) -> None:
    with pytest.raises(SourceError, match="no chDB database directory"):
        Dataset.open([f"chdb://{tmp_path}/absent"])
    with pytest.raises(SourceError, match=r"no table otel.spans"):
        Dataset.open([f"chdb://{chdb_dir}?database=otel&table=spans"])
    with pytest.raises(SourceError, match="not a plain ClickHouse identifier"):
        Dataset.open([f"chdb://{chdb_dir}?table=x;DROP"])
    with pytest.raises(SourceError, match=r"^clickhouse://127.0.0.1:9/otel: cannot connect"):
        Dataset.open(["clickhouse://127.0.0.1:9/otel?password=hunter2"])


def test_credentials_in_the_url_never_reach_a_message(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        Dataset.open(["clickhouse://127.0.0.1:9/otel?password=hunter2&table=otel_traces"])
    assert "hunter2" not in str(err.value)


def test_an_empty_table_is_an_error_not_an_empty_answer(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.mkdir()
    with clickhouse.chdb_session(path) as session:
        create_table(session, database="default")
    with pytest.raises(SourceError, match="holds no spans yet"):
        Dataset.open([f"chdb://{path}"])


def test_the_catalog_opens_only_source_urls_the_operator_named(chdb_dir: Path, tmp_path: Path) -> None:
    allowed = DatasetCatalog([url_of(chdb_dir)], cwd=tmp_path)
    assert allowed.open(None).n_spans == 58
    assert allowed.open(url_of(chdb_dir)).n_spans == 58
    with pytest.raises(PathNotAllowedError, match="source URL this server was not started with"):
        allowed.open(f"chdb://{chdb_dir}?database=other")
    with pytest.raises(PathNotAllowedError):
        DatasetCatalog([str(tmp_path)], cwd=tmp_path).open("clickhouse://169.254.169.254:8123/x")


def test_a_scheme_whose_package_is_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, chdb_dir: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_chdb(name: str, *args, **kwargs):  # the package absent, as in an install without the extra
        if name == "chdb" or name.startswith("chdb."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_chdb)
    with pytest.raises(SourceError, match=r"halo-mcp\[clickhouse\]|cannot open the chDB"):
        Dataset.open([url_of(chdb_dir)])


@pytest.mark.anyio
async def test_diagnose_without_a_model_reports_on_chdb_as_on_the_file(chdb_dir: Path, tmp_path: Path) -> None:
    from support.contexts import opening_context

    from engine.agents import DiagnoseConfig, diagnose
    from engine.llm import LLMConfig

    ref = tmp_path / "same.jsonl"
    ref.write_bytes(halo_lines(exporter_rows([FIXTURES / "realistic_traces.jsonl"])))
    config = DiagnoseConfig(llm=LLMConfig(), runs_dir=tmp_path / "runs")
    on_chdb = await diagnose("Why do runs fail?", opening_context(url_of(chdb_dir)), config)
    on_file = await diagnose("Why do runs fail?", opening_context(str(ref)), config)
    assert on_chdb.produced_by == "deterministic" and on_chdb.findings
    assert [(f.title, f.frequency.traces_affected) for f in on_chdb.findings] == [
        (f.title, f.frequency.traces_affected) for f in on_file.findings
    ]
    assert on_chdb.citations_failed == 0
