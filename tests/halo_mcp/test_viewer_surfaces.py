"""The viewer through MCP: the report page as a resource (also in a new server) and the MCP App page."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from support.browser import ARGS, CHROMIUM

from halo_mcp.app import APP_URI
from halo_mcp.server import HaloServer

pytestmark = pytest.mark.anyio


async def _finished_run(client: Client) -> str:
    run_id = (await client.call_tool("diagnose", {"question": "What fails?"})).structured_content["run_id"]
    with anyio.fail_after(60):
        await client.call_tool("diagnose_status", {"run_id": run_id, "wait_seconds": 30})
    return run_id


async def test_report_html_resource_draws_cited_traces_in_this_and_a_new_server(
    server: HaloServer, make_server, traces_dir
) -> None:
    async with Client(server.mcp) as client:
        run_id = await _finished_run(client)
        page = (await client.read_resource(f"halo://runs/{run_id}/report.html")).contents[0]
    assert page.mime_type == "text/html"
    assert "Evidence traces" in page.text and 'class="trace"' in page.text and "Content-Security-Policy" in page.text
    later = make_server([str(traces_dir)])
    async with later.runs, Client(later.mcp) as client:
        again = (await client.read_resource(f"halo://runs/{run_id}/report.html")).contents[0].text
    assert "Evidence traces" in again and run_id in again


async def test_view_trace_and_diagnose_status_carry_the_app_page_and_answer_the_same_text(server: HaloServer) -> None:
    async with Client(server.mcp) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        app = (await client.read_resource(APP_URI)).contents[0]
        answer = await client.call_tool("view_trace", {"trace_id": "t-bbbb"})
    for name in ("view_trace", "diagnose_status"):
        assert (tools[name].meta or {})["ui"]["resourceUri"] == APP_URI
    assert "ui" not in (tools["overview"].meta or {})
    assert app.mime_type == "text/html;profile=mcp-app" and 'id="app"' in app.text
    assert answer.content[0].text.startswith("trace t-bbbb")  # the text every client reads, unchanged


async def test_the_app_page_draws_a_view_trace_result_handed_over_by_the_host(
    server: HaloServer, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium); the browser tests skip")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    async with Client(server.mcp) as client:
        app = (await client.read_resource(APP_URI)).contents[0].text
        result = await client.call_tool("view_trace", {"trace_id": "t-bbbb"})
    file = tmp_path / "app.html"
    file.write_text(app)
    message = {"jsonrpc": "2.0", "method": "ui/notifications/tool-result",
               "params": {"content": [{"type": "text", "text": result.content[0].text}],
                          "structuredContent": result.structured_content}}  # fmt: skip

    def look() -> tuple[int, str]:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(file.as_uri())
            page.wait_for_selector("html[data-ready='1']")
            # Top-level, the page is its own parent: the host's message comes from window.parent.
            page.evaluate("m => window.postMessage(m, '*')", message)
            page.wait_for_selector("#app .trace .row")
            rows = page.eval_on_selector_all("#app .trace .row", "els => els.length")
            title = page.inner_text("#app-title")
            browser.close()
            return rows, title

    rows, title = await anyio.to_thread.run_sync(look)
    assert rows == result.structured_content["span_count"] and title == "Trace t-bbbb"
