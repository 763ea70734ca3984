"""A chDB source through the real CLI and the real MCP stdio client answers as the same spans in a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

pytest.importorskip("chdb", reason="the `clickhouse` extra (chdb) is not installed")

from support.contexts import without_keys
from support.otel_clickhouse import exporter_rows, filled_chdb, halo_lines

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "halo"
# What differs by design between the two: where the spans sit, the source's freshness, run time.
_PLACE_KEYS = {
    "files",
    "file",
    "freshness",
    "file_list",
    "path",
    "shapes",
    "files_total",
    "duration_s",
    "computed_in_source",
}




@pytest.fixture
def source(tmp_path: Path) -> tuple[str, Path]:
    """(chdb URL, HALO file of the same spans)."""
    rows = exporter_rows([FIXTURES / "realistic_traces.jsonl"])
    url = filled_chdb(tmp_path / "chdb", rows)
    ref = tmp_path / "traces" / "same.jsonl"
    ref.parent.mkdir()
    ref.write_bytes(halo_lines(rows))
    return url, ref


CALLS = {
    "overview": {},
    "query": {"has_errors": True, "sort": "errors", "descending": True},
    "search": {"pattern": "error", "ignore_case": True},
    "view_trace": {"trace_id": "301d90d19c94485992997d1cd96bacfd"},
    "view_spans": {"trace_id": "301d90d19c94485992997d1cd96bacfd", "span_ids": ["820dc76fc800459bb19ec10c"]},
    "patterns": {},
    "run_code": {"code": "len(spans)"},
}


async def _answers(params) -> dict[str, Any]:
    out = {}
    async with Client(params) as client:
        for name, args in CALLS.items():
            with anyio.fail_after(90):
                result = await client.call_tool(name, args)
            assert not result.is_error, (name, result.content[0].text)
            out[name] = result
    return out


async def test_every_trace_tool_answers_on_chdb_as_on_the_file(source, tmp_path: Path, stdio_params) -> None:
    url, ref = source
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    on_source = await _answers(stdio_params(tmp_path / "a", url))
    on_file = await _answers(stdio_params(tmp_path / "b", str(ref)))
    for name in CALLS:
        got, want = (without_keys(a[name].structured_content, _PLACE_KEYS) for a in (on_source, on_file))
        assert got == want, name
        assert on_source[name].content[0].text.splitlines()[-1].startswith(f"freshness: {url}: fetched ")
        assert on_source[name].structured_content["freshness"][0].endswith("complete")
    [pushed] = on_source["overview"].structured_content["computed_in_source"]
    want = on_file["overview"].structured_content
    for key in ("spans", "traces", "error_spans", "error_traces", "trace_duration_ms"):
        assert pushed[key] == want[key], key
    assert [(t["tool"], t["calls"], t["errors"]) for t in pushed["tools"]] == [
        (t["tool"], t["calls"], t["errors"]) for t in want["tools"]
    ]


def test_the_cli_overview_of_chdb_matches_the_file(source, tmp_path: Path) -> None:
    url, ref = source

    def overview(spec: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "halo_mcp", "overview", "--json", spec],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    got, want = overview(url), overview(str(ref))
    assert got["spans"] == 58 and without_keys(got, _PLACE_KEYS) == without_keys(want, _PLACE_KEYS)
    assert got["freshness"][0].startswith(url)


def test_the_cli_names_a_bad_source_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "overview", f"chdb://{tmp_path}/nothing"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr.strip() == f"halo-mcp: chdb://{tmp_path}/nothing: no chDB database directory at {tmp_path}/nothing"
    )


async def test_a_client_cannot_make_the_server_fetch_a_url(source, tmp_path: Path, stdio_params) -> None:
    url, ref = source
    async with Client(stdio_params(tmp_path, str(ref.parent))) as client:
        for spec in (url, "clickhouse://169.254.169.254:8123/default"):
            with anyio.fail_after(60):
                result = await client.call_tool("overview", {"dataset": spec})
            assert result.is_error
            assert "source URL this server was not started with (allowed: none)" in result.content[0].text


def test_diagnose_on_chdb_names_the_source_and_its_freshness(source, tmp_path: Path) -> None:
    url, _ = source
    done = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "diagnose", url],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Dataset: `{url}: fetched " in done.stdout and "complete`" in done.stdout
