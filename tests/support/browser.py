"""Headless Chromium for the viewer's page tests: Debian's `chromium`, driven by playwright.

`chromium()` skips the test with a message where the browser or playwright is absent
(`.ci/run` installs Chromium where it can); `open_page` loads a page and collects what
must never happen on it: script errors, dialogs, requests off the page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["ARGS", "CHROMIUM", "chromium", "open_page"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, closed afterwards; skips where it cannot run."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium); the browser tests skip")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A 1280×800 page at `url` once it says it is drawn, and the problems seen on it."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:")) else problems.append(r.url))
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']")
    return page, problems
