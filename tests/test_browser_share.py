"""Share links end to end in headless Chromium (issue 12 §3): a link opened in a fresh browser
session (a new context: no cookies, no session) shows the same network; a tampered, an
oversized and an invalid link each say what is wrong, and the page keeps working."""

from __future__ import annotations

import pytest
from conftest import screenshot, wait_for_app
from test_browser_arch import expected_shapes, shown_shapes, wait_for_shape

from alexnet import get_spec, summarize
from explorer import share

pytestmark = pytest.mark.browser


def edited():
    spec = get_spec("paper-2012")
    return spec.with_layer(0, spec.layers[0].replace(out_channels=64, kernel=7, stride=2, padding=2))


def fresh_page(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("table.arch", timeout=90_000)
    wait_for_app(pg, 60_000)
    return ctx, pg


def test_link_reproduces_the_network_in_a_fresh_session(browser, app_server):
    spec = edited()
    link = f"{app_server.url}/architecture?net={share.network_params(spec)['net']}"
    ctx, pg = fresh_page(browser, link)
    try:
        assert shown_shapes(pg) == expected_shapes(spec)
        assert pg.locator('table.arch tr[data-layer="0"] td.shape').inner_text() == "64×113×113"
        total = summarize(spec)["total_params"]
        assert f"({total:,})" in pg.locator('[data-testid="stSidebar"]').inner_text()  # the sidebar agrees
        shown = pg.locator('[data-testid="stCode"]', has_text="net=").first.inner_text()
        assert f"/architecture?net={share.network_params(spec)['net']}" in shown.replace("\n", "")  # to copy
        screenshot(pg, "share_link_opened")
    finally:
        ctx.close()


@pytest.mark.parametrize("case", ["tampered", "oversized", "invalid"])
def test_bad_link_says_why_and_the_page_keeps_working(browser, app_server, case):
    good = share.network_params(edited())["net"]
    value, words = {
        "tampered": (good[:200] + ("B" if good[200] != "B" else "C") + good[201:], "link's network"),
        "oversized": ("A" * (share.MAX_LINK_CHARS + 10), "over the 16,000"),
        "invalid": (share.pack({"input": {"channels": 3, "height": 32, "width": 32},
                                "layers": [{"type": "conv", "out_channels": 8, "kernel": 0}]}), "kernel"),
    }[case]
    ctx, pg = fresh_page(browser, f"{app_server.url}/architecture?net={value}")
    try:
        alert = pg.locator('[data-testid="stAlert"]', has_text="link's network was refused")
        alert.wait_for(timeout=30_000)
        assert words in alert.inner_text()
        paper = get_spec("paper-2012")
        assert shown_shapes(pg) == expected_shapes(paper)  # the default network, unchanged
        screenshot(pg, f"share_link_{case}")
        box = pg.get_by_label("input H")
        box.fill("235")
        box.press("Enter")
        wait_for_shape(pg, 0, "96×57×55", timeout_ms=30_000)  # the page still works
        wait_for_app(pg)
        assert "Traceback" not in app_server.log_text()
    finally:
        ctx.close()
