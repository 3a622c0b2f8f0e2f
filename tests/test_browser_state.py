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


def _selectbox(pg, label: str):
    return pg.locator('[data-testid="stSelectbox"]', has_text=label).first


def shown_choice(pg, label: str) -> str:
    """The option a selectbox shows (Streamlit 1.67 draws it as the value of its input)."""
    box = _selectbox(pg, label)
    return " ".join([box.inner_text(), *[i.get_attribute("value") or "" for i in box.locator("input").all()],
                     *[i.get_attribute("aria-label") or "" for i in box.locator("input").all()]])


def _pick(pg, label: str, option: str) -> None:
    _selectbox(pg, label).click()
    pg.get_by_role("option", name=option).click()
    wait_for_app(pg)


def test_activations_layer_and_gradient_box_survive_an_empty_upload(page):
    """Handwritten digit → Layer pool2 → gradient on → Image "Upload" (no file) → back: the
    Layer box, the maps and the unit controls all say pool2; the checkbox shows what is drawn."""
    pg = page
    settle_home(pg)
    nav(pg, "Activations")
    pg.get_by_text("Handwritten digit", exact=True).click()
    wait_for_app(pg)
    pg.get_by_text("Unit: channel (0–95)").wait_for(timeout=60_000)
    _pick(pg, "Layer", "pool2 (maxpool) → 256×13×13")
    pg.get_by_text("Unit: channel (0–255)").wait_for()
    pg.get_by_text("Check the box with a gradient", exact=False).click()
    wait_for_app(pg)
    pg.get_by_text("Non-zero gradient on rows", exact=False).wait_for()
    pg.get_by_text("Upload", exact=True).click()
    wait_for_app(pg)
    pg.get_by_text("Choose an image to see the activations.").wait_for()
    pg.get_by_text("Handwritten digit", exact=True).click()
    wait_for_app(pg)
    pg.get_by_text("Unit: channel", exact=False).wait_for(timeout=60_000)
    wait_for_app(pg)
    pg.get_by_text("sees input rows", exact=False).wait_for()  # the box caption: drawn last of its column
    layer_box = shown_choice(pg, "Layer")
    body = pg.locator('[data-testid="stMain"]').inner_text()
    checked = pg.get_by_role("checkbox", name="Check the box with a gradient", exact=False).is_checked()
    assert "pool2 (maxpool)" in layer_box, layer_box
    assert "Unit: channel (0–255)" in body and "pool2: maps" in pg.content()
    assert checked and "Non-zero gradient on rows" in body
