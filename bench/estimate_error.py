"""How far the Train page's time estimate is from a real run, for presets that train here.

    python bench/estimate_error.py [--presets lenet-5 alexnet-cifar-32 paper-2012] [--loads 2]

For each preset on digits with the quick recipe (batch 64), one epoch:

* the estimate as two fresh page loads compute it, each in a fresh Python process calling
  what the page calls, with no past runs: first the multiply-add model (what the page shows
  at once), then the timed steps (``estimate.measure_step_seconds``: what the page shows once
  its background timing is done, and keeps on disk for later loads);
* a real run (``python -m alexnet train --preset X --dataset digits --epochs 1``) and its
  epoch time from the run store (training steps only, as ``train_seconds_per_epoch``);
* the estimate with that run as history, which must recognise it as this network.

Prints one table with the error (estimate − measured) / measured and the load average next
to every figure (the machine is shared: the load moves the figures).  Target: ±30 %.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PRESETS = ("lenet-5", "alexnet-cifar-32", "paper-2012")
BATCH, DATASET = 64, "digits"
TARGET = 0.30


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def one_page_load(preset: str, runs_dir: str | None) -> dict:
    """In this (fresh) process: what a page load estimates, without and with timing."""
    from alexnet import estimate, get_spec
    from alexnet.runs import RunStore

    spec = get_spec(preset)
    past = estimate.past_runs(RunStore(runs_dir), lambda rid: {}) if runs_dir else []
    kw = {"dataset": DATASET, "batch_size": BATCH, "epochs": 1, "device": "cpu", "past": past}
    model = estimate.estimate(spec, **kw)
    out = {"model": model["train_seconds_per_epoch"], "basis": model["basis"], "load": load()}
    if not runs_dir:
        t0 = time.perf_counter()
        step = estimate.measure_step_seconds(estimate.as_trained(spec, 10).to_json(indent=None), BATCH, (1, 8, 8))
        timed = estimate.estimate(spec, measured_step_s=step, **kw)
        out.update(timed=timed["train_seconds_per_epoch"], timing_s=time.perf_counter() - t0, load=load())
    return out


def fresh(preset: str, runs_dir: str | None = None) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r}); "
            f"from estimate_error import one_page_load; print(json.dumps(one_page_load({preset!r}, {runs_dir!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def real_run(preset: str, runs_dir: str) -> dict:
    """One epoch through the command line; its epoch time from the run store."""
    from alexnet.runs import RunStore

    before = load()
    out = subprocess.run([sys.executable, "-m", "alexnet", "train", "--preset", preset, "--dataset", DATASET,
                          "--recipe", "quick", "--epochs", "1", "--batch-size", str(BATCH), "--runs-dir", runs_dir,
                          "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    rid = json.loads(out.stdout.strip().splitlines()[-1])["run_id"]
    epochs = RunStore(runs_dir).epoch_metrics(rid)
    return {"epoch_s": epochs[0]["epoch_seconds"], "load": f"{before} → {load()}"}


def err(est: float, measured: float) -> str:
    e = (est - measured) / measured
    return f"{100 * e:+.0f} %{'' if abs(e) <= TARGET else ' (!)'}"


def bench_preset(preset: str, loads: int) -> None:
    pages = [fresh(preset) for _ in range(loads)]
    with tempfile.TemporaryDirectory() as runs_dir:
        run = real_run(preset, runs_dir)
        known = fresh(preset, runs_dir)
    m = run["epoch_s"]
    print(f"{preset}: measured epoch {m:.1f} s (training steps; load {run['load']})")
    for i, p in enumerate(pages, 1):
        print(f"  page load {i}: multiply-adds {p['model']:7.1f} s  {err(p['model'], m):>10}   timed steps "
              f"{p['timed']:7.1f} s  {err(p['timed'], m):>10}   (timing took {p['timing_s']:.1f} s; load {p['load']})")
    print(f"  with that run as history (recognised as this network?): {known['model']:.1f} s "
          f"{err(known['model'], m)} — from {known['basis']}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=list(PRESETS))
    ap.add_argument("--loads", type=int, default=2, help="fresh page loads (processes) per preset")
    args = ap.parse_args(argv)
    print(f"Estimated vs measured seconds per epoch, {DATASET}, quick recipe, batch {BATCH}, CPU "
          f"({os.cpu_count()} cores); target ±{100 * TARGET:.0f} %")
    for preset in args.presets:
        bench_preset(preset, args.loads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
