"""`serve --http` serves the viewer at /ui/ behind the same bearer token as /mcp, seen in real Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

TOKEN = "ui-test-token"
CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
def ui_server(traces_dir: Path, tmp_path: Path, free_port: int, server_env) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "serve", "--http", "--port", str(free_port), "--token", TOKEN, str(traces_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=server_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                httpx2.get(base + "/ui/", timeout=0.5)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "server did not start listening"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_ui_pages_need_the_token_like_mcp(ui_server: str) -> None:
    assert httpx2.get(ui_server + "/ui/", timeout=30).status_code == 401
    assert httpx2.get(ui_server + "/ui/traces/x", timeout=30).status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    page = httpx2.get(ui_server + "/ui/?errors=1", headers=auth, timeout=60)
    assert page.status_code == 200 and "Content-Security-Policy" in page.text and "Error rate per tool" in page.text
    missing = httpx2.get(ui_server + "/ui/traces/no-such-trace", headers=auth, timeout=30)
    assert missing.status_code == 404 and "no-such-trace" in missing.text


def test_trace_list_filters_and_links_to_a_drawn_trace_in_chromium(ui_server: str) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium); the browser tests skip")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800},
                                          extra_http_headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(ui_server + "/ui/")
            everything = page.eval_on_selector_all("table.list tbody tr", "els => els.length")
            page.check("input[name=errors]")
            page.click("button[type=submit]")
            page.wait_for_url("**errors=1**")
            failing = page.eval_on_selector_all("table.list tbody tr", "els => els.length")
            assert 0 < failing < everything
            page.click("table.list tbody tr a")
            page.wait_for_selector("html[data-ready='1'] .trace .row")
            assert "/ui/traces/" in page.url
            assert page.eval_on_selector_all(".trace .row.err", "els => els.length") >= 1
            page.click(".trace .row.err")
            assert "error" in page.inner_text(".trace .detail").lower()
            assert errors == []
        finally:
            browser.close()
