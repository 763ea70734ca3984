"""run_code's ordinary behaviour: values, output, errors, scratch, limits, parallel calls."""

from __future__ import annotations

import os
import time
from itertools import pairwise
from pathlib import Path

import anyio
import pytest

from engine.errors import InvalidArgumentError
from sandbox import Limits, run_code
from sandbox.result import RunResult

pytestmark = pytest.mark.anyio


async def run(code: str, limits: Limits) -> RunResult:
    return await run_code(code, dataset=None, limits=limits)


async def test_the_value_of_the_last_expression_is_shown(limits: Limits) -> None:
    result = await run("x = 20\nx + 22", limits)
    assert result.ok and result.value == "42" and result.error is None


async def test_a_statement_at_the_end_shows_no_value(limits: Limits) -> None:
    result = await run("x = 1", limits)
    assert result.ok and result.value is None


async def test_printed_output_and_stderr_are_captured(limits: Limits) -> None:
    result = await run("import sys\nprint('out')\nprint('err', file=sys.stderr)", limits)
    assert result.stdout == "out\n" and result.stderr == "err\n"


async def test_pandas_and_numpy_are_ready_as_pd_and_np(limits: Limits) -> None:
    result = await run("int(pd.DataFrame({'a': np.arange(4)}).a.sum())", limits)
    assert result.ok and result.value == "6"


async def test_a_failure_returns_the_traceback_of_the_users_code(limits: Limits) -> None:
    result = await run("def f(x):\n    return x / 0\n\nf(1)", limits)
    assert not result.ok and result.value is None
    assert result.error is not None
    assert 'File "<run_code>", line 4' in result.error and 'line 2, in f' in result.error
    assert "return x / 0" in result.error and "ZeroDivisionError" in result.error
    assert "sandbox" not in result.error  # harness frames are cut


async def test_a_syntax_error_is_reported_with_its_line(limits: Limits) -> None:
    result = await run("x = 1\nif x\n    pass", limits)
    assert not result.ok and result.error is not None
    assert "SyntaxError" in result.error and "line 2" in result.error


async def test_output_before_a_failure_is_kept(limits: Limits) -> None:
    result = await run("print('partial')\nraise ValueError('bad')", limits)
    assert not result.ok and result.stdout == "partial\n" and "ValueError: bad" in (result.error or "")


async def test_exit_with_status_zero_is_success_and_nonzero_is_failure(limits: Limits) -> None:
    assert (await run("print('a'); raise SystemExit(0)", limits)).ok
    failed = await run("import sys; sys.exit(3)", limits)
    assert not failed.ok and "SystemExit: 3" in (failed.error or "")


async def test_ending_the_process_early_is_reported_not_hidden(limits: Limits) -> None:
    result = await run("import os; os._exit(0)", limits)
    assert not result.ok and "before a result was reported" in (result.error or "")


async def test_a_huge_value_is_cut_at_the_cap(limits: Limits) -> None:
    result = await run("'x' * 10_000_000", limits)
    assert result.ok and result.truncated
    assert result.value is not None and len(result.value) == limits.output_bytes


async def test_the_scratch_directory_is_writable_private_and_removed(limits: Limits) -> None:
    code = (
        "import os, tempfile\n"
        "open('notes.txt', 'w').write('kept')\n"
        "with tempfile.NamedTemporaryFile('w', delete=False) as f: f.write('tmp')\n"
        "os.makedirs('sub/dir'); os.rename('notes.txt', 'sub/dir/notes.txt')\n"
        "(os.getcwd(), open('sub/dir/notes.txt').read(), os.path.dirname(f.name) == os.getcwd())"
    )
    result = await run(code, limits)
    assert result.ok and result.value is not None
    scratch, text, tmp_in_scratch = eval(result.value)
    assert text == "kept" and tmp_in_scratch
    assert not Path(scratch).exists()


async def test_threads_are_allowed(limits: Limits) -> None:
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(4) as pool: total = sum(pool.map(lambda x: x * x, range(10)))\n"
        "total"
    )
    result = await run(code, limits)
    assert result.ok and result.value == "285"


async def test_a_library_that_starts_a_thread_at_import_runs_under_the_strict_policy(limits: Limits) -> None:
    # pandas imports pyarrow where it is installed, and pyarrow starts jemalloc's background
    # thread: the child must be bound before that thread exists, or Landlock cannot be applied.
    pytest.importorskip("pyarrow", reason="pyarrow is in the test extra: pip install -e '.[test]'")
    code = (
        "import os, sys, threading, pyarrow as pa\n"
        "threads = os.stat('/proc/self/task').st_nlink - 2\n"  # stat is not a read: it still works
        "seen = []\n"
        "def read():\n"
        "    try: open('/etc/passwd').read(); seen.append('read')\n"
        "    except PermissionError: seen.append('denied')\n"
        "t = threading.Thread(target=read); t.start(); t.join()\n"
        "(threads > 1, pa.table({'a': [1, 2]}).num_rows, seen)"
    )
    result = await run(code, limits)
    assert result.ok and result.value == "(True, 2, ['denied'])", result
    for layer in ("landlock", "seccomp", "capabilities", "rlimits"):
        assert result.protections[layer].startswith("active"), result.protections


async def test_every_call_gets_a_fresh_process(limits: Limits) -> None:
    code = "import sys; seen = hasattr(sys, 'left_by_a_call'); sys.left_by_a_call = True; seen"
    first = await run(code, limits)
    second = await run(code, limits)
    assert (first.value, second.value) == ("False", "False")


async def test_the_result_reports_every_protection_layer(limits: Limits) -> None:
    result = await run("1", limits)
    for layer in ("rlimits", "landlock", "seccomp", "capabilities", "wall_timeout", "output_cap", "bwrap"):
        assert layer in result.protections
    assert result.protections["rlimits"].startswith("active")


async def test_code_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="longer than"):
        await run("#" * 5000, Limits(code_bytes=1024))


async def _intervals(count: int, limits: Limits) -> list[tuple[float, float]]:
    code = "import time; a = time.time(); time.sleep(0.6); (a, time.time())"
    results: list[RunResult] = []

    async def one() -> None:
        results.append(await run(code, limits))

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    assert all(r.ok for r in results)
    return sorted(eval(r.value or "") for r in results)


def _overlapping(intervals: list[tuple[float, float]]) -> bool:
    return any(later[0] < earlier[1] for earlier, later in pairwise(intervals))


async def test_calls_run_in_parallel_up_to_the_cap() -> None:
    intervals = await _intervals(3, Limits(max_parallel=3))
    assert _overlapping(intervals)


async def test_a_cap_of_one_runs_calls_one_after_another() -> None:
    intervals = await _intervals(3, Limits(max_parallel=1))
    assert not _overlapping(intervals)


async def test_the_event_loop_stays_responsive_while_code_runs(limits: Limits) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        started = time.monotonic()
        result = await run("import time; time.sleep(1.0)", limits)
        elapsed = time.monotonic() - started
        group.cancel_scope.cancel()
    assert result.ok
    # the ticker ran all along (it would stall if the call blocked the loop)
    assert ticks >= int(elapsed / 0.05) // 2


async def test_limits_come_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALO_SANDBOX_WALL_S", "1")
    result = await run_code("import time; time.sleep(30)", dataset=None)
    assert result.stopped_by == "wall_time"


async def test_a_forked_copy_of_the_request_pipe_does_not_stall_the_call(limits: Limits) -> None:
    # A process forked by the server (an index worker pool) inherits the pipe ends of
    # parked spares; the request must still be complete without end of file.
    from sandbox.spawn import SPARES

    SPARES.refill(1)
    holder = os.fork()
    if holder == 0:
        time.sleep(30)
        os._exit(0)
    try:
        with anyio.fail_after(15):
            result = await run("1 + 1", limits)
    finally:
        os.kill(holder, 9)
        os.waitpid(holder, 0)
    assert result.ok and result.value == "2"


def _children() -> set[int]:
    found: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as children:
            found.update(int(pid) for pid in children.read().split())
    return found


async def test_cancelling_a_call_kills_its_child_and_removes_its_scratch() -> None:
    from sandbox.spawn import SPARES

    SPARES.close()
    before = _children()
    limits = Limits(warm_spares=0, wall_s=60)
    async with anyio.create_task_group() as group:
        group.start_soon(run, "import time; time.sleep(60)", limits)
        with anyio.fail_after(10):
            while not (new := _children() - before):
                await anyio.sleep(0.05)
        (pid,) = new
        await anyio.sleep(1.5)  # let it reach the user's code (cwd = scratch)
        scratch = Path(os.readlink(f"/proc/{pid}/cwd"))
        assert scratch.name.startswith("halo-run-")
        group.cancel_scope.cancel()
    assert not Path(f"/proc/{pid}").exists()
    assert not scratch.exists()


# CSI colour and clear-screen, OSC 52 (set the clipboard), OSC 8 (a hidden link), a bidi
# override, C1 CSI, NUL, a carriage return that would overwrite the line.
HOSTILE = (
    "'\\x1b[31mred\\x1b[2J \\x1b]52;c;SGVsbG8=\\x07 \\x1b]8;;http://evil\\x1b\\\\link\\x1b]8;;\\x1b\\\\ "
    "\\u202egnp.exe \\x9b6n \\x00 cr\\rtab\\tline\\n'"
)
UNSAFE = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))] + [
    "\u202e", "\u2066", "\u200f", "\u2028",
]


async def test_terminal_controls_in_output_value_and_traceback_are_shown_as_escapes(limits: Limits) -> None:
    code = (
        f"import sys\ntext = {HOSTILE}\n"
        "print(text); print(text, file=sys.stderr)\n"
        "class Shown:  # a repr that does not escape, as a DataFrame's does not\n"
        "    def __repr__(self): return text\n"
        "Shown()"
    )
    ran = await run(code, limits)
    failed = await run(f"raise ValueError({HOSTILE})", limits)
    assert ran.ok and not failed.ok
    for shown in (ran.stdout, ran.stderr, ran.value, failed.error):
        assert shown is not None
        assert [c for c in UNSAFE if c in shown] == []
        assert "\\x1b[31mred" in shown and "\\x1b]52;c;" in shown and "\\u202egnp.exe" in shown
        assert "\\x9b6n" in shown and "\\x00" in shown and "cr\\rtab\tline" in shown
    assert ran.stdout.endswith("line\n\n")  # newlines and tabs are kept as they are
