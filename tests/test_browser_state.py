"""Issue 16 "State that goes stale", in headless Chromium where only a browser shows it:
the browser keeps its own copy of a widget's value, which can differ from what the
server last drew."""

from __future__ import annotations

import time

import pytest
from conftest import wait_for_app
from test_browser_train import nav
from test_runs_page import fake_run

from alexnet.presets import get_spec
from alexnet.runs import RunStore

pytestmark = pytest.mark.browser


def settle_home(pg) -> None:
    """Let Start here finish (its presets table) before navigating away.  Generous waits:
    the machine these run on is shared and often loaded."""
    pg.set_default_timeout(120_000)
    wait_for_app(pg, 120_000)
    pg.wait_for_selector('[data-testid="stTable"], [data-testid="stDataFrame"]')
    wait_for_app(pg, 120_000)


def run_name(pg) -> str:
    pg.wait_for_function("() => document.querySelectorAll('input[aria-label=\"Run name\"]').length === 1")
    return pg.get_by_label("Run name", exact=True).input_value()


def wait_run_name(pg, want: str) -> None:
    wait_for_app(pg)
    pg.wait_for_function("w => { const b = document.querySelectorAll('input[aria-label=\"Run name\"]');"
                         " return b.length === 1 && b[0].value === w; }", arg=want, timeout=30_000)


def test_train_run_name_follows_preset_choice_in_the_browser(page, app_server):
    # The speed-up buttons ("Use alexnet-cifar-32") show only for a run estimated over ten
    # minutes.  A past run on this machine at 1 image/s makes every network's estimate that
    # slow, whatever the CPU (CI's is fast enough that paper-2012's quick recipe fits).
    fake_run(RunStore(app_server.runs_dir), "a slow past run", spec=get_spec("paper-2012"), images_per_sec=1.0)
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


def _chips(pg, label: str) -> list[str]:
    box = pg.locator('[data-testid="stMultiSelect"]', has_text=label).first
    return [t.get_attribute("aria-label") for t in box.locator("[data-tag]").all()]


def test_runs_overlay_and_run_selector_stay_put(page, app_server):
    """Runs: the overlay choice stays when a run is added; after Rename the Run selector
    stays on the renamed run (showing its new name only) and opens its network."""
    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run
    from tests.train_helpers import TINY

    store = RunStore(app_server.runs_dir)
    wide = TINY.with_layer(0, TINY.layers[0].replace(out_channels=16))
    old = fake_run(store, "old one", spec=wide)
    second = fake_run(store, "second")
    newest = fake_run(store, "newest")
    pg = page
    settle_home(pg)
    nav(pg, "Runs")
    pg.get_by_text("Manage a run").wait_for()
    pg.wait_for_selector("[data-tag]")
    assert _chips(pg, "Runs to overlay") == [f"newest ({newest})", f"second ({second})"]
    pg.get_by_role("button", name=f"Remove newest ({newest})").click()
    wait_for_app(pg)
    assert _chips(pg, "Runs to overlay") == [f"second ({second})"]
    fake_run(store, "added later")
    pg.get_by_text("train_acc", exact=True).click()  # any rerun reads the new run list
    wait_for_app(pg)
    assert _chips(pg, "Runs to overlay") == [f"second ({second})"]

    run_box = pg.locator('[data-testid="stSelectbox"]').filter(has=pg.get_by_text("Run", exact=True))
    for _ in range(5):  # the box is redrawn when the run list changes: open it again if it closed
        pg.wait_for_function("() => [...document.querySelectorAll('[data-testid=stSelectbox]')]"
                             ".filter(b => b.innerText.split('\\n')[0] === 'Run').length === 1")
        run_box.click()
        try:
            pg.locator('[role="option"]', has_text="old one").click(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            wait_for_app(pg, 120_000)
    wait_for_app(pg, 120_000)
    pg.wait_for_function("() => document.querySelectorAll('input[aria-label=\"Name\"]').length === 1")
    assert pg.get_by_label("Name", exact=True).input_value() == "old one"
    name = pg.get_by_label("Name", exact=True)
    name.fill("wide conv1")
    name.press("Enter")
    wait_for_app(pg)
    pg.get_by_role("button", name="Rename").click()
    wait_for_app(pg)
    deadline = time.time() + 120
    while store.get_run(old)["name"] != "wide conv1":
        assert time.time() < deadline, "Rename did not rename the run"
        time.sleep(0.5)
    want = f"wide conv1 ({old})"
    try:  # the selector shows the new name, and nothing shows the old one
        pg.wait_for_function("w => [...document.querySelectorAll('[data-testid=stSelectbox] input')]"
                             ".some(i => i.value === w) && !document.body.innerText.includes('old one')",
                             arg=want, timeout=60_000)
    except Exception:
        shown = [i.get_attribute("value") for i in pg.locator('[data-testid="stSelectbox"] input').all()]
        raise AssertionError(f"after Rename the selectors show {shown}, not {want!r}") from None
    pg.get_by_role("button", name="Open its network in Architecture").click()
    pg.wait_for_selector("table.arch", timeout=60_000)
    wait_for_app(pg)
    assert pg.locator('table.arch tr[data-layer="0"]').get_attribute("data-shape") == "16×8×8"
