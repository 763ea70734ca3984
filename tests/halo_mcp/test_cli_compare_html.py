"""`halo-mcp compare … --html FILE`: the real command writes the page, real Chromium reads it from file://.

Skips with a message where Chromium (Debian's `chromium`) or `playwright` is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import chromium, open_page
from support.halo_lines import jsonl, span

RUNS = Path(__file__).parents[1] / "fixtures" / "compare" / "runs"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
HOSTILE = ["<script>window.__pwned=1</script>", '<img src=x onerror="window.__pwned=2">', "javascript:window.__pwned=3"]


def _compare(tmp_path: Path, server_env: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "halo_mcp", "compare", *args],
        capture_output=True, text=True, env=server_env(tmp_path), cwd=tmp_path, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _open(browser: Any, file: Path) -> tuple[Any, list[str]]:
    return open_page(browser, file.as_uri())


def _pairs(page: Any, chart: str) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"figure[data-chart='{chart}'] g.pair",
        "gs => gs.map(g => ({verdict: g.dataset.verdict, title: g.querySelector('title').textContent,"
        " before: g.querySelectorAll('rect.before').length, after: g.querySelectorAll('rect.after').length,"
        " afterWidth: Number((g.querySelector('rect.after') || {getAttribute: () => -1}).getAttribute('width'))}))",
    )


def _agent_runs(prefix: str, n: int, failing: dict[str, int]) -> bytes:
    """`n` agent runs, each an LLM turn and one call of every tool; tool T fails in the first failing[T] runs."""
    spans = []
    for i in range(n):
        t = f"{prefix}{i:03d}"
        spans.append(span(t, "r", name="agent run", kind="AGENT", end=4))
        spans.append(span(t, "l", "r", name="plan", kind="LLM", start=0, end=1, attributes={"llm.model_name": "m-1",
                          "llm.token_count.prompt": 900 + i, "llm.token_count.completion": 120}))  # fmt: skip
        for k, (tool, bad) in enumerate(failing.items()):
            err = i < bad
            spans.append(span(t, f"t{k}", "r", name=tool, kind="TOOL", start=1 + k, end=1.5 + k,
                              attributes={"tool.name": tool}, status="STATUS_CODE_ERROR" if err else "STATUS_CODE_OK",
                              message=f"{tool} failed: upstream timeout" if err else ""))  # fmt: skip
    return jsonl(*spans)


def test_compare_html_draws_a_before_after_pair_per_pattern_and_tool(
    browser: Any, tmp_path: Path, server_env: Any
) -> None:
    (tmp_path / "before.jsonl").write_bytes(_agent_runs("b", 60, {"search_docs": 18, "read_file": 4, "run_tests": 6}))
    (tmp_path / "after.jsonl").write_bytes(_agent_runs("a", 60, {"search_docs": 0, "read_file": 5, "run_tests": 2}))
    out = tmp_path / "compare.html"
    proc = _compare(tmp_path, server_env, "before.jsonl", "after.jsonl", "--json", "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"compare page written to {out}" in proc.stderr
    doc = json.loads(proc.stdout)  # --json still prints the comparison
    page, problems = _open(browser, out)
    assert problems == []
    patterns = _pairs(page, "patterns")
    assert len(patterns) == len(doc["patterns"]) >= 2
    for drawn, measured in zip(patterns, doc["patterns"], strict=True):
        assert drawn["title"].startswith(measured["title"] + ": ") and drawn["verdict"] == measured["verdict"]
    assert all(p["before"] == 1 and p["after"] == 1 for p in patterns)
    resolved = next(p for p in patterns if p["verdict"] == "resolved")
    assert resolved["afterWidth"] == 0  # gone from the candidate: an empty bar
    tools = _pairs(page, "tools")
    assert len(tools) == len(doc["tools"]) == 3
    assert all(t["title"].startswith(d["tool"] + ": ") for t, d in zip(tools, doc["tools"], strict=True))
    assert page.eval_on_selector_all("table.list tbody tr", "rs => rs.length") >= len(doc["patterns"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "compare.png"))


def _side(prefix: str, failing: int) -> bytes:
    spans = []
    for i in range(20):
        t, bad = f"{prefix}{i}", i < failing
        spans.append(span(t, "r", name="agent", kind="AGENT", end=3))
        status, message = ("STATUS_CODE_ERROR", HOSTILE[0]) if bad else ("STATUS_CODE_OK", "")
        spans.append(span(t, "a", "r", name=HOSTILE[1], kind="TOOL", start=1, end=2,
                          attributes={"tool.name": HOSTILE[2]}, status=status, message=message))  # fmt: skip
    return jsonl(*spans)


def test_hostile_pattern_titles_and_tool_names_are_drawn_as_text(browser: Any, tmp_path: Path, server_env: Any) -> None:
    (tmp_path / "before.jsonl").write_bytes(_side("b", 10))
    (tmp_path / "after.jsonl").write_bytes(_side("c", 1))
    out = tmp_path / "evil.html"
    proc = _compare(tmp_path, server_env, "before.jsonl", "after.jsonl", "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    page, problems = _open(browser, out)
    assert problems == []
    assert page.evaluate("window.__pwned") is None
    assert page.eval_on_selector_all("img, a[href^='javascript'], [onerror]", "els => els.length") == 0
    assert page.eval_on_selector_all("script", "els => els.length") == 2  # the data block and the viewer's script
    labels = page.eval_on_selector_all("g.pair > text", "els => els.map(e => e.textContent)")
    assert any(HOSTILE[2] in label for label in labels)  # the tool name, shown as the text it is
    assert HOSTILE[1] in page.inner_text("table.list")


def test_compare_html_to_an_unwritable_path_exits_1_naming_it(tmp_path: Path, server_env: Any) -> None:
    target = tmp_path / "no-such-dir" / "c.html"
    proc = _compare(tmp_path, server_env, str(RUNS / "before.jsonl"), str(RUNS / "after.jsonl"), "--html", str(target))
    assert proc.returncode == 1
    assert f"cannot write --html {str(target)!r}" in proc.stderr
