"""The real app in Chromium: a conv2 unit of paper-2012 explained on a real photograph
(scikit-learn's china.jpg), and a click on the chosen map moving the unit — the headline,
the sliders and the receptive-field box on the input follow it."""

from __future__ import annotations

import re

import pytest
from conftest import screenshot, wait_for_app

HEAD = re.compile(r"(conv2\[\d+, \d+, \d+\]) = ([-\d.e]+), the value the model computed")


def _headline(pg) -> re.Match:
    text = pg.get_by_text("the value the model computed", exact=False).first.inner_text()
    m = HEAD.search(text)
    assert m, text
    return m


@pytest.mark.browser
def test_browser_explains_a_conv2_unit_of_a_photograph_and_follows_a_click(page, app_server):
    pg = page
    pg.goto(app_server.url + "/activations")
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=300_000)
    wait_for_app(pg, 300_000)  # the machine is shared: paper-2012's first forward pass may take minutes
    pg.locator('[data-testid="stSelectbox"]', has_text="Layer").first.click()
    pg.get_by_role("option", name=re.compile(r"^conv2 \(conv\)")).click()
    pg.get_by_text("How conv2[", exact=False).wait_for(timeout=120_000)
    wait_for_app(pg, 120_000)
    assert pg.locator('[data-testid="stException"]').count() == 0
    first = _headline(pg)
    assert "equal to float precision" in pg.get_by_text("the value the model computed", exact=False).first.inner_text()
    for part, name in (("How conv2[", "explain-conv2-china-1"), ("Input channel to look at", "explain-conv2-china-2")):
        pg.get_by_text(part, exact=False).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        pg.wait_for_timeout(1500)
        screenshot(pg, name)

    # Play moves the kernel: the step slider's label leaves the unit's position
    slide = pg.locator(".stPlotlyChart", has_text="sliding over input channel").first
    label = slide.locator(".slider-group text.slider-label").first
    before = label.text_content()
    slide.locator(".updatemenu-button", has_text="Play").first.click()
    pg.wait_for_timeout(2000)
    assert label.text_content() != before, before
    slide.locator(".updatemenu-button", has_text="Pause").first.click()

    # a click on the chosen map (27×27, clickable) moves the unit to the clicked pixel
    chart = pg.locator(".stPlotlyChart", has_text="click a pixel to explain it").first
    chart.scroll_into_view_if_needed()
    drag = chart.locator(".nsewdrag").first.bounding_box()
    pg.mouse.click(drag["x"] + drag["width"] * 0.12, drag["y"] + drag["height"] * 0.85)
    pg.wait_for_function("(old) => !document.body.innerText.includes(old + ' = ')", arg=first.group(1),
                         timeout=60_000)
    wait_for_app(pg, 60_000)
    moved = _headline(pg)
    ch, row, col = map(int, re.findall(r"\d+", moved.group(1))[1:])
    assert ch == int(re.findall(r"\d+", first.group(1))[1]) and row > 13 and col < 13  # lower left
    assert pg.get_by_text(f"Unit {moved.group(1)} sees input rows", exact=False).count() == 1  # the box follows
    assert "equal to float precision" in pg.get_by_text("the value the model computed", exact=False).first.inner_text()
    screenshot(pg, "explain-conv2-china-clicked")
