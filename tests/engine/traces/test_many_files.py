"""Folders of many small trace files: opening them must not hold a descriptor per file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.traces.columns.file import SMALL_FILE_BYTES
from engine.traces.index.raw import OPEN_SOURCE_FILES

# The child process runs with this descriptor limit; the folder has many more files.
_FD_LIMIT = 256
_HALO_FILES = 1200
_DOC_FILES = 400

# Opens the folder twice (build, then reuse) under a low RLIMIT_NOFILE and reads
# raw spans of every file: plain HALO rows are read from the source files,
# any-agent rows from the index's raw copies.
_CHILD = """
import json, resource, sys
from engine.traces.dataset import Dataset

folder, cache, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
out = []
for _ in range(2):
    ds = Dataset.open([folder], cache_dir=cache)
    roots = ds.traces.root_row
    names = [ds.raw(int(r)).get("name") for r in roots if r >= 0]
    out.append({"files": len(ds.files), "spans": ds.n_spans, "traces": ds.n_traces,
                "read": len(names), "named": sum(1 for n in names if n),
                "index": sorted({f.index for f in ds.files})})
print(json.dumps(out))
"""


def _many_small_files(folder: Path, fixtures: Path) -> None:
    folder.mkdir()
    halo = (fixtures / "halo" / "tiny_traces.jsonl").read_text()
    for i in range(_HALO_FILES):
        (folder / f"halo_{i:05d}.jsonl").write_text(halo.replace('"t-', f'"t{i}-'))
    doc = (fixtures / "any_agent" / "OPENAI_trace.json").read_text()
    trace_id = str(json.loads(doc)["spans"][0]["context"]["trace_id"])
    for i in range(_DOC_FILES):
        (folder / f"doc_{i:05d}.json").write_text(doc.replace(trace_id, str(int(trace_id) + i + 1)))


def test_a_folder_of_more_small_files_than_open_descriptors_opens_and_reads_raw_spans(
    tmp_path: Path, fixtures: Path
) -> None:
    assert OPEN_SOURCE_FILES < _FD_LIMIT < _HALO_FILES
    folder = tmp_path / "many"
    _many_small_files(folder, fixtures)
    assert max(p.stat().st_size for p in folder.iterdir()) < SMALL_FILE_BYTES
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), str(tmp_path / "cache"), str(_FD_LIMIT)],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    built, reopened = json.loads(done.stdout)
    assert built["files"] == _HALO_FILES + _DOC_FILES
    assert built["traces"] == _HALO_FILES * 3 + _DOC_FILES
    assert built["read"] == built["named"] == built["traces"]
    assert built["index"] == ["built"]
    assert reopened["index"] == ["fresh"]
    assert {k: v for k, v in reopened.items() if k != "index"} == {k: v for k, v in built.items() if k != "index"}
