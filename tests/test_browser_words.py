"""Words and pictures in a real browser (issue 16 §13, §14b): no text cut off at common
laptop sizes.  Headless Chromium on the real `streamlit run explorer/app.py`.

A cell or label is *cut* when it hides part of its text: its scrollWidth exceeds its
clientWidth while it (or the parent that holds only it) clips (overflow hidden or an
ellipsis).  Screenshots go to screenshots/ (git-ignored).
"""

from __future__ import annotations

import pytest
from conftest import screenshot, wait_for_app
from test_browser_console import record_console

pytestmark = pytest.mark.browser

CUT_TEXT_JS = """(root) => {
  const out = [];
  const scope = root ? document.querySelector(root) : document.querySelector('[data-testid="stMain"]');
  const clips = cs => cs.textOverflow === 'ellipsis' || ['hidden', 'clip'].includes(cs.overflowX);
  for (const el of scope.querySelectorAll('*')) {
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden' || !el.getClientRects().length) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 4 || box.height < 4) continue;  // visually hidden on purpose ("Skip to main content")
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    let cut = clips(cs) && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;
    for (let p = el.parentElement, i = 0; !cut && p && i < 3; p = p.parentElement, i++) {
      const pcs = getComputedStyle(p);
      cut = clips(pcs) && p.scrollWidth > p.clientWidth + 1 && p.clientWidth > 0
            && p.innerText.trim() === el.innerText.trim();
    }
    if (cut) out.push(el.innerText.trim().slice(0, 80));
  }
  return out;
}"""


def cut_texts(pg, root: str | None = None) -> list[str]:
    return pg.evaluate(CUT_TEXT_JS, root)


def open_page(browser, url: str, name: str, width: int, height: int):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    wait_for_app(pg, 90_000)
    pg.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
    wait_for_app(pg, 90_000)
    return ctx, pg


def visible_headers(pg) -> list[str]:
    return pg.eval_on_selector_all(
        "table.arch thead th", "ths => ths.filter(t => t.getClientRects().length).map(t => t.innerText.trim())")


# ---- 14b: the Architecture table reads fully at 1280 px and degrades below -------------
@pytest.mark.parametrize("width, height", [(1280, 800), (1024, 768)])
def test_the_architecture_table_shows_every_cell_whole(browser, app_server, width, height):
    ctx, pg = open_page(browser, app_server.url, "Architecture", width, height)
    try:
        pg.wait_for_selector("table.arch", timeout=90_000)
        assert pg.locator('[data-testid="stSidebar"]').is_visible(), "the sidebar is open"
        screenshot(pg, f"arch_table_{width}x{height}")
        cut = cut_texts(pg, '[data-testid="stMain"]')
        table_cut = [t for t in cut if t]  # the whole main area: table cells, headers and controls
        assert not table_cut, f"cut off at {width}×{height}: {table_cut}"
        heads = visible_headers(pg)
        assert heads[:5] == ["#", "layer", "output C×H×W", heads[3], "params (% of total)"], heads
        if width >= 1280:
            assert len(heads) == 8, f"every column at {width} px: {heads}"
        shapes = pg.eval_on_selector_all("table.arch tr[data-layer] td.shape",
                                         "tds => tds.map(t => t.innerText.replace(/\\s/g, ''))")
        want = pg.eval_on_selector_all("table.arch tr[data-layer]", "rs => rs.map(r => r.dataset.shape)")
        assert [s for s, w in zip(shapes, want) if w] == [w for w in want if w], "shapes read whole"
    finally:
        ctx.close()


# ---- 13: no cut-off text on any page, at the two common laptop sizes --------------------
PAGES = ["Start here", "Architecture", "Train", "Runs", "Activations", "Experiments"]


def _a_finished_run(runs_dir) -> None:
    from alexnet.data import load_dataset
    from alexnet.runs import RunStore
    from alexnet.train import make_config, train
    from tests.train_helpers import TINY

    r = train(TINY, make_config("quick", epochs=2, batch_size=128, cpu_threads=1), store=RunStore(runs_dir),
              progress=False, dataset=load_dataset("digits"))
    assert r["status"] == "completed", r


def _settle(pg, seconds: float = 3.0) -> None:
    wait_for_app(pg, 120_000)
    pg.wait_for_timeout(seconds * 1000)  # the estimate and charts arrive after the first paint
    wait_for_app(pg, 120_000)


@pytest.mark.parametrize("width, height", [(1400, 900), (1280, 800)])
def test_no_page_cuts_its_text(browser, app_server, width, height):
    _a_finished_run(app_server.runs_dir)
    ctx = browser.new_context(viewport={"width": width, "height": height})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    found, errors, where = {}, [], {"page": "home"}
    record_console(pg, errors, where)  # issue 16 item 18 through the sidebar (see test_browser_console)
    try:
        pg.goto(app_server.url)
        _settle(pg)
        for name in PAGES:
            where["page"] = name
            pg.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
            _settle(pg)
            if name == "Architecture":  # its charts are drawn on request
                pg.get_by_text("Draw the network to scale").click()
                _settle(pg)
            screenshot(pg, f"words_{name.lower().replace(' ', '-')}_{width}x{height}")
            cut = cut_texts(pg, '[data-testid="stApp"]')
            if cut:
                found[name] = cut
        # a collapsed network: its fix buttons and the sidebar's error line
        where["page"] = "Architecture with paddle-cifar10-32"
        pg.locator('[data-testid="stSidebarNav"] a', has_text="Architecture").click()
        _settle(pg)
        pg.get_by_label("Preset (a network from the tutorials)").click()
        pg.get_by_role("option", name="paddle-cifar10-32").click()
        pg.wait_for_selector('tr[data-status="error"]', timeout=60_000)
        _settle(pg, 1)
        screenshot(pg, f"words_arch-paddle_{width}x{height}")
        cut = cut_texts(pg, '[data-testid="stApp"]')
        if cut:
            found["Architecture with paddle-cifar10-32"] = cut
    finally:
        ctx.close()
    assert not found, f"text cut off at {width}×{height}: {found}"
    assert not errors, "console errors:\n" + "\n".join(errors)
