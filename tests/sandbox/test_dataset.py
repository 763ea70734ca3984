"""run_code over a real dataset: the frames match the store, raw spans load, the data stays untouched."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from engine.traces.dataset import Dataset
from engine.traces.store import overview
from sandbox import Limits, run_code

pytestmark = pytest.mark.anyio

# Landlock answers EACCES; under bwrap the path may be absent or on a read-only mount.
FS_DENIED = ("PermissionError", "Read-only file system", "FileNotFoundError")

# Span counts per kind, per-tool calls / errors / traces, error spans and error traces,
# computed with pandas alone (an error: status ERROR or an exception event, flag 4).
GROUPBY = """
import json
errors = (spans.status == 'ERROR') | ((spans['flags'] & 4) != 0)  # spans.flags is pandas' own
tools = spans[spans.kind == 'TOOL'].assign(error=errors)
per_tool = tools.groupby('tool_name', observed=True).agg(
    calls=('span_id', 'size'), errors=('error', 'sum'), traces=('trace_id', 'nunique'))
json.dumps({
    'kinds': {k.lower(): int(n) for k, n in spans.groupby('kind', observed=True).size().items() if n},
    'tools': {name: [int(r.calls), int(r.errors), int(r.traces)] for name, r in per_tool.iterrows()},
    'error_spans': int((spans.status == 'ERROR').sum()),
    'error_traces': int(spans[errors].trace_id.nunique()),
    'spans': len(spans), 'traces': len(traces),
})
"""


def open_copy(fixtures: Path, folder: str, tmp_path: Path) -> Dataset:
    """A private copy of a fixture folder, so a failed escape could not harm the shared one.

    "packed": enough re-keyed copies of the TRAIL files to be indexed as a pack (see `engine.traces.index.pack`).
    """
    target = tmp_path / folder
    if folder == "packed":
        target.mkdir()
        for i in range(6):
            for src in sorted((fixtures / "trail").glob("*.json")):
                text = src.read_text()
                for trace_id in set(re.findall(r'"trace_id": *"([0-9a-f]{32})"', text)):
                    text = text.replace(trace_id, f"{i:x}{trace_id[1:]}")
                (target / f"{i}_{src.name}").write_text(text)
        ds = Dataset.open([target])
        assert all("/packs/" in str(d) for d in ds.index_dirs)
        return ds
    shutil.copytree(fixtures / folder, target)
    return Dataset.open([target])


@pytest.mark.parametrize("folder", ["trail", "halo", "packed"])
async def test_a_pandas_groupby_gives_the_numbers_of_the_store_overview(
    fixtures: Path, tmp_path: Path, folder: str
) -> None:
    ds = open_copy(fixtures, folder, tmp_path)
    result = await run_code(GROUPBY, dataset=ds)
    assert result.ok, result.error
    got = json.loads(eval(result.value or ""))
    ov = overview(ds)
    assert got["kinds"] == ov.kinds
    assert got["tools"] == {t.name: [t.calls, t.errors, t.traces] for t in ov.tools}
    assert (got["error_spans"], got["error_traces"]) == (ov.error_spans, ov.error_traces)
    assert (got["spans"], got["traces"]) == (ov.spans, ov.traces)


async def test_load_raw_returns_the_spans_original_json(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    row = 5
    span_id = ds.spans.span_id[row]
    trace_id = ds.trace_id_of_row(row)
    code = (
        "import json\n"
        f"by_id = load_raw({span_id!r})\n"
        f"by_pair = load_raw({trace_id!r}, {span_id!r})\n"
        f"by_row = load_raw({row})\n"
        "by_id['mutated'] = True  # a copy: the data does not change\n"
        f"json.dumps([by_pair, by_row == by_pair, 'mutated' in load_raw({row})], sort_keys=True)"
    )
    result = await run_code(code, dataset=ds, limits=Limits(output_bytes=1 << 22))
    assert result.ok, result.error
    by_pair, same, still_mutated = json.loads(eval(result.value or ""))
    assert by_pair == ds.raw(row) and same and not still_mutated


async def test_load_raw_names_an_unknown_span_id(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    result = await run_code("load_raw('no-such-span')", dataset=ds)
    assert not result.ok and "UnknownIdError" in (result.error or "") and "no-such-span" in (result.error or "")


async def test_the_trace_file_cannot_be_written(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    path = Path(ds.files[0].path)
    before = path.read_bytes()
    result = await run_code(f"open({str(path)!r}, 'r+b').write(b'x')", dataset=ds)
    assert not result.ok and any(e in (result.error or "") for e in FS_DENIED), result.error
    assert path.read_bytes() == before


async def test_the_index_cannot_be_written_or_removed(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    index_dir = Path(ds.fingerprint[0][0])
    files = sorted(p for p in index_dir.iterdir() if p.is_file())
    before = {p: p.read_bytes() for p in files}
    code = (
        "import os\n"
        "denied = 0\n"
        f"for name in {[str(p) for p in files]!r}:\n"
        "    for attempt in (lambda: open(name, 'r+b').write(b'x'), lambda: os.remove(name)):\n"
        "        try: attempt()\n"
        "        except OSError: denied += 1\n"
        "denied"
    )
    result = await run_code(code, dataset=ds)
    assert result.ok and result.value == str(2 * len(files))
    assert {p: p.read_bytes() for p in files} == before


async def test_files_beside_the_data_are_not_readable(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    licence = tmp_path / "trail" / "LICENSE"  # in the folder, not a trace file of the dataset
    result = await run_code(f"open({str(licence)!r}).read()", dataset=ds)
    assert not result.ok and any(e in (result.error or "") for e in FS_DENIED), result.error


async def test_another_datasets_index_is_not_readable(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    other = open_copy(fixtures, "halo", tmp_path)
    other_index = Path(other.fingerprint[0][0])
    result = await run_code(f"import os; os.listdir({str(other_index)!r})", dataset=ds)
    assert not result.ok and any(e in (result.error or "") for e in FS_DENIED), result.error


async def test_the_child_reuses_the_index_without_rebuilding_it(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    cache_root = Path(ds.fingerprint[0][0]).parents[2]

    def snapshot() -> dict[str, int]:
        return {str(p): p.stat().st_mtime_ns for p in cache_root.rglob("*")}

    before = snapshot()
    result = await run_code("len(spans)", dataset=ds)
    assert result.ok and result.value == str(ds.n_spans)
    assert snapshot() == before


async def test_traces_holds_one_row_per_trace(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "halo", tmp_path)
    result = await run_code("int(traces.span_count.sum()), len(traces)", dataset=ds)
    assert result.ok and result.value == f"({ds.n_spans}, {ds.n_traces})"


async def test_the_child_sees_the_callers_snapshot_after_the_file_grew(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "halo", tmp_path)
    path = Path(ds.files[0].path)
    with open(path, "ab") as f:  # the file grows after the caller opened it
        f.write(path.read_bytes().splitlines(keepends=True)[0])
    cache_root = Path(ds.fingerprint[0][0]).parents[2]
    before = {str(p): p.stat().st_mtime_ns for p in cache_root.rglob("*")}
    result = await run_code("len(spans)", dataset=ds)
    assert result.ok and result.value == str(ds.n_spans)
    assert {str(p): p.stat().st_mtime_ns for p in cache_root.rglob("*")} == before


async def test_the_metadata_of_the_data_and_its_index_cannot_be_changed(fixtures: Path, tmp_path: Path) -> None:
    ds = open_copy(fixtures, "trail", tmp_path)
    trace_file = Path(ds.files[0].path)
    index_dir = Path(ds.fingerprint[0][0])
    targets = [trace_file, trace_file.parent, index_dir, *sorted(index_dir.iterdir())[:2]]
    before = {p: (p.stat().st_mode, p.stat().st_mtime_ns, os.listxattr(p)) for p in targets}
    code = (
        "import os\n"
        "denied = []\n"
        f"for p in {[str(p) for p in targets]!r}:\n"
        "    for change in (lambda: os.chmod(p, 0o777), lambda: os.utime(p, (0, 0)),\n"
        "                   lambda: os.setxattr(p, 'user.halo', b'x'),\n"
        "                   lambda: os.chown(p, os.stat(p).st_uid, os.stat(p).st_gid)):\n"
        "        try: change()\n"
        "        except PermissionError: denied.append(1)\n"
        "len(denied)"
    )
    result = await run_code(code, dataset=ds)
    assert result.ok and result.value == str(4 * len(targets)), result
    assert {p: (p.stat().st_mode, p.stat().st_mtime_ns, os.listxattr(p)) for p in targets} == before


async def test_a_dataset_without_spans_gives_empty_frames_with_every_column(fixtures: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    full = open_copy(fixtures, "trail", tmp_path)
    ds = Dataset.open([empty], cache_dir=tmp_path / "cache")
    assert ds.n_spans == 0
    code = "[(c, str(t)) for c, t in spans.dtypes.items()], [(c, str(t)) for c, t in traces.dtypes.items()]"
    result = await run_code(code, dataset=ds)
    expected = await run_code(code, dataset=full)
    assert result.ok, result.error
    assert result.value == expected.value


async def test_an_index_rebuilt_meanwhile_is_named_not_rebuilt_in_the_child(fixtures: Path, tmp_path: Path) -> None:
    from engine.errors import SandboxError

    ds = open_copy(fixtures, "trail", tmp_path)
    for index_dir in ds.index_dirs:
        shutil.rmtree(index_dir)  # as if another process had re-indexed the files meanwhile
    with pytest.raises(SandboxError, match="rebuilt while run_code was starting") as raised:
        await run_code("len(spans)", dataset=ds)
    assert "Traceback" not in str(raised.value)


async def test_the_next_call_on_the_same_dataset_is_served_by_a_warm_spare(fixtures: Path, tmp_path: Path) -> None:
    from sandbox.spawn import SPARES

    ds = open_copy(fixtures, "trail", tmp_path)
    limits = Limits(warm_spares=1)
    first = await run_code("import os; os.getpid()", dataset=ds, limits=limits)
    parked = [child.proc.pid for child in SPARES._spares]  # started for this dataset's view
    second = await run_code("import os; os.getpid(), len(spans)", dataset=ds, limits=limits)
    assert first.ok and second.ok
    assert len(parked) == 1 and second.value == f"({parked[0]}, {ds.n_spans})"


async def test_the_child_runs_the_code_without_pydantic_or_anyio(fixtures: Path, tmp_path: Path) -> None:
    """The child opens the dataset, builds the frames and runs the code on numpy and pandas
    alone: pydantic and anyio (the server's) are never imported on a call's path."""
    ds = open_copy(fixtures, "trail", tmp_path)
    code = "import sys\nsorted(m for m in ('pydantic', 'anyio', 'numpy', 'pandas') if m in sys.modules)"
    result = await run_code(code, dataset=ds)
    assert result.ok, result.error
    assert result.value == repr(["numpy", "pandas"])
