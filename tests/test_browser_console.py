"""Issue 16 item 18: no errors in the browser console on any page.

Opens every page of the real app in headless Chromium by its address (a bookmark, a
reload), waits for its charts, and fails on any console message of level error and any
uncaught page error, naming the page and the message.  The visits through the sidebar, at
two window sizes and with a finished run, record the console the same way in
tests/test_browser_words.py (``record_console``), which walks every page already."""

from __future__ import annotations

import re

import pytest
from conftest import wait_for_app

pytestmark = pytest.mark.browser

PAGES = ("Start here", "Architecture", "Train", "Runs", "Activations", "Experiments")
# Streamlit's own probe on a page's address (streamlit/streamlit#7074): opened at /train it
# first asks /train/_stcore/health and host-config (404), then the root.  Not the app's doing.
PROBE = re.compile(r"/[a-z_]+/_stcore/(health|host-config)\b")


def record_console(pg, errors: list[str], where: dict) -> None:
    """Append to ``errors`` each console error and uncaught page error, naming ``where['page']``."""
    def console(m):
        url = m.location.get("url", "")
        if m.type == "error" and not PROBE.search(url):
            errors.append(f"{where['page']}: {m.text} ({url})")
    pg.on("console", console)
    pg.on("pageerror", lambda e: errors.append(f"{where['page']}: uncaught {e}"))


def test_no_console_errors_on_any_page(browser, app_server):
    errors: list[str] = []
    where = {"page": "home"}
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    record_console(pg, errors, where)
    try:
        pg.goto(app_server.url)
        wait_for_app(pg, 120_000)
        for title in PAGES[1:]:
            where["page"] = f"{title} (by address)"
            pg.goto(f"{app_server.url}/{title.lower()}")
            wait_for_app(pg, 120_000)
            pg.wait_for_timeout(3000)
    finally:
        ctx.close()
    assert not errors, "console errors:\n" + "\n".join(errors)
