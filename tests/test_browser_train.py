"""End to end in headless Chromium: design → Train → live curves → Runs, and a
training process killed with SIGKILL while the page watches it.

The real `streamlit run explorer/app.py` (conftest's app_server, private runs folder),
the real engine in its own process, digits on the CPU.  Screenshots go to screenshots/.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest
from conftest import screenshot, wait_for_app

from alexnet.runs import RunStore

pytestmark = pytest.mark.browser

# Points of the live loss chart (plotly keeps the figure on the element: gd.data)
LOSS_POINTS = """() => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const t = gd.layout && gd.layout.title && gd.layout.title.text;
    if (!(t && t.includes('Training loss per step') && gd._fullData)) continue;
    if (!gd._fullData.length) return 0;  // the 'no steps yet' figure
    const x = gd._fullData[0].x;  // decoded (plotly 6 sends numpy arrays as base64 'bdata')
    return x ? x.length : 0;
  }
  return -1;
}"""


def nav(pg, title: str) -> None:
    pg.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    wait_for_app(pg)


def type_number(pg, label: str, value) -> None:
    # after a rerun that replaced widgets, the stale copy lingers a moment: wait for one
    pg.wait_for_function("l => document.querySelectorAll(`input[aria-label=\"${l}\"]`).length === 1", arg=label,
                         timeout=30_000)
    box = pg.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(pg)


def loss_points(pg) -> int:
    return pg.evaluate(LOSS_POINTS)


def wait_points_above(pg, n: int, timeout_s: float = 90) -> int:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        k = loss_points(pg)
        if k > n:
            return k
        time.sleep(0.3)
    screenshot(pg, "train_no_points")
    titles = pg.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(g => JSON.stringify("
                         "g.layout && g.layout.title))")
    raise AssertionError(f"the loss chart stayed at {loss_points(pg)} points (wanted > {n}); charts: {titles}")


def scroll_to(locator) -> None:
    """Scroll an element into view for a screenshot; the live fragment may replace it
    mid-scroll (detached element), so retry — the scroll only frames the picture."""
    for _ in range(5):
        try:
            locator.scroll_into_view_if_needed(timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - playwright's Error for a re-rendered element
            time.sleep(0.3)


def only_run(runs_dir) -> dict:
    runs = RunStore(runs_dir).list_runs()
    assert len(runs) == 1, runs
    return runs[0]


def settle_home(pg) -> None:
    """Let the landing page finish (its table imports pandas) before navigating away:
    leaving mid-import left a half-imported pandas behind for the next page once."""
    wait_for_app(pg)
    pg.wait_for_selector('[data-testid="stTable"]', timeout=60_000)  # Start here: a static table
    wait_for_app(pg)


@pytest.fixture
def slow_jobs(tmp_path, monkeypatch):
    """Every training step of the jobs the app launches sleeps 0.05 s (requested before
    app_server, so the server and its jobs inherit it): a run of N steps lasts at least
    N·0.05 s on any machine."""
    from slow_steps import slow_training_steps

    return slow_training_steps(monkeypatch, tmp_path, delay=0.05)


def test_design_train_watch_live_and_find_it_on_runs(slow_jobs, page, app_server):
    pg = page
    settle_home(pg)
    # 1. Architecture: load LeNet-5 and change its input height to 16 (every shape after changes)
    nav(pg, "Architecture")
    pg.wait_for_selector("table.arch", timeout=60_000)
    sel = pg.locator('[data-testid="stSelectbox"]', has_text="Preset").first
    sel.click()
    pg.keyboard.type("lenet-5")
    pg.keyboard.press("Enter")
    pg.wait_for_function("() => document.querySelector('table.arch tr[data-layer=\"0\"]').dataset.shape === '6×28×28'",
                         timeout=30_000)
    wait_for_app(pg)
    type_number(pg, "input H", 16)
    pg.wait_for_function("() => document.querySelector('table.arch tr[data-layer=\"0\"]').dataset.shape === '6×16×28'",
                         timeout=30_000)

    # 2. Train: the current network is the edited one; launch on digits
    nav(pg, "Train")
    pg.get_by_text("current network (lenet-5)").wait_for()
    assert "1×16×28" in pg.locator('[data-testid="stSidebar"]').inner_text()
    # 15 epochs, ~330 steps of at least 0.05 s each (slow_jobs): ≥ 16 s on any machine, so the
    # page draws the chart while the run is still going
    type_number(pg, "Epochs", 15)
    wait_for_app(pg)
    pg.get_by_text("3 · Launch").wait_for()
    screenshot(pg, "train_before_launch")
    pg.locator('[data-testid="stBaseButton-primary"]', has_text="Train").click()
    wait_for_app(pg)

    # 3. the loss chart gains points while we stay on the page (fragment refresh)
    first = wait_points_above(pg, 0, timeout_s=120)
    later = wait_points_above(pg, first, timeout_s=60)
    assert later > first
    scroll_to(pg.locator(".js-plotly-plot").first)
    pg.mouse.wheel(0, 250)
    time.sleep(0.5)
    shot = screenshot(pg, "train_live_chart")
    print(f"\nloss chart: {first} → {later} points while watching; screenshot {shot}")
    pg.get_by_text("Completed.").wait_for(timeout=180_000)
    wait_for_app(pg)
    scroll_to(pg.get_by_text("Estimate ("))
    run = only_run(app_server.runs_dir)
    assert run["status"] == "completed", run
    assert run["spec"]["input"] == {"channels": 1, "height": 16, "width": 28}
    assert loss_points(pg) == len(RunStore(app_server.runs_dir).step_metrics(run["id"]))
    screenshot(pg, "train_completed")

    # 4. the Runs page lists it
    nav(pg, "Runs")
    pg.get_by_text("Manage a run").wait_for()
    shown = pg.evaluate("() => document.body.innerText + ' ' + [...document.querySelectorAll('input')]"
                        ".map(i => i.value).join(' ')")
    assert run["name"] in shown and run["id"] in shown
    assert "Traceback" not in pg.content()
    assert "Traceback" not in app_server.log_text(), app_server.log_text()[-3000:]
    screenshot(pg, "runs_page")


def test_sigkill_mid_run_shows_interrupted_and_the_server_keeps_serving(page, app_server):
    pg = page
    settle_home(pg)
    nav(pg, "Train")
    pg.get_by_text("a preset").click()
    wait_for_app(pg)
    type_number(pg, "Epochs", 200)
    pg.locator('[data-testid="stBaseButton-primary"]', has_text="Train").click()
    wait_for_app(pg)
    wait_points_above(pg, 0, timeout_s=120)
    run = only_run(app_server.runs_dir)
    assert run["status"] == "running" and run["pid"]
    os.kill(run["pid"], signal.SIGKILL)
    pg.get_by_text("Interrupted").first.wait_for(timeout=30_000)
    wait_for_app(pg)
    store = RunStore(app_server.runs_dir)
    run = store.get_run(run["id"])
    assert run["status"] == "interrupted"
    n = len(store.step_metrics(run["id"]))
    assert n > 0 and loss_points(pg) == n  # the curve up to the kill is still drawn
    pg.wait_for_function("() => ![...document.querySelectorAll('button')].some(b => b.innerText.includes('Stop')"
                         " && b.closest('[data-testid=\"stMain\"]'))", timeout=10_000)  # nothing left to stop
    screenshot(pg, "train_interrupted")
    # the server keeps serving: health, and a page switch that renders
    with urllib.request.urlopen(app_server.url + "/_stcore/health", timeout=5) as r:
        assert r.status == 200
    assert app_server.proc.poll() is None
    nav(pg, "Runs")
    pg.get_by_text("Manage a run").wait_for()
    assert "interrupted" in pg.locator('[data-testid="stAlert"]').first.inner_text().lower()


@pytest.fixture
def offline_data(tmp_path_factory, monkeypatch):
    """An empty data folder and no downloads, for the server the test starts next."""
    d = tmp_path_factory.mktemp("no-data")
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(d))
    monkeypatch.setenv("ALEXNET_OFFLINE", "1")
    return d


def pick_dataset(pg, name: str) -> None:
    box = pg.locator('[data-testid="stSelectbox"]', has_text="Dataset").first
    box.click()
    pg.get_by_role("option", name=name).click()
    wait_for_app(pg)


def test_launch_on_an_npz_path_and_the_offline_message(offline_data, page, app_server, tmp_path):
    """Issue 17 in a browser: the chosen dataset (a typed .npz path) is what the run trains
    on; a built-in dataset that is not here and cannot be downloaded blocks Train."""
    import numpy as np

    rng = np.random.default_rng(0)
    npz = tmp_path / "tiny-shapes.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8), y_train=np.arange(64) % 3,
             x_test=rng.integers(0, 256, (30, 8, 8), dtype=np.uint8), y_test=np.arange(30) % 3)
    pg = page
    settle_home(pg)
    nav(pg, "Train")
    pg.get_by_text("3 · Launch").wait_for()
    pick_dataset(pg, "cifar10")
    pg.get_by_text("Train is off until the dataset is usable").wait_for()
    assert pg.get_by_text("data_batch_1").count() >= 1 and str(offline_data) in pg.content()
    assert pg.locator('[data-testid="stBaseButton-primary"]', has_text="Train").is_disabled()
    screenshot(pg, "train_offline_dataset")
    pick_dataset(pg, "a file or folder…")
    box = pg.get_by_label("Path to an .npz file or an image folder", exact=False)
    box.fill(str(npz))
    box.press("Enter")
    wait_for_app(pg)
    pg.get_by_text("64 train / 30 test images").wait_for()
    type_number(pg, "Epochs", 1)
    pg.locator('[data-testid="stBaseButton-primary"]', has_text="Train").click()
    wait_for_app(pg)
    pg.get_by_text("Completed.").wait_for(timeout=120_000)
    run = RunStore(app_server.runs_dir).get_run(only_run(app_server.runs_dir)["id"])
    assert run["status"] == "completed", run
    assert run["config"]["dataset"] == str(npz) and "tiny-shapes" in run["name"]
    assert run["spec"]["layers"][-1]["out_features"] == 3
