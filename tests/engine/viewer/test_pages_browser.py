"""The viewer's pages in a real headless Chromium, loaded from file://.

Skips with a message where Chromium (Debian's `chromium`) or the `playwright`
package is absent; `.ci/run` installs Chromium where it can.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import chromium, open_page
from support.halo_lines import jsonl, span

from engine.agents.report import Evidence, Finding, Frequency, Report
from engine.viewer import report_page, trace_page
from halo_mcp.datasets import DatasetCatalog

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "img"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    return open_page(browser, url)


HOSTILE = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=2\">",
    "javascript:window.__pwned=3",
    "</script><script>window.__pwned=4</script>",
    "\u2028<!--<script>",
]


def _dataset(tmp_path: Path, spans: list[dict[str, Any]]) -> Any:
    path = tmp_path / "traces.jsonl"
    path.write_bytes(jsonl(*spans))
    return DatasetCatalog([str(path)]).open(None)


def _hostile_trace() -> list[dict[str, Any]]:
    spans = [span("t-evil", "root", name=HOSTILE[0], kind="AGENT", end=5.0)]
    for n, text in enumerate(HOSTILE):
        spans.append(
            span(
                "t-evil",
                f"s{n}",
                "root",
                name=text,
                kind="TOOL" if n % 2 else "LLM",
                start=n * 0.5,
                end=n * 0.5 + 0.4,
                status="STATUS_CODE_ERROR" if n == 1 else "STATUS_CODE_OK",
                message=text,
                attributes={
                    "input.value": f'[{{"role": "user", "content": "{text.replace(chr(34), "")}"}}]',
                    "output.value": text,
                    "tool.name": text,
                },
            )
        )
    return spans


def test_hostile_trace_text_is_shown_as_text_and_nothing_runs(browser: Any, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, _hostile_trace())
    file = tmp_path / "evil.html"
    file.write_text(trace_page(ds, "t-evil"))
    page, problems = _open(browser, file.as_uri())
    page.click("text=expand all")
    for row in page.query_selector_all(".row"):
        row.click()
    assert page.evaluate("window.__pwned") is None
    assert problems == []
    names = page.eval_on_selector_all(".row .sname", "els => els.map(e => e.textContent)")
    assert HOSTILE[1] in names and HOSTILE[2] in names  # drawn as the text it is
    assert page.eval_on_selector_all("img, a[href^='javascript']", "els => els.length") == 0
    assert page.eval_on_selector_all("script", "els => els.length") == 2  # the data block and our script


def _big_trace(n: int) -> list[dict[str, Any]]:
    spans = [span("t-big", "root", name="agent", kind="AGENT", end=n * 0.01 + 1)]
    for i in range(n - 1):
        parent = "root" if i % 20 == 0 else f"s{i - i % 20}"
        kind = "LLM" if i % 3 == 0 else "TOOL"
        spans.append(span("t-big", f"s{i}", parent, name=f"step {i}", kind=kind, start=i * 0.01, end=i * 0.01 + 0.5,
                          status="STATUS_CODE_ERROR" if i == 1234 else "STATUS_CODE_OK"))  # fmt: skip
    return spans


def test_a_2000_span_trace_opens_collapsed_and_expands_whole(browser: Any, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, _big_trace(2000))
    file = tmp_path / "big.html"
    file.write_text(trace_page(ds, "t-big"))
    started = time.monotonic()
    page, problems = _open(browser, file.as_uri())
    opened_s = time.monotonic() - started
    assert problems == []
    shown = page.eval_on_selector_all(".rows .row", "els => els.length")
    assert 50 <= shown <= 400, shown
    assert page.is_visible(".row.err")  # the error span's parents were opened
    page.click("text=expand all")
    assert page.eval_on_selector_all(".rows .row", "els => els.length") == 2000
    assert opened_s < 5, opened_s


# The bar: a 100-span trace's page is drawn within a second of navigation starting.
OPEN_100_SPANS_MS = 1000


def test_a_100_span_trace_is_drawn_within_a_second(browser: Any, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, _big_trace(100))
    file = tmp_path / "hundred.html"
    file.write_text(trace_page(ds, "t-big"))
    page, problems = _open(browser, file.as_uri())
    drawn_ms = page.evaluate("performance.now()")  # since this navigation began: parse, script, first draw
    assert problems == []
    assert page.eval_on_selector_all(".rows .row", "els => els.length") == 100
    assert drawn_ms < OPEN_100_SPANS_MS, drawn_ms


def _report(trace_id: str, span_id: str, quote: str) -> Report:
    finding = Finding(
        title="list_files fails and the agent repeats it",
        category="tool_error",
        impact="high",
        frequency=Frequency(traces_affected=2, total_traces=3),
        evidence=[Evidence(trace_id=trace_id, span_id=span_id, quote=quote, verified=True)],
        detail="The tool returns an error the model cannot act on.",
    )
    second = Finding(
        title="Slow turns", category="latency", impact="low", frequency=Frequency(traces_affected=1, total_traces=3)
    )
    return Report(run_id="20260101T000000Z-abcdef", question="Why do runs fail?", dataset="traces.jsonl",
                  produced_by="model", summary="Tool errors.", findings=[second, finding])  # fmt: skip


def test_report_page_ranks_findings_draws_the_cited_trace_and_highlights_the_span(browser: Any, tmp_path: Path) -> None:
    spans = [
        *_hostile_trace()[:1],
        span("t-evil", "a", "root", name="call tool", kind="TOOL", start=1, end=2, status="STATUS_CODE_ERROR",
             message="Error running tool",
             attributes={"input.value": '{"path": "."}', "output.value": "Error running tool"}),
        span("t-evil", "b", "root", name="response", kind="LLM", start=2, end=3,
             attributes={"input.value": '{"messages": [{"role": "user", "content": "list the files"}]}',
                         "output.value": '{"role": "assistant", "content": "", "tool_calls": '
                                         '[{"function": {"name": "list_files", "arguments": "{}"}}]}'}),
    ]  # fmt: skip
    ds = _dataset(tmp_path, spans)
    file = tmp_path / "report.html"
    file.write_text(report_page(_report("t-evil", "a", "Error running tool"), ds))
    page, problems = _open(browser, file.as_uri())
    assert problems == []
    titles = page.eval_on_selector_all(".finding h3", "els => els.map(e => e.textContent)")
    assert "list_files fails" in titles[0] and "Slow turns" in titles[1]  # high impact first
    assert page.eval_on_selector_all(".trace .row", "els => els.length") == 3
    page.click("a.ev")
    selected = page.query_selector(".row.selected")
    assert selected is not None and "cited" in (selected.get_attribute("class") or "")
    assert "call tool" in selected.inner_text()
    detail = page.inner_text(".trace .detail").lower()
    assert "error running tool" in detail and "cited by finding 1" in detail and "arguments" in detail
    page.click(".row:has-text('response')")
    assert "list the files" in page.inner_text(".trace .detail") and "tool call list_files" in page.inner_text(
        ".trace .detail"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.click("a.ev")
    page.screenshot(path=str(SCREENSHOTS / "report.png"))


def _tool_runs(n: int) -> list[dict[str, Any]]:
    """`n` traces of differing length and tokens, each calling `search` (fails in every third) and `read` (never)."""
    spans = []
    for i in range(n):
        t = f"t{i}"
        spans.append(span(t, "root", name="agent", kind="AGENT", end=1 + i))
        status = "STATUS_CODE_ERROR" if i % 3 == 0 else "STATUS_CODE_OK"
        spans.append(span(t, "s", "root", name="search", kind="TOOL", start=0.1, end=0.5,
                          attributes={"tool.name": "search"}, status=status))  # fmt: skip
        spans.append(span(t, "r", "root", name="read", kind="TOOL", start=0.5, end=0.9,
                          attributes={"tool.name": "read"}))  # fmt: skip
        tokens = {"llm.token_count.prompt": 100 * (i + 1), "llm.token_count.completion": 10}
        spans.append(span(t, "l", "root", name="plan", kind="LLM", start=0.9, end=1.0, attributes=tokens))
    return spans


def test_overview_charts_draw_tool_error_rates_and_latency_and_token_spreads(browser: Any, tmp_path: Path) -> None:
    from engine.viewer import list_page
    from engine.viewer.charts import HISTOGRAM_BINS

    ds = _dataset(tmp_path, _tool_runs(12))
    file = tmp_path / "list.html"
    file.write_text(list_page(ds, {}))
    page, problems = _open(browser, file.as_uri())
    assert problems == []
    titles = page.eval_on_selector_all(".charts figure svg", "els => els.map(e => e.getAttribute('aria-label'))")
    assert titles == ["Error rate per tool (errors/calls)", "Trace latency", "Tokens per trace"]
    rows = page.eval_on_selector_all(
        ".charts figure:nth-of-type(1) text[text-anchor='end']", "els => els.map(e => e.textContent)"
    )
    assert rows[:2] == ["searchsearch", "readread"]  # <title> + label; the failing tool first
    assert "4/12" in page.inner_text(".charts figure:nth-of-type(1)")
    for n in (2, 3):  # latency, then tokens: every trace in one bin
        bins = page.eval_on_selector_all(
            f".charts figure:nth-of-type({n}) rect title", "els => els.map(e => Number(e.textContent.split(': ')[1]))"
        )
        assert len(bins) == HISTOGRAM_BINS and sum(bins) == 12
