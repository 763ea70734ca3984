"""`diagnose` with the agent's repository: the agents read its code and cite it as path:line.

The model is scripted; the repository is a real git repository made in tmp_path,
the tools run the real git, and every code citation is checked against it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.fake_harness import OLD_PROMPT_LINE_3, PROMPT_LINE_3, make_harness
from support.scripted_llm import ScriptedLLM, reply

from engine.agents import DiagnoseConfig, Event

pytestmark = pytest.mark.anyio

TRACE_C = "f39aec9b8a61fd2aaed5849cc00bc165"
LLM_SPAN_C = "b5dd8eb7f514a817"
QUOTE_C = "Tomasz Karolak portrayed a character whose first name is “Marek.”"
ROOT = "# Question"
REPO_TOOLS = {"list_files", "search_code", "read_file", "git_log", "git_show", "git_diff", "git_blame"}

Collect = Callable[..., Awaitable[list[Event]]]


def finding(code: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": "The system prompt forbids a second search, so answers rest on one source",
        "category": "wrong_final_answer", "impact": "high", "traces_affected": 1, "total_traces": 3,
        "evidence": [{"trace_id": TRACE_C, "span_id": LLM_SPAN_C, "quote": QUOTE_C}],
        "hypothesis": "prompts/system.md:3 limits the agent to one search.",
        "change_target": "prompt", "change": "Delete prompts/system.md:3; allow a second search to verify.",
        "code": code,
    }  # fmt: skip


@pytest.fixture
def harness(tmp_path: Path) -> Path:
    return make_harness(tmp_path / "agent")


async def test_the_agents_read_the_repository_and_a_path_line_citation_is_verified(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, harness: Path
) -> None:
    good = [
        {"path": "prompts/system.md", "line": 3, "quote": PROMPT_LINE_3},
        {"path": "prompts/system.md", "line": 3, "quote": OLD_PROMPT_LINE_3, "revision": "HEAD~1"},
    ]
    llm.script_for(
        ROOT,
        reply.calls(("search_code", {"pattern": "search_flights", "glob": "prompts/*"}),
                    ("git_log", {"path": "prompts/system.md"})),
        reply.call("read_file", {"path": "prompts/system.md", "start": 1, "count": 5}),
        reply.call("record_finding", finding(good)),
        reply.call("final_report", {"summary": "One search per question makes answers unverified."}),
    )  # fmt: skip
    events = await collect(make_config(repo=harness))

    report = events[-1].report
    assert not report.partial
    (found,) = report.findings
    assert [c.verified for c in found.code] == [True, True]
    assert (report.citations_checked, report.citations_failed) == (3, 0)
    assert "✓ `prompts/system.md:3`" in report.to_markdown()

    first, *later = llm.requests_matching(ROOT)
    assert REPO_TOOLS <= set(first.tool_names)
    record = next(t for t in first.body["tools"] if t["function"]["name"] == "record_finding")
    assert "code" in record["function"]["parameters"]["properties"]
    assert "The agent's own code" in first.system and "git_blame" in first.system
    results = later[0].tool_results + later[1].tool_results
    assert any(f"prompts/system.md:3: {PROMPT_LINE_3}" in r for r in results)  # search_code
    assert any("One search per question; no retries" in r for r in results)  # git_log
    assert any(f"3| {PROMPT_LINE_3}" in r for r in later[1].tool_results)  # read_file
    assert "Recorded finding #1" in later[2].tool_results[-1] and "failed" not in later[2].tool_results[-1]


async def test_a_wrong_line_or_quote_fails_is_shown_to_the_model_and_marked_in_the_report(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, harness: Path
) -> None:
    wrong = [
        {"path": "prompts/system.md", "line": 3, "quote": "Always search twice."},  # not in the file
        {"path": "retry.py", "line": 30, "quote": "MAX_RETRIES = 0"},  # past the end
        {"path": "prompts/system.md", "line": 3, "quote": OLD_PROMPT_LINE_3},  # only at HEAD~1
        {"path": "tools/search_flights.md", "line": 1, "quote": "Give prices in EUR."},  # another file's line
        {"path": "../outside.md", "line": 1, "quote": "x"},
        {"path": "prompts/system.md", "line": 3, "quote": PROMPT_LINE_3, "revision": "no-such-branch"},
    ]
    llm.script_for(
        ROOT,
        reply.call("record_finding", finding(wrong)),
        reply.call("final_report", {"summary": "s"}),
        reply.call("final_report", {"summary": "Kept as is."}),
    )  # fmt: skip
    events = await collect(make_config(repo=harness))

    report = events[-1].report
    (found,) = report.findings
    assert [c.verified for c in found.code] == [False] * 6
    problems = [c.problem for c in found.code]
    assert problems[0] == "the quote does not occur in prompts/system.md in the working tree"
    assert problems[1].startswith("line 30 is past the end of retry.py")
    assert "does not occur" in problems[2] and "does not occur" in problems[3]
    assert "goes up with '..'" in problems[4] and "not a commit" in problems[5]
    assert (report.citations_checked, report.citations_failed) == (7, 6)
    assert "✗ `prompts/system.md:3`" in report.to_markdown() and "not verified" in report.to_markdown()
    root = llm.requests_matching(ROOT)
    assert "6 of 7 citations failed the check" in root[1].tool_results[-1]
    assert "FAILED: line 30 is past the end of retry.py" in root[1].tool_results[-1]
    assert "failed the check against the dataset or the repository" in root[2].tool_results[-1]


async def test_a_quote_a_few_lines_off_verifies_and_one_far_off_names_its_line(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect, harness: Path
) -> None:
    (harness / "prompts" / "system.md").write_text(
        "".join(f"filler {n}\n" for n in range(20)) + (harness / "prompts" / "system.md").read_text()
    )
    near_and_far = [
        {"path": "./prompts/system.md", "line": 22, "quote": PROMPT_LINE_3},  # really at 23
        {"path": "prompts/system.md", "line": 3, "quote": PROMPT_LINE_3},
    ]
    llm.script_for(ROOT, reply.call("final_report", {"summary": "s", "findings": [finding(near_and_far)]}),
                   reply.call("final_report", {"summary": "s"}))  # fmt: skip
    report = (await collect(make_config(repo=harness)))[-1].report
    near, far = report.findings[0].code
    assert near.verified is True and near.path == "prompts/system.md"
    assert far.verified is False and far.problem == "the quote is at line 23 of prompts/system.md, not near line 3"


async def test_without_a_repository_no_repository_tool_is_offered_and_code_citations_fail(
    llm: ScriptedLLM, make_config: Callable[..., DiagnoseConfig], collect: Collect
) -> None:
    code = [{"path": "prompts/system.md", "line": 3, "quote": PROMPT_LINE_3}]
    llm.script_for(ROOT, reply.call("read_file", {"path": "prompts/system.md"}),
                   reply.call("final_report", {"summary": "s", "findings": [finding(code)]}),
                   reply.call("final_report", {"summary": "s"}))  # fmt: skip
    report = (await collect(make_config()))[-1].report
    first, second, *_ = llm.requests_matching(ROOT)
    assert not REPO_TOOLS & set(first.tool_names) and "The agent's own code" not in first.system
    finding_tools = [t for t in first.body["tools"] if t["function"]["name"] in ("record_finding", "final_report")]
    assert len(finding_tools) == 2 and '"code"' not in json.dumps(finding_tools)  # no code citations offered
    assert "there is no tool named 'read_file'" in second.tool_results[-1]
    assert report.findings[0].code[0].problem.startswith("no repository was given to this run")
