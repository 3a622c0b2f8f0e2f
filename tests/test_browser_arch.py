"""End to end in headless Chromium: the real `streamlit run explorer/app.py`, the real page.

Go to Architecture through the sidebar, change hyperparameters through the page's own
widgets (the input height box, conv1's stride slider by keyboard, a fix button), and check
that the visible output shapes become what ``alexnet.summarize`` says.  Screenshots go to
screenshots/ (git-ignored).
"""

from __future__ import annotations

import time

import pytest
from conftest import screenshot, wait_for_app

from alexnet import get_spec, summarize

pytestmark = pytest.mark.browser


def expected_shapes(spec) -> list[str]:
    return ["" if r["status"] in ("error", "not_computed") else "×".join(map(str, r["out_shape"]))
            for r in summarize(spec)["layers"]]


def shown_shapes(pg) -> list[str]:
    return pg.eval_on_selector_all("table.arch tr[data-layer]", "rows => rows.map(r => r.dataset.shape)")


def wait_for_shape(pg, index: int, text: str, timeout_ms: int = 20_000) -> float:
    """Wait until row ``index`` shows ``text``; returns the seconds it took."""
    t = time.perf_counter()
    pg.wait_for_function(
        "([i, s]) => { const c = document.querySelector(`table.arch tr[data-layer=\"${i}\"] td.shape`);"
        " return c && c.innerText.trim() === s; }", arg=[index, text], timeout=timeout_ms)
    return time.perf_counter() - t


def test_edit_through_the_page_updates_the_visible_shapes(page, app_server):
    pg = page
    wait_for_app(pg)
    pg.locator('[data-testid="stSidebarNav"] a', has_text="Architecture").click()
    pg.wait_for_selector("table.arch", timeout=60_000)
    wait_for_app(pg)
    paper = get_spec("paper-2012")
    assert pg.locator('table.arch tr[data-layer="0"] td.shape').inner_text() == "96×55×55"
    assert shown_shapes(pg) == expected_shapes(paper)
    screenshot(pg, "arch_e2e_start")

    # 1. the input height, typed into its box: 235 → conv1 57×55, and pool2 becomes inexact
    box = pg.get_by_label("input H")
    box.fill("235")
    box.press("Enter")
    spec = paper.with_input(height=235)
    want = expected_shapes(spec)
    took = wait_for_shape(pg, 0, want[0])
    wait_for_app(pg)
    assert want[0] == "96×57×55"
    assert shown_shapes(pg) == want
    s = summarize(spec)
    bad = [r for r in s["layers"] if r["status"] == "inexact"]
    assert bad, "235 should make a later pool inexact"
    row = pg.locator(f'table.arch tr[data-layer="{bad[0]["index"]}"]')
    assert "inexact" in row.get_attribute("class")
    assert "inexact" in pg.locator(f'tr[data-msg-for="{bad[0]["index"]}"]').get_attribute("class")  # warning icon
    screenshot(pg, "arch_e2e_after_input_edit")
    print(f"\nvisible update after typing the input height: {took * 1000:.0f} ms")

    # 2. its one-click fix, on the row itself
    label = bad[0]["fixes"][0]["label"]
    pg.get_by_role("button", name=label).first.click()
    fixed = _apply_fix(paper.with_input(height=235), bad[0]["index"], bad[0]["fixes"][0])
    wait_for_shape(pg, 0, expected_shapes(fixed)[0]) if expected_shapes(fixed)[0] != want[0] else None
    pg.wait_for_function(f"() => !document.querySelector('tr[data-layer=\"{bad[0]['index']}\"].inexact')")
    wait_for_app(pg)
    assert shown_shapes(pg) == expected_shapes(fixed)

    # 3. conv1's stride slider, moved with the keyboard (layer 0 is selected by default)
    thumb = pg.locator('[data-testid="stSlider"]', has_text="stride").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowLeft")  # 4 → 3
    spec3 = fixed.with_layer(0, fixed.layers[0].replace(stride=3))
    took = wait_for_shape(pg, 0, expected_shapes(spec3)[0])
    wait_for_app(pg)
    assert shown_shapes(pg) == expected_shapes(spec3)
    screenshot(pg, "arch_e2e_after_stride")
    print(f"visible update after the stride slider: {took * 1000:.0f} ms")

    # 4. a garbage upload is refused with a message and changes nothing
    pg.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "bad.json", "mimeType": "application/json", "buffer": b"{ not json"}])
    pg.get_by_text("Upload refused").wait_for(timeout=20_000)
    wait_for_app(pg)
    assert "not valid JSON" in pg.get_by_text("Upload refused").inner_text()
    assert shown_shapes(pg) == expected_shapes(spec3)
    assert "Traceback" not in pg.content()
    assert "Traceback" not in app_server.log_text()


def _apply_fix(spec, index, fix):
    if fix["kind"] == "input":
        return spec.with_input(height=fix["height"], width=fix["width"])
    if fix["kind"] == "field":
        return spec.with_layer(index, spec.layers[index].replace(**{fix["field"]: fix["value"]}))
    return spec.delete_layer(index)
