"""Train page first paint on a fresh server whose first visit is Train (issue 16 §9).

    python bench/train_first_paint.py [--starts 3] [--scenario direct|via-home|both]
                                      [--home-pause 0] [--compare /path/to/other/checkout]

Each start is a new ``streamlit run explorer/app.py`` (a private runs folder, a free port,
so PyTorch is not imported yet) and a new headless Chromium page opened straight on /train
(or, ``via-home``, on the home page, and Train clicked in the sidebar ``--home-pause`` s
after it is drawn: the app's browser code and first imports are then done, and the engine
preload is under way or done).  Times from the navigation (or the click) to: the form
("2 · Recipe and settings" and its Recipe box) visible, and the estimate ("Time per epoch
(est.)") visible.  Prints the median over the starts with the load average; ``--compare
DIR`` times another checkout (e.g. a ``git archive`` of the commit before) in the same run,
alternating start by start, and prints the ratio.  Target: form ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from browser_latency import CHROMIUM, FLAGS, load, serve, wait_idle  # noqa: E402 - the server and browser set-up

TARGET_S = 1.5


def first_visit(browser, url: str, via_home: float | None) -> dict:
    """Seconds from opening /train (or from the click on Train in the sidebar of the home page,
    ``via_home`` seconds after it was drawn) to: the sidebar's network line (the app's part,
    before any page code), the form, and the estimate visible."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = ctx.new_page()
        if via_home is not None:
            pg.goto(url)
            pg.locator("h1", has_text="AlexNet Explorer").first.wait_for(timeout=180_000)
            wait_idle(pg)
            time.sleep(via_home)
            t0 = time.perf_counter()
            pg.locator('[data-testid="stSidebarNav"] a', has_text="Train").first.click()
        else:
            t0 = time.perf_counter()
            pg.goto(url + "/train", wait_until="commit")
        out = {}
        for what, loc in (("app", pg.get_by_text("Current network:").first),
                          ("form", pg.get_by_text("2 · Recipe and settings", exact=True).first),
                          ("form", pg.locator('[data-testid="stSelectbox"]', has_text="Recipe").first),
                          ("estimate", pg.get_by_text("Time per epoch (est.)", exact=True).first)):
            loc.wait_for(timeout=180_000)
            out[what] = time.perf_counter() - t0
        return out
    finally:
        ctx.close()


def one_start(browser, root: Path, via_home: float | None) -> dict:
    with serve(root) as url:
        before = load()
        got = first_visit(browser, url, via_home)
    return {**got, "load": before}


def summary(name: str, got: list[dict]) -> dict[str, float]:
    med = {k: statistics.median(g[k] for g in got) for k in ("app", "form", "estimate")}
    print(f"  {name}: form visible median {med['form']:.2f} s (target ≤ {TARGET_S} s: "
          f"{'OK' if med['form'] <= TARGET_S else 'MISSED'}), estimate visible {med['estimate']:.2f} s; the "
          f"sidebar (app.py, before any page code) {med['app']:.2f} s — over {len(got)} fresh server(s)")
    print("     each (sidebar / form / estimate): " + "; ".join(
        f"{g['app']:.2f} / {g['form']:.2f} / {g['estimate']:.2f} s ({g['load']})" for g in got))
    return med


def scenario(browser, roots: list[tuple[str, Path]], starts: int, via_home: float | None) -> dict[str, float]:
    """Both checkouts, alternating start by start; prints the medians and the ratio."""
    how = ("/train opened directly" if via_home is None else
           f"Train clicked in the sidebar {via_home:g} s after the home page was drawn")
    print(f"Train first visit on a fresh server, {how} ({os.cpu_count()} CPUs):")
    got: dict[str, list[dict]] = {name: [] for name, _ in roots}
    for _ in range(starts):
        for name, root in roots:
            got[name].append(one_start(browser, root, via_home))
    medians = {name: summary(name, g) for name, g in got.items()}
    if len(roots) > 1:
        m1, m0 = medians.values()
        print(f"  ratio this / compare: form {m1['form'] / m0['form']:.2f}, estimate "
              f"{m1['estimate'] / m0['estimate']:.2f}")
    sys.stdout.flush()
    return medians["this checkout"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--starts", type=int, default=3, help="fresh servers per checkout and scenario")
    ap.add_argument("--compare", type=Path, help="another checkout, e.g. the commit before this change")
    ap.add_argument("--scenario", choices=("direct", "via-home", "both"), default="both",
                    help="/train opened directly, or Train clicked on the loaded home page")
    ap.add_argument("--home-pause", type=float, default=0.0,
                    help="seconds between the home page drawn and the click on Train (via-home)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    roots = [("this checkout", ROOT)] + ([(f"compare {args.compare}", args.compare.resolve())]
                                         if args.compare else [])
    pauses = {"direct": [None], "via-home": [args.home_pause], "both": [None, args.home_pause]}[args.scenario]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        forms = [scenario(browser, roots, args.starts, p)["form"] for p in pauses]
        browser.close()
    return 0 if max(forms) <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
