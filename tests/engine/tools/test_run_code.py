"""run_code: the sandbox's answer, rendered and fitted to the budget."""

from __future__ import annotations

import pytest

from engine.tools.run_code import RunCodeResult
from sandbox import run_code

pytestmark = pytest.mark.anyio


async def test_code_computes_over_the_span_table(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    code = "print('tools:', spans.tool_name.nunique())\nint((spans.status == 'ERROR').sum())"
    answer = await tool("run_code", ctx, code=code)
    r = answer.result
    assert r.ok and r.value == "3"
    assert "tools: 4" in r.stdout
    assert answer.text.startswith("ok in ")
    assert r.protections  # which isolation layers were active


async def test_failing_code_is_a_result_with_its_traceback(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    answer = await tool("run_code", ctx, code="spans.no_such_column")
    assert not answer.result.ok
    assert "AttributeError" in answer.result.error
    assert "FAILED" in answer.text
    assert answer.result.failed  # MCP sends it with isError


async def test_a_huge_output_is_cut_to_the_budget_and_says_how_to_print_less(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    answer = await tool("run_code", ctx, code="print('x' * 200_000)", budget_tokens=1000)
    assert answer.result.truncated
    assert len(answer.text) < 4000
    assert "chars cut; print less: aggregate in the code" in answer.result.stdout


async def test_the_text_names_active_layers_in_one_line_while_the_result_keeps_every_status(
    context_for, tool, fixture_dir
) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", run_code=run_code)
    answer = await tool("run_code", ctx, code="1 + 1")
    r = answer.result
    assert {"rlimits", "landlock", "seccomp", "capabilities", "wall_timeout", "output_cap"} <= set(r.protections)
    assert all(status for status in r.protections.values())
    assert r.policy  # the setting the sandbox held the run to
    head = f"sandbox (policy {r.policy}): "
    sandbox_text = answer.text[answer.text.index(head) + len(head):]
    active = [name for name, status in r.protections.items() if status.startswith("active")]
    assert active and all(name in sandbox_text for name in active)
    assert len(sandbox_text) < 250 + 200 * (len(r.protections) - len(active))
    assert "(" not in sandbox_text.splitlines()[0]  # statuses' details are left to the structured result


def test_a_layer_that_is_not_active_is_spelled_out_with_its_reason() -> None:
    result = RunCodeResult(
        ok=True,
        value="2",
        protections={
            "rlimits": "active (memory 2048 MiB)",
            "landlock": "unavailable: kernel without Landlock (ENOSYS)",
            "seccomp": "active (filter)",
            "bwrap": "off (HALO_SANDBOX_BWRAP=never)",
        },
    )
    text = result.render()
    assert "sandbox: rlimits, seccomp active; off: bwrap" in text
    assert "  landlock NOT active: unavailable: kernel without Landlock (ENOSYS)" in text
    assert "memory 2048 MiB" not in text and "HALO_SANDBOX_BWRAP" not in text


def test_the_description_lists_every_column_of_both_tables_and_the_helpers(fixture_dir) -> None:
    from engine.tools.run_code import SPEC
    from engine.traces.dataset import Dataset
    from engine.traces.frames import span_frame, trace_frame

    ds = Dataset.open([str(fixture_dir / "analytics" / "patterns.jsonl")])
    text = SPEC.description
    spans_line = next(line for line in text.splitlines() if line.startswith("- `spans`"))
    traces_line = next(line for line in text.splitlines() if line.startswith("- `traces`"))
    assert [c for c in span_frame(ds).columns if c not in spans_line] == []
    assert [c for c in trace_frame(ds).columns if c not in traces_line] == []
    for name in ("load_raw(span_id)", "load_raw(trace_id, span_id)", "`raw`", "`pd`", "`np`"):
        assert name in text
    assert "spans['flags']" in text and "last expression" in text
