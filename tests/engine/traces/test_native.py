"""The C helpers of the piece builder give exactly what their Python paths give."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from support.odd_halo import odd_halo_lines

from engine.traces import fs, native
from engine.traces.build import Flag, _floats, _int8, _int64, _new_codes, int64_in_python, new_codes_in_python
from engine.traces.columns import StringColumn
from engine.traces.links import parent_rows_by_sorting
from engine.traces.model import SpanKind, SpanStatus

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
needs_native = pytest.mark.skipif(native.codes is None, reason="the C helpers are not compiled here")

TEXTS = ["", "a", "agent-a", "名前", "é", "😀", "x" * 300, "STATUS_CODE_OK", "tool\x00name", "\ud800"]


def test_the_c_extensions_are_compiled_where_a_c_compiler_and_python_headers_are() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if shutil.which(compiler) is None or not headers.exists() or os.environ.get("HALO_MCP_NATIVE") == "0":
        pytest.skip("no C compiler or Python headers here, or HALO_MCP_NATIVE=0: the Python paths run")
    assert native.halo_scan is not None, "engine/traces/csrc (engine.traces._native) was not compiled at install"
    assert fs.NATIVE, "engine/traces/csrc/dirscan.c (engine.traces._dirscan) was not compiled at install"


def _values(rng: random.Random, n: int) -> list[object]:
    return [rng.choice([*TEXTS, None, None, 7, 7.0, True]) for _ in range(n)]


@needs_native
@pytest.mark.parametrize("with_distinct", [True, False])
def test_codes_number_new_values_like_the_python_path(with_distinct: bool) -> None:
    rng = random.Random(3)
    index_c: dict[object, int] = {None: -1, "": -1} if with_distinct else {}
    index_py = dict(index_c)
    distinct_c: list[object] | None = [] if with_distinct else None
    distinct_py: list[object] | None = [] if with_distinct else None
    for _ in range(50):  # blocks after blocks: the index carries over
        values = _values(rng, rng.randrange(0, 40))
        got = _new_codes(index_c, distinct_c, values)
        assert got.dtype == np.int32 and got.flags.writeable
        assert got.tolist() == new_codes_in_python(index_py, distinct_py, values).tolist()
        assert index_c == index_py and list(index_c) == list(index_py)
        assert distinct_c == distinct_py


@needs_native
def test_codes_refuse_unhashable_values_like_a_dict() -> None:
    with pytest.raises(TypeError):
        _new_codes({}, None, ["a", ["not", "hashable"]])


@needs_native
def test_string_columns_are_laid_out_like_the_python_path() -> None:
    rng = random.Random(5)
    for n in [0, 1, 2, 17, 300]:
        for _ in range(20):
            values = [v for v in _values(rng, n * 2) if v is None or (type(v) is str and v != "\ud800")][:n]
            assert native.string_column is not None and native.string_column(values) is not None
            got, expected = StringColumn.from_values(values), StringColumn.from_values_in_python(values)
            for a, b in ((got.starts, expected.starts), (got.lengths, expected.lengths), (got.blob, expected.blob)):
                assert a.dtype == b.dtype and a.tolist() == b.tolist(), values
            assert got.to_list() == values


@needs_native
def test_string_column_leaves_other_values_to_the_python_path() -> None:
    assert native.string_column is not None
    assert native.string_column(["a", 5]) is None
    assert native.string_column(["a", "\ud800"]) is None  # a lone surrogate: surrogatepass in Python
    assert StringColumn.from_values(["a", "\ud800"]).to_list() == ["a", "\ud800"]


def _index(folder: Path, cache: Path, **env: str) -> dict[str, str]:
    """Index `folder` with the CLI in its own process; the digest of each column file, by digest."""
    run = subprocess.run(
        [sys.executable, "-m", "halo_mcp", "index", str(folder), "--json"],
        env={**os.environ, "HALO_MCP_CACHE_DIR": str(cache), **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    digests = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.rglob("*.cols"))
    assert digests
    return {"report": json.loads(run.stdout)["spans"], "cols": digests}  # type: ignore[dict-item]


@needs_native
def test_an_index_built_with_the_c_helpers_is_byte_identical_to_one_built_without(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    shutil.copytree(FIXTURES, folder, ignore=shutil.ignore_patterns("bad", "*.md", "LICENSE*", "NOTICE*"))
    (folder / "odd.jsonl").write_bytes(b"\n".join(odd_halo_lines(seed=2, count=6000, rate=0.05, bad=0.01)) + b"\n")
    with_c = _index(folder, tmp_path / "with")
    without = _index(folder, tmp_path / "without", HALO_MCP_NATIVE="0")
    assert with_c == without


@needs_native
@pytest.mark.parametrize("n", [1, 2, 50, 5000])
def test_parent_links_by_hash_table_equal_the_links_by_sorting(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        key = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
        key[rng.random(n) < 0.1] = key[rng.integers(0, n, 1)[0]]  # repeated span ids
        parent_key = np.where(rng.random(n) < 0.8, key[rng.integers(0, n, n)], np.uint64(0))
        parent_key[rng.random(n) < 0.1] = rng.integers(1, 2**63, 1)[0]  # parents never exported
        self_parent = rng.random(n) < 0.05
        parent_key[self_parent] = key[self_parent]
        has_parent = parent_key != 0
        flags_sorted = np.zeros(n, dtype=np.uint8)
        expected = parent_rows_by_sorting(key, parent_key, has_parent, flags_sorted)
        assert native.link_parents is not None
        rows, dup = native.link_parents(key, parent_key)
        assert np.frombuffer(rows, dtype=np.int32).tolist() == expected.tolist()
        assert np.frombuffer(dup, dtype=np.bool_).tolist() == (flags_sorted & Flag.DUPLICATE).astype(bool).tolist()


@needs_native
def test_byte_lengths_are_the_lengths_of_bytes_and_no_answer_for_anything_else() -> None:
    assert native.byte_lengths is not None
    values = [b"", b"a", b"\x00" * 300, "text".encode()]
    assert np.frombuffer(native.byte_lengths(values), dtype=np.int32).tolist() == [0, 1, 300, 4]  # type: ignore[arg-type]
    assert native.byte_lengths([b"a", "a"]) is None


@needs_native
def test_integer_and_float_columns_equal_the_python_paths() -> None:
    rng = random.Random(9)
    choices = [None, 0, 1, -1, 7, 2**62, 2**63, -(2**63) - 1, 2**70, True, SpanKind.LLM, 1.5, "3"]
    for _ in range(200):
        values = [rng.choice(choices) for _ in range(rng.randrange(0, 30))]
        for missing in (-1, 0):
            try:
                expected = int64_in_python(values, missing).tolist()
            except (TypeError, ValueError):
                expected = None
            try:
                got = _int64(values, missing).tolist()
            except (TypeError, ValueError):
                got = None
            assert got == expected, values
    kinds = [SpanKind.LLM, SpanKind.TOOL, SpanStatus.ERROR, 0]
    assert _int8(kinds).tolist() == np.fromiter(kinds, dtype=np.int8).tolist()
    costs = [None, 0.25, -0.0, 1e300, None]
    assert np.array_equal(_floats(costs), np.array([np.nan, 0.25, -0.0, 1e300, np.nan]), equal_nan=True)
    assert _floats([0.5, 2]).tolist() == [0.5, 2.0]  # an int: the Python path
