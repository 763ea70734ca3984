"""run_code: hand the code to a fresh child, supervise it, and report what happened.

The parent enforces what the child cannot be trusted to enforce on itself: the
wall clock (SIGKILL to the child's process group), the output caps (excess is
read and dropped), the scratch directory's total size, and which protections
the policy insists on. Calls run in parallel up to `Limits.max_parallel`; the
event loop only waits on file descriptors, so the server stays responsive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import RunVar

from engine.errors import InvalidArgumentError, SandboxError
from sandbox.capture import CappedBuffer, drain, wait_exit, write_all
from sandbox.limits import Limits
from sandbox.policy import KERNEL_LAYERS, Policy, is_active
from sandbox.probe import bwrap_choice, protections_available
from sandbox.result import RunResult, StopReason
from sandbox.spawn import SPARES, Child, View, start_child
from sandbox.visible import visible

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["run_code"]

_SCRATCH_POLL_S = 0.25
_SCRATCH_MAX_ENTRIES = 10_000
_REAP_TIMEOUT_S = 10.0

_LIMITERS: RunVar[dict[int, anyio.CapacityLimiter]] = RunVar("sandbox_limiters")


def _limiter(size: int) -> anyio.CapacityLimiter:
    """One limiter per cap per event loop, shared by every call on that loop."""
    try:
        limiters = _LIMITERS.get()
    except LookupError:
        limiters = {}
        _LIMITERS.set(limiters)
    if size not in limiters:
        limiters[size] = anyio.CapacityLimiter(size)
    return limiters[size]


async def run_code(
    code: str,
    *,
    dataset: Dataset | None,
    limits: Limits | None = None,
    policy: Policy | None = None,
    sql: dict[str, Any] | None = None,
) -> RunResult:
    """Run `code` in a fresh sandboxed child with `spans`, `traces`, `load_raw`, `pd`, `np`.

    `sql` (`{"columns": [...], "rows": [[...]]}`, the answer of a bounded SELECT the
    caller ran) becomes the DataFrame `sql` in the code's globals.

    Failing code gives `ok=False` and its traceback; `SandboxError` means the code
    could not run at all (policy refused the protections available, the child
    could not start or load the data). `dataset=None` runs without data.
    """
    limits = limits or Limits.from_env()
    policy = policy or Policy.from_env()
    if len(code.encode("utf-8", "replace")) > limits.code_bytes:
        raise InvalidArgumentError(
            f"code is longer than the {limits.code_bytes}-byte limit; compute in smaller steps"
        )
    _refuse_early(policy)
    from sandbox.data import dataset_spec

    spec = dataset_spec(dataset) if dataset is not None else None
    async with _limiter(limits.max_parallel):
        return await _execute(code, spec, limits, policy, sql)


def _refuse_early(policy: Policy) -> None:
    """Refuse before spawning when the probe already shows a required layer missing."""
    available = protections_available()
    if [layer for layer in policy.required if not is_active(available.get(layer, ""))]:
        raise SandboxError(policy.refusal(available))


@dataclass
class _Outcome:
    stdout: CappedBuffer
    stderr: CappedBuffer
    messages: CappedBuffer
    exit_code: int | None = None
    stopped_by: list[StopReason] = field(default_factory=list)


async def _execute(
    code: str, spec: dict[str, Any] | None, limits: Limits, policy: Policy, sql: dict[str, Any] | None = None
) -> RunResult:
    started = time.monotonic()
    data_paths = [Path(p) for p in [*spec["files"], *spec["index_dirs"]]] if spec else []
    view = View.for_data(data_paths)
    request = {
        "code": code,
        "limits": limits.model_dump(),
        "required": sorted(policy.required),
        "dataset": spec,
        "sql": sql,
    }
    bwrap, _ = bwrap_choice(policy.bwrap)
    try:
        child = start_child(view, bwrap) if bwrap else SPARES.take(view)
    except OSError as err:
        raise SandboxError(f"run_code could not start its child process: {err}") from err
    try:
        body = json.dumps(request).encode()
        payload = b"%d\n%s" % (len(body), body)
        refill = None if bwrap else view
        outcome = await _supervise(child, payload, limits, refill)
        if bwrap is not None and outcome.exit_code is not None and outcome.exit_code > 128:
            outcome.exit_code = 128 - outcome.exit_code  # bwrap reports a signal as 128 + n
    finally:  # also when the caller is cancelled: the child never outlives the call
        child.kill()
        with anyio.move_on_after(_REAP_TIMEOUT_S, shield=True):
            await wait_exit(child.proc)
        child.close()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(shutil.rmtree, child.scratch, True)
    return _result(outcome, limits, policy, time.monotonic() - started)


async def _supervise(child: Child, payload: bytes, limits: Limits, refill: View | None) -> _Outcome:
    """Feed the request, drain the pipes, and stop the child at the first limit it passes.

    `refill`: the view to start the next spare for, while this call runs (None: no spares).
    """
    proc, scratch = child.proc, child.scratch
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    outcome = _Outcome(
        stdout=CappedBuffer(limits.output_bytes),
        stderr=CappedBuffer(limits.output_bytes),
        messages=CappedBuffer(16 * limits.output_bytes + (1 << 20)),
    )

    async def watch_scratch() -> None:
        while True:
            await anyio.sleep(_SCRATCH_POLL_S)
            used, entries = await anyio.to_thread.run_sync(_usage, scratch, proc.pid)
            if used > limits.scratch_bytes or entries > _SCRATCH_MAX_ENTRIES:
                outcome.stopped_by.append("scratch")
                child.kill()
                return

    with anyio.move_on_after(limits.wall_s) as deadline:
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(watch_scratch)
            async with anyio.create_task_group() as readers:
                readers.start_soon(drain, proc.stdout.fileno(), outcome.stdout)
                readers.start_soon(drain, proc.stderr.fileno(), outcome.stderr)
                readers.start_soon(drain, child.message_fd, outcome.messages)
                try:
                    await write_all(proc.stdin.fileno(), payload)
                except BrokenPipeError:
                    pass  # the child died; its exit status tells why
                proc.stdin.close()
                if refill is not None:
                    SPARES.refill(limits.warm_spares, refill)  # overlaps the next spare's start with this run
            outcome.exit_code = await wait_exit(proc)
            watchers.cancel_scope.cancel()
    if deadline.cancelled_caught:
        outcome.stopped_by.append("wall_time")
        child.kill()
    return outcome


def _usage(scratch: Path, pid: int) -> tuple[int, int]:
    """Bytes the run holds on disk: files under `scratch` plus files it keeps open that no
    directory shows (unlinked, O_TMPFILE); and entries seen (counting stops past the cap)."""
    used = entries = 0
    for root, dirs, files in os.walk(scratch):
        for name in files:
            try:
                used += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
        entries += len(dirs) + len(files)
        if entries > _SCRATCH_MAX_ENTRIES:
            break
    for proc in _process_tree(pid):
        try:
            fds = os.listdir(f"/proc/{proc}/fd")
        except OSError:
            continue
        for fd in fds:
            link = f"/proc/{proc}/fd/{fd}"
            try:
                if os.readlink(link).endswith(" (deleted)"):
                    info = os.stat(link)
                    used += info.st_blocks * 512 if stat.S_ISREG(info.st_mode) else 0
            except OSError:
                pass
    return used, entries


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (bwrap puts the child two levels down), where /proc says."""
    found: list[int] = []
    queue = [pid]
    while queue and len(found) < 16:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    queue += [int(c) for c in children.read().split()]
        except OSError:
            continue
    return found


def _messages(buffer: CappedBuffer) -> list[dict[str, Any]]:
    found = []
    for line in bytes(buffer.data).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


def _parent_layers(limits: Limits, policy: Policy) -> dict[str, str]:
    return {
        "wall_timeout": f"active ({limits.wall_s:g} s, then SIGKILL to the process group)",
        "output_cap": f"active ({limits.output_bytes} bytes each for stdout, stderr, value)",
        "scratch_cap": f"active (private directory, {limits.scratch_bytes >> 20} MiB, removed after)",
        "clean_env": "active (no inherited environment variables or file descriptors)",
        "bwrap": bwrap_choice(policy.bwrap)[1],
    }


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit status {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


def _result(outcome: _Outcome, limits: Limits, policy: Policy, duration: float) -> RunResult:
    messages = _messages(outcome.messages)
    first = next((m for m in messages if m.get("type") in ("ready", "refused", "setup_error")), None)
    final = next((m for m in reversed(messages) if m.get("type") == "result"), None)
    child_layers = first.get("protections", {}) if first else {}
    protections = {
        **{layer: "unavailable: the child did not report" for layer in KERNEL_LAYERS},
        **{k: str(v) for k, v in child_layers.items()},
        **_parent_layers(limits, policy),
    }
    stopped = list(outcome.stopped_by)
    if outcome.exit_code == -signal.SIGXCPU and "cpu_time" not in stopped:
        stopped.append("cpu_time")
    if first is not None and first.get("type") == "refused":
        raise SandboxError(policy.refusal(protections))
    if first is not None and first.get("type") == "setup_error":
        raise SandboxError("run_code could not prepare the data in the child:\n" + str(first.get("error")))
    if first is None and not stopped:
        tail = outcome.stderr.text()[-2000:]
        raise SandboxError(
            f"the run_code child ended before it was ready ({_signal_name(outcome.exit_code)}):\n{tail}"
        )
    ok = bool(final and final.get("ok")) and not stopped
    if ok:
        error = None
    elif stopped or final is None:
        error = _stop_message(stopped, outcome.exit_code, limits)
    else:
        error = visible(str(final.get("error") or "the code failed without a traceback"))
    value = (final or {}).get("value") if ok else None
    return RunResult(
        ok=ok,
        stdout=visible(outcome.stdout.text()),
        stderr=visible(outcome.stderr.text()),
        value=visible(str(value)) if value is not None else None,
        error=error,
        truncated=outcome.stdout.truncated or outcome.stderr.truncated
        or bool(final and final.get("truncated")),
        duration_s=round(duration, 4),
        protections=protections,
        policy=policy.setting,
        stopped_by=stopped[0] if stopped else None,
        exit_code=outcome.exit_code,
    )


def _stop_message(stopped: list[StopReason], code: int | None, limits: Limits) -> str:
    """Why the run produced no result, in words a model can act on."""
    if "wall_time" in stopped:
        return (f"stopped: the code ran past the wall-clock limit of {limits.wall_s:g} s "
                "and was killed; compute less or in smaller steps")
    if "cpu_time" in stopped:
        return (f"stopped: the code used more than the CPU limit of {limits.cpu_s} s "
                "and was killed (SIGXCPU)")
    if "scratch" in stopped:
        return (f"stopped: the files the code wrote grew past {limits.scratch_bytes >> 20} MiB "
                f"or {_SCRATCH_MAX_ENTRIES} entries and the code was killed")
    if code == -signal.SIGSYS:
        return "killed by the seccomp filter: the code made a system call through a forbidden ABI"
    if code == -signal.SIGKILL:
        return ("killed (SIGKILL): the CPU hard limit or the kernel's out-of-memory killer "
                f"ended the process; memory limit is {limits.memory_bytes >> 20} MiB")
    return f"the process crashed or was ended before a result was reported ({_signal_name(code)})"
