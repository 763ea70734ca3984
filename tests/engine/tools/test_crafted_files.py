"""One crafted file never makes its directory unusable: it is reported and skipped, the others served (issue 16: 7)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from support.halo_lines import jsonl, span

from engine.traces.dataset import Dataset

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[2] / "fixtures"
_OPENAI = FIXTURES / "any_agent" / "OPENAI_trace.json"


def _crafted(directory: Path) -> dict[str, Path]:
    """The good any-agent files and three crafted ones, in `directory`."""
    directory.mkdir()
    for f in (FIXTURES / "any_agent").glob("*_trace.json"):
        shutil.copy(f, directory)
    text = _OPENAI.read_text()
    first_cost = '"gen_ai.usage.input_cost": 0.0000269'
    assert first_cost in text and '"start_time": 1758026593210770000' in text
    out = {
        "cost": directory / "BIGCOST_trace.json",
        "time": directory / "DEEPTIME_trace.json",
        "attrs": directory / "DEEPATTRS_trace.json",
    }
    out["cost"].write_text(text.replace(first_cost, '"gen_ai.usage.input_cost": ' + "9" * 400, 1))
    deep_time = "[" * 1000 + "1" + "]" * 1000
    out["time"].write_text(text.replace('"start_time": 1758026593210770000', f'"start_time": {deep_time}', 1))
    deep = "[" * 5000 + "]" * 5000
    out["attrs"].write_text(text.replace('"attributes": {', f'"attributes": {{"deep": {deep}, ', 1))
    return out


def _good_traces() -> int:
    return Dataset.open([FIXTURES / "any_agent"]).n_traces


async def test_a_directory_with_crafted_any_agent_files_is_served(tmp_path: Path, context_for, tool) -> None:
    directory = tmp_path / "traces"
    _crafted(directory)
    ctx = context_for(directory)
    overview = await tool("overview", ctx)
    assert overview.result.traces >= _good_traces()
    query = await tool("query", ctx)
    assert query.result.total >= _good_traces()
    search = await tool("search", ctx, pattern="America/New_York")
    assert search.result.total_matches > 0


def test_the_huge_cost_is_dropped_not_fatal(tmp_path: Path) -> None:
    files = _crafted(tmp_path / "traces")
    ds = Dataset.open([files["cost"]])
    assert ds.n_spans == Dataset.open([_OPENAI]).n_spans
    assert ds.traces.cost[0] == ds.traces.cost[0]  # the other costs still add up (not NaN)


def test_deep_nesting_is_a_reported_malformed_record(tmp_path: Path) -> None:
    files = _crafted(tmp_path / "traces")
    ds = Dataset.open([tmp_path / "traces"])
    notes = " ".join(ds.quality.malformed_samples + ds.quality.skipped_files)
    for name in ("time", "attrs"):
        assert files[name].name in notes
    assert "nested too deeply" in notes


def test_halo_lines_nested_thousands_deep_are_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    deep_time = span("t1", "b")
    deep_attrs = span("t1", "c")
    lines = [
        orjson.dumps(span("t1", "a")),
        orjson.dumps(deep_time).replace(orjson.dumps(deep_time["start_time"]), b"[" * 1000 + b"1" + b"]" * 1000),
        orjson.dumps(deep_attrs).replace(
            b'"attributes":{', b'"attributes":{"deep":' + b"[" * 5000 + b"]" * 5000 + b",", 1
        ),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n" + jsonl(span("t2", "d")))
    ds = Dataset.open([path])
    assert ds.n_spans == 2 and ds.quality.malformed_lines == 2


def test_index_of_the_directory_exits_cleanly_and_names_what_it_skipped(tmp_path: Path) -> None:
    directory = tmp_path / "traces"
    _crafted(directory)
    env = {"HALO_MCP_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "index", str(directory), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "DEEPTIME_trace.json" in proc.stdout and "DEEPATTRS_trace.json" in proc.stdout


def test_a_pack_of_small_files_with_crafted_ones_is_served_too(tmp_path: Path) -> None:
    directory = tmp_path / "traces"
    _crafted(directory)
    for i in range(16):
        (directory / f"h{i}.jsonl").write_bytes(jsonl(span(f"h{i}", "a")))
    ds = Dataset.open([directory])
    assert ds.n_traces >= 16 + _good_traces()
    assert len(ds.files) >= 16


def test_an_unforeseen_error_while_reading_a_file_names_the_file_and_is_no_crash() -> None:
    from engine.errors import UnreadableFileError
    from engine.traces.index.unreadable import guarded

    def pieces():  # a reader that breaks on its second piece
        yield 1
        raise ZeroDivisionError("division by zero")

    got = []
    with pytest.raises(
        UnreadableFileError, match=r"^/x/f.json: cannot be read \(ZeroDivisionError: division by zero\); skipped$"
    ):
        for item in guarded("/x/f.json", pieces()):
            got.append(item)
    assert got == [1]
    with pytest.raises(OSError):  # the cache's and the file's own I/O errors are said elsewhere
        for _ in guarded("/x/f.json", iter_raising(OSError(28, "No space left on device"))):
            pass


def iter_raising(exc: BaseException):  # type: ignore[no-untyped-def]
    raise exc
    yield  # pragma: no cover
