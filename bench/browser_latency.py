"""What a person sees in headless Chromium: slider change → settled Architecture table, and the
Train page's first paint.

    python bench/browser_latency.py [--changes 20] [--compare /path/to/other/checkout]

Starts the real ``streamlit run explorer/app.py`` (a private runs folder, a free port) and
drives it with Playwright (Debian's /usr/bin/chromium, headless).

* slider → table: moves conv1's "out channels" slider one step with the keyboard, N times,
  and times, from the key press (``performance.now()`` in the page): *visible* — row 0 of
  the table shows the new shape; *settled* — the script run is over and nothing in the
  page changed for 300 ms (the time of the last change counts, not the quiet window).
* Train first paint: a fresh server, the home page opened (Streamlit itself warm), then the
  sidebar link to Train clicked; the time until the Train form ("Recipe" box) is drawn.

``--compare DIR`` runs the same measurements on another checkout (e.g. a ``git worktree``
of the parent commit), interleaved in the same invocation, so both see the same machine
load; the load average is printed with every figure.  Targets: slider → settled table
median < 250 ms at idle, Train first paint ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SLIDER_TARGET_MS, FIRST_PAINT_TARGET_S = 250.0, 1.5

# records the time of the last DOM change; the bench reads it to find when the page settled
_WATCH = """() => { window.__last = performance.now();
  if (!window.__obs) { window.__obs = new MutationObserver(() => { window.__last = performance.now(); });
    window.__obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }
  return performance.now(); }"""
_RUNNING = "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]'); " \
           "return !!w && w.innerText.includes('Running'); }"


def load() -> str:
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


@contextlib.contextmanager
def serve(root: Path):
    """``streamlit run`` of the checkout at ``root`` on a free port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ALEXNET_RUNS_DIR=str(Path(tmp) / "runs"), PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "streamlit", "run", str(root / "explorer" / "app.py"), "--server.port",
               str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
        with open(Path(tmp) / "log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=20)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError("streamlit did not start")


def wait_idle(pg, timeout_ms: int = 120_000) -> None:
    pg.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    pg.wait_for_function(f"() => !({_RUNNING})()", timeout=timeout_ms)


def _settled(pg, quiet_ms: float = 300, timeout_s: float = 60) -> float:
    """performance.now() of the last DOM change, once the run is over and the page is quiet."""
    end = time.time() + timeout_s
    while time.time() < end:
        running, last, now = pg.evaluate(f"() => [({_RUNNING})(), window.__last, performance.now()]")
        if not running and now - last >= quiet_ms:
            return last
        time.sleep(0.05)
    raise TimeoutError("the page did not settle")


def open_architecture(pg, url: str) -> None:
    pg.goto(url + "/architecture")
    pg.wait_for_selector("table.arch", timeout=120_000)
    wait_idle(pg)


_METRICS = ("TaskDuration", "ThreadTime", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")  # ThreadTime: CPU


def _busy(cdp) -> dict[str, float]:
    """The page's main-thread time so far (s), from Chrome's Performance domain."""
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: got.get(k, 0.0) for k in _METRICS}


def slider_changes(pg, n: int) -> list[tuple[float, float, dict]]:
    """(visible ms, settled ms, main-thread ms by kind) for ``n`` one-step moves of conv1's
    out-channels slider."""
    cdp = pg.context.new_cdp_session(pg)
    cdp.send("Performance.enable")
    out = []
    for k in range(n + 2):  # two warm-up changes
        before = pg.locator('table.arch tr[data-layer="0"] td.shape').inner_text().strip()
        thumb = pg.locator('[data-testid="stSlider"]', has_text="out channels").first.get_by_role("slider")
        thumb.focus()
        b0 = _busy(cdp)
        t0 = pg.evaluate(_WATCH)
        thumb.press("ArrowRight")
        pg.wait_for_function(
            "(b) => { const c = document.querySelector('table.arch tr[data-layer=\"0\"] td.shape');"
            " if (c && c.innerText.trim() !== b) { window.__seen = performance.now(); return true; } }",
            arg=before, timeout=60_000, polling="raf")
        seen = pg.evaluate("() => window.__seen")
        last = _settled(pg)
        b1 = _busy(cdp)
        if k >= 2:
            out.append((seen - t0, max(last, seen) - t0, {m: (b1[m] - b0[m]) * 1000 for m in _METRICS}))
    return out


def train_first_paint(browser, url: str) -> tuple[float, float]:
    """Seconds from the click on Train (fresh server, home page loaded) to its title, and to
    the drawn form."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = ctx.new_page()
        pg.goto(url)
        wait_idle(pg)
        link = pg.locator('[data-testid="stSidebarNav"] a', has_text="Train").first
        t0 = time.perf_counter()
        link.click()
        pg.locator("h1", has_text="Train").first.wait_for(timeout=120_000)
        title = time.perf_counter() - t0
        pg.get_by_text("Recipe", exact=True).first.wait_for(timeout=120_000)
        return title, time.perf_counter() - t0
    finally:
        ctx.close()


def bench_checkout(browser, root: Path, changes: int) -> dict:
    with serve(root) as url:
        paint = train_first_paint(browser, url)
        paint_load = load()
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            open_architecture(pg, url)
            times = slider_changes(pg, changes)
        finally:
            ctx.close()
    return {"paint": paint, "paint_load": paint_load, "times": times, "load": load()}


def report(name: str, r: dict) -> None:
    vis = [v for v, _, _ in r["times"]]
    sett = [s for _, s, _ in r["times"]]
    busy = {m: statistics.median(b[m] for _, _, b in r["times"]) for m in _METRICS}
    med = statistics.median(sett)
    print(f"{name}:")
    print(f"  Train first visit: title after {r['paint'][0]:.2f} s, form after {r['paint'][1]:.2f} s "
          f"({r['paint_load']})   target ≤ {FIRST_PAINT_TARGET_S} s")
    print(f"  slider → table visible  median {statistics.median(vis):6.0f} ms   p90 "
          f"{sorted(vis)[int(0.9 * (len(vis) - 1))]:6.0f} ms")
    print(f"  slider → table settled  median {med:6.0f} ms   p90 {sorted(sett)[int(0.9 * (len(sett) - 1))]:6.0f} ms"
          f"   ({len(sett)} changes, {r['load']})   target < {SLIDER_TARGET_MS:.0f} ms at idle")
    print("  browser main thread per change (median ms): "
          + ", ".join(f"{m.replace('Duration', '').replace('ThreadTime', 'cpu').lower()} {v:.0f}" for m, v in busy.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--compare", type=Path, help="another checkout (e.g. the parent commit's worktree)")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the checkouts this many times")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    roots = [("this checkout", ROOT)] + ([(f"compare {args.compare}", args.compare.resolve())]
                                         if args.compare else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in roots}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        for _ in range(args.rounds):
            for name, root in roots:
                results[name].append(bench_checkout(browser, root, args.changes))
                report(name, results[name][-1])
                sys.stdout.flush()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
