"""The sink: whole lines, new files on rotation and on restart, old files never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_mcp.receiver.sink import JsonlSink, SinkError, file_stamp


def test_lines_rotate_into_a_new_file_past_the_size_setting(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "rx", rotate_bytes=25)
    paths = [sink.append(b'{"n": %d}' % n) for n in range(5)]  # 9 bytes + newline each
    sink.close()
    files = sorted((tmp_path / "rx").iterdir())
    assert len(files) == 3 and len(set(paths)) == 3
    assert [f.read_bytes() for f in files] == [b'{"n": 0}\n{"n": 1}\n', b'{"n": 2}\n{"n": 3}\n', b'{"n": 4}\n']


def test_a_restarted_sink_starts_a_new_file_and_leaves_the_old_one_as_it_was(tmp_path: Path) -> None:
    first = JsonlSink(tmp_path)
    old = first.append(b"{}")
    first.close()
    with old.open("ab") as f:  # a line cut short by a crash
        f.write(b'{"resourceSpans": [')
    before = old.read_bytes()
    second = JsonlSink(tmp_path)
    new = second.append(b'{"a": 1}')
    second.close()
    assert new != old and old.read_bytes() == before
    assert new.read_bytes() == b'{"a": 1}\n'


def test_a_directory_that_vanished_is_a_sink_error_with_a_sentence(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    with pytest.raises(SinkError, match="could not store the spans in"):
        sink.append(b"{}")


def test_file_names_sort_by_time_across_a_second_boundary() -> None:
    second = 1_796_000_000 * 1_000_000_000
    times = [second - 1_000, second - 400, second, second + 1_000]  # 0.999999, 0.9999996 (not rounded up), ...
    stamps = [file_stamp(t) for t in times]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert stamps[1].endswith(".999999") and stamps[2].endswith(".000000")
