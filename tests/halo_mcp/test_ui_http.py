"""`serve --http` serves the viewer at /ui/ behind the same bearer token as /mcp, seen in real Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.browser import chromium

TOKEN = "ui-test-token"


def _serve(datasets: list[Path], tmp_path: Path, port: int, env: dict[str, str], *extra: str) -> Iterator[str]:
    """A real `serve --http` process on 127.0.0.1:`port` until the test ends; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_mcp", "serve", "--http", "--port", str(port), *extra, *map(str, datasets)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
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


@pytest.fixture
def ui_server(traces_dir: Path, tmp_path: Path, free_port: int, server_env) -> Iterator[str]:
    yield from _serve([traces_dir], tmp_path, free_port, server_env(tmp_path), "--token", TOKEN)


@pytest.fixture
def open_server(traces_dir: Path, tmp_path: Path, free_port: int, server_env) -> Iterator[str]:
    """Bound to localhost without a token: the Host check is the only guard."""
    yield from _serve([traces_dir], tmp_path, free_port, server_env(tmp_path))


@pytest.fixture
def two_datasets(traces_dir: Path, tmp_path: Path, server_env) -> Iterator[str]:
    files = [traces_dir / "realistic.jsonl", traces_dir / "tiny.jsonl"]
    with socket.socket() as s:  # a port of its own: a test may run it beside `ui_server`
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield from _serve(files, tmp_path, port, server_env(tmp_path), "--token", TOKEN)


def test_ui_refuses_a_foreign_host_header_as_mcp_does(open_server: str) -> None:
    port = open_server.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx2.get(open_server + "/ui/", headers={"host": host}, timeout=60).status_code == 200, host
    for host in (f"evil.example:{port}", f"localhost.evil.example:{port}", "evil.example", "localhost"):
        refused = httpx2.get(open_server + "/ui/traces/x", headers={"host": host}, timeout=30)
        assert refused.status_code == 421, host
        assert repr(host) in refused.text.replace("&#x27;", "'") and "DNS rebinding" in refused.text
        assert httpx2.get(open_server + "/ui", headers={"host": host}, timeout=30).status_code == 421  # no redirect
        mcp = httpx2.post(open_server + "/mcp", headers={"host": host, "content-type": "application/json"},
                          content=b"{}", timeout=30)  # fmt: skip
        assert mcp.status_code == 421, (host, mcp.status_code)  # the same rule on /mcp
    foreign = httpx2.get(open_server + "/ui/", headers={"origin": "http://evil.example"}, timeout=30)
    assert foreign.status_code == 403 and "evil.example" in foreign.text


def test_ui_pages_need_the_token_like_mcp(ui_server: str) -> None:
    assert httpx2.get(ui_server + "/ui/", timeout=30).status_code == 401
    assert httpx2.get(ui_server + "/ui/traces/x", timeout=30).status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    page = httpx2.get(ui_server + "/ui/?errors=1", headers=auth, timeout=60)
    assert page.status_code == 200 and "Content-Security-Policy" in page.text and "Error rate per tool" in page.text
    missing = httpx2.get(ui_server + "/ui/traces/no-such-trace", headers=auth, timeout=30)
    assert missing.status_code == 404 and "no-such-trace" in missing.text


def test_trace_list_filters_and_links_to_a_drawn_trace_in_chromium(ui_server: str) -> None:
    with chromium() as browser:
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


def _rows(page: str) -> int:
    return page.count("<tr") - 1  # less the header row


def test_one_dataset_has_no_chooser_and_two_get_one(ui_server: str, two_datasets: str) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    single = httpx2.get(ui_server + "/ui/", headers=auth, timeout=60)
    assert single.status_code == 200 and 'name="dataset"' not in single.text
    both = httpx2.get(two_datasets + "/ui/", headers=auth, timeout=60).text
    assert 'name="dataset"' in both and "all 2 datasets" in both
    assert "realistic.jsonl</option>" in both and "tiny.jsonl</option>" in both
    tiny = httpx2.get(two_datasets + "/ui/?dataset=2", headers=auth, timeout=60)
    assert tiny.status_code == 200 and "tiny.jsonl</p></header>" in tiny.text  # the meta line names it
    assert 0 < _rows(tiny.text) < _rows(both)
    assert '?dataset=2"' in tiny.text  # trace links keep the choice
    missing = httpx2.get(two_datasets + "/ui/?dataset=7", headers=auth, timeout=30)
    assert missing.status_code == 404 and "datasets 0-2" in missing.text


def test_choosing_a_dataset_in_chromium_lists_its_traces_and_opens_one(two_datasets: str) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      extra_http_headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(two_datasets + "/ui/")
        everything = page.eval_on_selector_all("table.list tbody tr", "els => els.length")
        page.select_option("select.datasets", index=2)  # submits on change
        page.wait_for_url("**dataset=2**")
        tiny = page.eval_on_selector_all("table.list tbody tr", "els => els.length")
        assert 0 < tiny < everything
        assert "tiny.jsonl" in page.inner_text("header .meta")
        page.click("table.list tbody tr a")
        page.wait_for_selector("html[data-ready='1'] .trace .row")
        page.click("a.back")
        page.wait_for_url("**/ui/?dataset=2")
        assert page.eval_on_selector_all("table.list tbody tr", "els => els.length") == tiny
        assert errors == []


def test_dataset_choices_offer_each_dataset_and_each_root_no_dataset_lies_in(traces_dir: Path, tmp_path: Path) -> None:
    from halo_mcp.datasets import DatasetCatalog
    from halo_mcp.ui import dataset_choices

    other = tmp_path / "other"
    other.mkdir()
    tiny = str(traces_dir / "tiny.jsonl")
    real_other = os.path.realpath(other)
    assert dataset_choices(DatasetCatalog([tiny])) == [(None, tiny)]  # one dataset: no choice to make
    # traces_dir holds the dataset, so it is not offered on its own; `other` is
    offered = dataset_choices(DatasetCatalog([tiny], roots=[traces_dir, other]))
    assert offered == [(None, tiny), (real_other, real_other)]
    assert dataset_choices(DatasetCatalog([], roots=[other])) == [(real_other, real_other)]
    both = dataset_choices(DatasetCatalog([tiny, str(traces_dir / "realistic.jsonl")]))
    assert [label for _spec, label in both] == ["all 2 datasets", tiny, str(traces_dir / "realistic.jsonl")]
