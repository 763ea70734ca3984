"""Settings: limits and policy from their names, and refusal where the kernel lacks a layer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.errors import InvalidArgumentError
from sandbox import Limits, Policy


def test_limits_default_to_the_documented_numbers() -> None:
    limits = Limits()
    assert (limits.wall_s, limits.cpu_s, limits.memory_bytes, limits.output_bytes) == (30, 20, 2 << 30, 1 << 20)


def test_limits_read_halo_sandbox_variables() -> None:
    limits = Limits.from_env({"HALO_SANDBOX_WALL_S": "5", "HALO_SANDBOX_MAX_PARALLEL": "2"})
    assert limits.wall_s == 5 and limits.max_parallel == 2


def test_a_bad_limit_setting_is_explained() -> None:
    with pytest.raises(InvalidArgumentError, match="HALO_SANDBOX_"):
        Limits.from_env({"HALO_SANDBOX_CPU_S": "-1"})


def test_policy_levels_and_layer_lists_are_understood() -> None:
    assert Policy().required == {"rlimits", "landlock", "seccomp"}
    assert Policy.from_setting("limits-only").required == {"rlimits"}
    assert Policy.from_setting("none").required == frozenset()
    assert Policy.from_setting("rlimits, seccomp").required == {"rlimits", "seccomp"}
    assert Policy.from_env({"HALO_SANDBOX_POLICY": "limits-only"}).required == {"rlimits"}


def test_a_policy_names_itself_by_the_setting_that_gives_it() -> None:
    for text in ("strict", "limits-only", "none", "seccomp,rlimits", "landlock,capabilities"):
        setting = Policy.from_setting(text).setting
        assert Policy.from_setting(setting) == Policy.from_setting(text)
    assert Policy.from_setting("rlimits,landlock,seccomp").setting == "strict"
    assert Policy.from_setting("seccomp,rlimits").setting == "rlimits,seccomp"


@pytest.mark.anyio
async def test_a_result_reports_the_policy_it_was_held_to() -> None:
    from sandbox import run_code

    result = await run_code("1 + 1", dataset=None, policy=Policy.from_setting("limits-only"))
    assert result.ok and result.policy == "limits-only"


def test_an_unknown_policy_names_the_choices() -> None:
    with pytest.raises(InvalidArgumentError, match="strict, limits-only, none"):
        Policy.from_setting("paranoid")


# A kernel without Landlock, made real: the test's child process installs a seccomp
# filter answering landlock_create_ruleset with ENOSYS, as a pre-5.13 kernel does,
# then calls run_code under two policies.
OLD_KERNEL = textwrap.dedent(
    """
    import ctypes, json, struct, sys
    import anyio
    from engine.errors import SandboxError
    from sandbox import Policy, run_code
    from sandbox.syscalls import ARCH

    def insn(code, jt, jf, k):
        return struct.pack("=HBBI", code, jt, jf, k)

    program = b"".join([
        insn(0x20, 0, 0, 0),                     # load syscall number
        insn(0x15, 0, 1, 444),                   # landlock_create_ruleset?
        insn(0x06, 0, 0, 0x00050000 | 38),       # -> ENOSYS
        insn(0x06, 0, 0, 0x7FFF0000),            # else allow
    ])
    buf = ctypes.create_string_buffer(program, len(program))
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0
    assert libc.syscall(ARCH.numbers["seccomp"], 1, 0, ctypes.byref(prog)) == 0

    async def main():
        out = {}
        try:
            await run_code("1 + 1", dataset=None)
            out["strict"] = "ran"
        except SandboxError as err:
            out["strict"] = str(err)
        result = await run_code("1 + 1", dataset=None, policy=Policy.from_setting("rlimits,seccomp"))
        out["weaker"] = [result.ok, result.value, result.protections]
        print(json.dumps(out))

    anyio.run(main)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="simulates an old Linux kernel")
def test_without_landlock_strict_refuses_and_a_weaker_policy_runs_and_says_so() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", OLD_KERNEL], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "refused" in out["strict"] and "landlock" in out["strict"]
    assert "HALO_SANDBOX_POLICY" in out["strict"] and "ENOSYS" in out["strict"]
    ok, value, protections = out["weaker"]
    assert ok and value == "2"
    assert protections["landlock"].startswith("unavailable") and "ENOSYS" in protections["landlock"]
    assert protections["seccomp"].startswith("active")


def test_bwrap_setting_is_read_from_the_environment() -> None:
    assert Policy.from_env({}).bwrap == "auto"
    assert Policy.from_env({"HALO_SANDBOX_BWRAP": "always"}).bwrap == "always"
    with pytest.raises(InvalidArgumentError, match="auto, always or never"):
        Policy.from_env({"HALO_SANDBOX_BWRAP": "sometimes"})


@pytest.mark.anyio
async def test_with_bwrap_always_the_child_runs_in_its_own_namespaces() -> None:
    from sandbox import run_code
    from sandbox.probe import bwrap_usable

    if bwrap_usable() is None:
        pytest.skip("bwrap is not installed or cannot create namespaces here")
    code = "import os; (os.getpid() < 10, os.path.exists('/etc/passwd'))"
    result = await run_code(code, dataset=None, policy=Policy(bwrap="always"))
    assert result.ok and result.value == "(True, False)"
    assert result.protections["bwrap"].startswith("active")
    assert result.protections["landlock"].startswith("active")
