"""Issue 16 "State that goes stale", in headless Chromium where only a browser shows it:
the browser keeps its own copy of a widget's value, which can differ from what the
server last drew."""

from __future__ import annotations

import pytest
from conftest import wait_for_app
from test_browser_train import nav, settle_home

pytestmark = pytest.mark.browser


def run_name(pg) -> str:
    pg.wait_for_function("() => document.querySelectorAll('input[aria-label=\"Run name\"]').length === 1")
    return pg.get_by_label("Run name", exact=True).input_value()


def wait_run_name(pg, want: str) -> None:
    wait_for_app(pg)
    pg.wait_for_function("w => { const b = document.querySelectorAll('input[aria-label=\"Run name\"]');"
                         " return b.length === 1 && b[0].value === w; }", arg=want, timeout=30_000)


def test_train_run_name_follows_preset_choice_in_the_browser(page):
    pg = page
    settle_home(pg)
    nav(pg, "Train")
    pg.get_by_text("3 · Launch").wait_for()
    assert run_name(pg) == "paper-2012 · digits · quick"
    pg.get_by_text("a preset", exact=True).click()
    wait_run_name(pg, "alexnet-cifar-32 · digits · quick")
    box = pg.locator('[data-testid="stSelectbox"]', has_text="Preset").first
    box.click()
    pg.get_by_role("option", name="lenet-5").click()
    wait_run_name(pg, "lenet-5 · digits · quick")
    pg.get_by_text("current network (paper-2012)", exact=True).click()
    wait_run_name(pg, "paper-2012 · digits · quick")
    pg.get_by_role("button", name="Use alexnet-cifar-32").click()
    wait_run_name(pg, "alexnet-cifar-32 · digits · quick")
