"""The CLI's index progress: nothing for a quick open, a few lines on a pipe, never stdout."""

from __future__ import annotations

import io

from halo_mcp.progress import ProgressBar


def test_an_open_quicker_than_the_delay_shows_nothing() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, delay_s=3600.0)
    bar(5, 10)
    bar(10, 10)
    bar.close()
    assert stream.getvalue() == ""


def test_on_a_pipe_progress_is_whole_lines_ending_at_done() -> None:
    stream = io.StringIO()  # not a terminal
    bar = ProgressBar(stream)
    for done in range(0, 11_000_001, 1_000_000):
        bar(done, 11_000_000)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= 3, lines  # the first call and the last; the rest fall inside LOG_RATE
    assert "\r" not in stream.getvalue()
    assert lines[-1].startswith("indexing [" + "#" * 30 + "] 100%") and "11.0/11.0 MB" in lines[-1]
