"""run_code's `sql`: one SELECT run read-only in the dataset's ClickHouse (chDB), its rows a DataFrame.

The statement is hostile: the lexer keeps it inside the wrapper's parentheses and
ClickHouse's `readonly = 1` refuses the table functions that reach files and hosts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.contexts import opening_context
from support.otel_clickhouse import exporter_rows, filled_chdb

from engine.errors import InvalidArgumentError, SourceError
from engine.sources.base import SourceURL
from engine.sources.bounded_sql import checked_select, select_rows
from engine.tools.registry import call_tool
from engine.tools.run_code import RunCodeResult
from engine.traces.dataset import Dataset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "halo"


@pytest.fixture(scope="module")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return filled_chdb(tmp_path_factory.mktemp("bounded") / "db", exporter_rows([FIXTURES / "realistic_traces.jsonl"]))


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        # closes the wrapper's parenthesis and comments out its `SETTINGS readonly = 1`
        ("SELECT * FROM file('/etc/hostname', 'LineAsString')) LIMIT 1 SETTINGS readonly = 0 --", "never opened"),
        ("SELECT 1 /* a comment */", "comments"),
        ("SELECT 1 # a comment", "comments"),
        ("SELECT 1; DROP TABLE otel.otel_traces", "one statement"),
        ("SELECT $$x$$", "heredoc"),
        ("SELECT (1", "parenthesis open"),
        ("SELECT 'unclosed", "never closed"),
        ("DROP TABLE otel.otel_traces", "one SELECT"),
        ("INSERT INTO otel.otel_traces SELECT * FROM otel.otel_traces", "one SELECT"),
        ("   ;  ", "empty"),
    ],
)
def test_a_statement_that_could_leave_its_wrapper_is_refused_with_why(statement: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        checked_select(statement)


def test_quotes_and_parentheses_inside_strings_are_text() -> None:
    statement = "SELECT ')' AS a, 'it''s -- not a comment' AS b, `odd) name` FROM t WHERE x = '\\') ;'"
    assert checked_select(statement + " ;") == statement


def test_clickhouse_refuses_file_and_url_table_functions(chdb_url: str) -> None:
    url = SourceURL.parse(chdb_url)
    for statement in (
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT * FROM (SELECT * FROM file('/etc/hostname', 'LineAsString') SETTINGS readonly = 0)",
    ):
        with pytest.raises(SourceError, match="readonly") as caught:
            select_rows(url, statement)
        assert url.display in str(caught.value)


def test_the_rows_and_column_names_come_back_capped(chdb_url: str) -> None:
    url = SourceURL.parse(chdb_url)
    by_name = "SELECT SpanName AS name, count() AS n FROM otel.otel_traces GROUP BY name ORDER BY n DESC"
    answer = select_rows(url, by_name)
    assert answer.columns == ["name", "n"] and not answer.truncated
    local = Dataset.open([chdb_url])
    assert sum(int(n) for _, n in answer.rows) == local.n_spans
    cut = select_rows(url, "SELECT SpanId FROM otel.otel_traces", limit=3)
    assert len(cut.rows) == 3 and cut.truncated


@pytest.mark.anyio
async def test_run_code_gets_the_select_as_the_sql_frame(chdb_url: str) -> None:
    from sandbox import run_code

    context = opening_context(chdb_url)
    context.run_code = run_code
    by_status = (
        "SELECT toString(StatusCode) AS status, count() AS n FROM otel.otel_traces GROUP BY status ORDER BY status"
    )
    code = "(list(sql.columns), int(sql.n.sum()), len(spans), int((spans.status == 'ERROR').sum()))"
    answer = await call_tool("run_code", context, {"code": code, "sql": by_status})
    result = answer.result
    assert isinstance(result, RunCodeResult) and result.ok, result
    columns, total, local_spans, local_errors = ast.literal_eval(result.value or "")
    assert columns == ["status", "n"] and total == local_spans
    assert any("rows from chdb://" in note for note in result.notes)

    errors_only = "SELECT count() AS n FROM otel.otel_traces WHERE StatusCode IN ('STATUS_CODE_ERROR', 'Error')"
    answer = await call_tool("run_code", context, {"code": "int(sql.n.sum())", "sql": errors_only})
    assert isinstance(answer.result, RunCodeResult) and answer.result.ok, answer.result
    assert int(answer.result.value or "-1") == local_errors


@pytest.mark.anyio
async def test_sql_on_a_dataset_of_files_says_what_it_needs() -> None:
    from sandbox import run_code

    context = opening_context(str(FIXTURES / "realistic_traces.jsonl"))
    context.run_code = run_code
    with pytest.raises(InvalidArgumentError, match="clickhouse:// or chdb://"):
        await call_tool("run_code", context, {"code": "1", "sql": "SELECT 1"})
