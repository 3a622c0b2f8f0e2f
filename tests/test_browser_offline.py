"""Nothing leaves the machine: a browser that visits every page of the real app asks only
the app's own server for anything (no font CDN for the favicon, no analytics).  Every
request and WebSocket is recorded, and every resource the pages point at (icons,
stylesheets, scripts, images, frames) must be on the app's own host."""

from __future__ import annotations

import urllib.parse

import pytest
from conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

PAGES = ("Architecture", "Train", "Runs", "Activations", "Experiments", "Start here")
RESOURCES = ("link[rel~='icon']", "link[rel='stylesheet']", "link[rel='preload']", "script[src]", "img[src]",
             "iframe[src]", "source[src]")


def _resource_urls(pg) -> list[str]:
    return pg.eval_on_selector_all(", ".join(RESOURCES), "els => els.map(e => e.href || e.src)")


def test_visiting_every_page_asks_only_the_apps_own_server(browser, app_server):
    own = urllib.parse.urlsplit(app_server.url).netloc
    seen: list[str] = []
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.on("request", lambda r: seen.append(r.url))
    pg = ctx.new_page()
    pg.on("websocket", lambda ws: seen.append(ws.url))
    pg.set_default_timeout(60_000)
    try:
        pg.goto(app_server.url)
        wait_for_app(pg)
        pointed = _resource_urls(pg)
        for title in PAGES:
            pg.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            wait_for_app(pg)
            pg.wait_for_timeout(1500)  # late requests: icons, fonts, charts
            pointed += _resource_urls(pg)
        screenshot(pg, "offline_all_pages")
        icon = pg.eval_on_selector("link[rel~='icon']", "e => e.href")
        assert urllib.parse.urlsplit(icon).netloc == own and icon.endswith(".png"), icon
        assert pg.request.get(icon).ok
    finally:
        ctx.close()
    urls = [u for u in seen + pointed if not u.startswith(("data:", "blob:", "about:"))]
    outside = sorted({u for u in urls if urllib.parse.urlsplit(u).netloc != own})
    assert not outside, f"requests to other hosts: {outside}"
    assert len(urls) > 20  # the recorder saw the app load
