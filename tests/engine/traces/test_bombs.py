"""gzip bombs, endless lines and blank runs: bounded by named settings, and what was cut is said (issue 16: 6)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest
from support.halo_lines import jsonl, span

from engine.traces.dataset import Dataset
from engine.traces.readers import _source


def _gzip_of(path: Path, head: bytes, unit: bytes, total: int, tail: bytes = b"") -> Path:
    """A gzip file of `head`, then `total` bytes of `unit` repeated, then `tail` (compressed as it is made)."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(z.compress(head))
        block = unit * (1 << 20)
        for _ in range(total >> 20):
            f.write(z.compress(block))
        f.write(z.compress(tail))
        f.write(z.flush())
    return path


def test_the_bounds_are_named_settings_with_defaults() -> None:
    assert _source.MAX_DECOMPRESSED_BYTES >= 1 << 30
    assert _source.MAX_GZIP_RATIO >= 50
    assert _source.MAX_LINE_BYTES >= 16 << 20
    assert _source.GZIP_RATIO_GRACE_BYTES >= 1 << 20


def test_a_gzip_of_newlines_is_cut_at_the_ratio_bound_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_source, "GZIP_RATIO_GRACE_BYTES", 1 << 20)
    path = _gzip_of(tmp_path / "bomb.jsonl.gz", jsonl(span("t1", "a")), b"\n", 64 << 20, jsonl(span("t2", "b")))
    assert path.stat().st_size < 1 << 20
    ds = Dataset.open([path])
    assert ds.n_spans == 1  # the span after the bomb is never reached
    [note] = ds.quality.malformed_samples
    assert "gzip content cut after" in note and "MAX_GZIP_RATIO" in note


def test_a_gzip_past_the_size_bound_is_cut_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_source, "MAX_DECOMPRESSED_BYTES", 4 << 20)
    lines = jsonl(*[span(f"t{i}", "a") for i in range(20_000)])
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(lines))
    ds = Dataset.open([path])
    assert 0 < ds.n_spans < 20_000
    assert any("MAX_DECOMPRESSED_BYTES" in s for s in ds.quality.malformed_samples)


def test_one_endless_gzip_line_is_dropped_unread_and_the_next_lines_are_read(tmp_path: Path) -> None:
    """The setting comes from the environment (as a user would set it), in a real `halo-mcp index`."""
    head = jsonl(span("t1", "a"))
    path = _gzip_of(
        tmp_path / "long.jsonl.gz", head + b'{"trace_id": "', b"x", 8 << 20, b'"}\n' + jsonl(span("t2", "b"))
    )
    env = {
        "HALO_MCP_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
        "HALO_MCP_MAX_LINE_BYTES": str(1 << 20),
    }  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "index", str(path), "--json", "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = orjson.loads(proc.stdout)
    assert (out["spans"], out["malformed"]) == (2, 1)
    [note] = out["quality"]["malformed_samples"]
    size = len(b'{"trace_id": "') + (8 << 20) + len(b'"}')
    assert f":2: line of {size:,} bytes not read" in note and "MAX_LINE_BYTES" in note


@pytest.mark.parametrize("compressed", [False, True])
def test_blank_runs_are_skipped_and_counted_as_lines(tmp_path: Path, compressed: bool) -> None:
    data = jsonl(span("t1", "a")) + b"\n" * (4 << 20) + jsonl(span("t1", "b", "a")) + b"\n\n" + jsonl(span("t2", "c"))
    path = tmp_path / ("t.jsonl.gz" if compressed else "t.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    ds = Dataset.open([path])
    assert ds.n_spans == 3 and ds.quality.malformed_lines == 0
    lines = sorted(int(ds.spans.line[r]) for r in range(3))
    assert lines == [1, 2 + (4 << 20), 5 + (4 << 20)]
    if not compressed:
        assert ds.raw(ds.span_row("t2", "c"))["span_id"] == "c"


def test_a_gzip_document_past_the_bound_says_it_was_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_source, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    doc = orjson.dumps([span(f"t{i}", "a") for i in range(10_000)], option=orjson.OPT_INDENT_2)
    path = tmp_path / "doc.json.gz"
    path.write_bytes(gzip.compress(doc))
    ds = Dataset.open([path], shape="halo")
    assert any("MAX_DECOMPRESSED_BYTES" in s for s in ds.quality.malformed_samples), ds.quality.malformed_samples
