"""The index never serves content the file no longer has, and a forced shape never poisons it (issue 16: 4, 5)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from support.halo_lines import jsonl, span

from engine.errors import SourceChangedError
from engine.traces.dataset import Dataset
from engine.traces.index import cache
from engine.traces.index.segments import ensure_segment


def _names(ds: Dataset) -> list[str]:
    return sorted({ds.spans.name[i] for i in range(ds.n_spans)})


def _rewrite_tail_keeping_size_and_mtime(path: Path, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` (same length) and set the old mtime back, as `touch -r` would."""
    st = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and old in data
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def _shifting_file(path: Path) -> tuple[bytes, bytes]:
    """A file whose last two lines can be rewritten at the same total size with shifted offsets."""
    a = span("t2", "b", name="tail-a", attributes={"pad": "x" * 40})
    b = span("t2", "c", "b", name="tail-b", attributes={"pad": "y" * 40})
    # past the hashed head (64 KiB): the old fingerprint saw only the head
    head = [span("t1", f"s{i}", name="head") for i in range(600)]
    path.write_bytes(jsonl(*head, a, b))
    assert path.stat().st_size > 2 * cache.HEAD_BYTES
    old = jsonl(a, b)
    # the first line grows by 8 bytes, the second shrinks by 8: the second's offset moves
    a2 = dict(a, name="tail-a-renamed")
    b2 = dict(b, attributes={**b["attributes"], "pad": "y" * 32})
    new = jsonl(a2, b2)
    assert len(new) == len(old)
    return old, new


def test_a_same_size_rewrite_with_the_old_mtime_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    old, new = _shifting_file(path)
    assert "tail-a" in _names(Dataset.open([path]))
    _rewrite_tail_keeping_size_and_mtime(path, old, new)
    again = Dataset.open([path])
    assert again.files[0].index == "built"
    assert "tail-a-renamed" in _names(again) and "tail-a" not in _names(again)
    row = again.span_row("t2", "c")
    assert again.raw(row)["name"] == "tail-b"


def test_the_fingerprint_samples_the_tail_and_the_middle_not_only_the_head(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n" * (1 << 20))
    before = cache.fingerprint(path)
    for offset in (cache.sample_offsets(1 << 20)[0][0], (1 << 20) - 10):
        data = bytearray(path.read_bytes())
        data[offset] = ord(" ")
        path.write_bytes(bytes(data))
        after = cache.fingerprint(path)
        assert after.sampled_sha256 != before.sampled_sha256
        before = after
    assert cache.SAMPLE_BLOCKS > 0 and cache.TAIL_BYTES > 0


def test_a_raw_read_of_bytes_that_moved_is_refused_and_drops_the_stale_index(tmp_path: Path) -> None:
    """A change no fingerprint saw (same stat, sampled bytes kept) is caught when the raw bytes are read."""
    path = tmp_path / "t.jsonl"
    old, new = _shifting_file(path)
    ds = Dataset.open([path])
    seg = ensure_segment(path, ds.cache_root)
    _rewrite_tail_keeping_size_and_mtime(path, old, new)
    # the index as it was, as if the rewrite had slipped past every check at open
    with pytest.raises(SourceChangedError, match="changed after it was indexed"):
        ds.raw(ds.span_row("t2", "c"))
    assert ds.stale
    assert not (seg.directory / "meta.json").exists()
    fresh = Dataset.open([path])
    assert fresh.files[0].index == "built"
    assert fresh.raw(fresh.span_row("t2", "c"))["name"] == "tail-b"


def test_raw_batches_check_the_bytes_too(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    old, new = _shifting_file(path)
    ds = Dataset.open([path])
    rows = ds.trace_rows("t2")
    _rewrite_tail_keeping_size_and_mtime(path, old, new)
    with pytest.raises(SourceChangedError):
        list(ds._raw.iter_raw(rows))


# -- item 5: --shape is part of the cache key ------------------------------------------


def _halo_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(span("t1", "a"), span("t2", "b"), span("t3", "c")))
    return path


def test_a_forced_shape_does_not_poison_the_detected_index(tmp_path: Path) -> None:
    path = _halo_file(tmp_path)
    assert Dataset.open([path]).n_traces == 3
    forced = Dataset.open([path], shape="otlp")
    assert forced.n_traces == 0 and forced.files[0].shape == "otlp"
    again = Dataset.open([path])
    assert again.n_traces == 3 and again.files[0].shape == "halo"


def test_a_forced_shape_that_reads_nothing_says_what_the_content_looks_like(tmp_path: Path) -> None:
    path = _halo_file(tmp_path)
    forced = Dataset.open([path], shape="otlp")
    notes = forced.quality.skipped_files
    assert any("0 spans as otlp; the content looks like halo" in n for n in notes), notes


def test_a_forced_shape_that_matches_the_detected_one_reuses_the_index(tmp_path: Path) -> None:
    path = _halo_file(tmp_path)
    Dataset.open([path])
    assert Dataset.open([path], shape="halo").files[0].index == "fresh"
    Dataset.open([path], shape="halo")
    assert Dataset.open([path]).files[0].index == "fresh"


def test_a_forced_shape_does_not_poison_packs_of_small_files(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i}.jsonl").write_bytes(jsonl(span(f"t{i}", "a")))
    assert Dataset.open([tmp_path]).n_traces == 20
    assert Dataset.open([tmp_path], shape="otlp").n_traces == 0
    again = Dataset.open([tmp_path])
    assert again.n_traces == 20 and {f.shape for f in again.files} == {"halo"}


def test_meta_records_the_detected_shape_of_a_forced_build(tmp_path: Path) -> None:
    path = _halo_file(tmp_path)
    seg = ensure_segment(path, cache.cache_root(), shape="otlp")
    meta = orjson.loads((seg.directory / "meta.json").read_bytes())
    assert (meta["shape"], meta["detected"]) == ("otlp", "halo")
