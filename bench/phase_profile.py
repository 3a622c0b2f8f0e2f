"""Where one training run's wall time goes, phase by phase, baseline and current engine.

    python bench/phase_profile.py                            # the default run (digits), both engines
    python bench/phase_profile.py --rounds 2 -- --preset alexnet-cifar-32 --recipe cifar-cpu \
        --dataset /work/shared/data/cifar10-subset.npz --epochs 1

Each engine runs ``python -m alexnet train`` in a fresh process (alternating, so both see
the same machine load) with timers wrapped around the engine's functions; a phase's time
excludes the phases nested in it:

  start-up       process launch → ``train()`` called (interpreter, imports, CLI, spec)
  set-up: data   loading the dataset (and its subset), onto the device
  set-up: model  building and initialising the network
  data           per training step: gather, preprocess (resize, normalise), augment
  fwd/bwd/step   forward, loss, backward, optimizer and scheduler step (and what else a step does)
  evaluation     testing after an epoch (its own preprocessing included)
  logging        run-store writes (steps, epochs, status) and stop-request polls
  checkpointing  'last'/'best' checkpoints and the test record
  other          the rest of the process, up to its exit (progress, tear-down)

Also prints the 1-minute load average at the start and end of each run.  Shares
``baseline_tree`` with bench/time_to_accuracy.py (the engine when issue 15 was filed).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

PHASES = ("start-up", "set-up: data", "set-up: model", "data", "fwd/bwd/step", "evaluation", "logging",
          "checkpointing", "other")
# (module attribute path, phase); a name the engine does not have is skipped
PATCHES = (
    ("alexnet.train._load_data", "set-up: data"),
    ("alexnet.train._prepare_model", "set-up: model"),
    ("alexnet.train.preprocess", "data"),
    ("alexnet.train.augment", "data"),
    ("alexnet.train._Training._train_step", "fwd/bwd/step"),
    ("alexnet.train._Training._evaluate_and_checkpoint", "evaluation"),
    ("alexnet.train._Training._flush_steps", "logging"),
    ("alexnet.runs.RunStore.log_steps", "logging"),
    ("alexnet.runs.RunStore.log_epoch", "logging"),
    ("alexnet.runs.RunStore.set_status", "logging"),
    ("alexnet.runs.RunStore.stop_requested", "logging"),
    ("alexnet.runs.RunStore.get_run", "logging"),
    ("alexnet.runs.RunStore.save_checkpoint", "checkpointing"),
    ("alexnet.runs.RunStore.save_test_record", "checkpointing"),
)


class Phases:
    """Exclusive wall time per phase: a nested phase's time is taken out of its parent's."""

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[list] = []  # [name, start, time in nested phases]

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*a, **k):
            if name == "data" and self.stack and self.stack[-1][0] == "evaluation":
                return fn(*a, **k)  # preprocessing for a test pass is part of evaluation
            self.stack.append([name, time.perf_counter(), 0.0])
            try:
                return fn(*a, **k)
            finally:
                _, t0, nested = self.stack.pop()
                dt = time.perf_counter() - t0
                self.totals[name] += dt - nested
                if self.stack:
                    self.stack[-1][2] += dt
        return timed


def _install(phases: Phases) -> None:
    import importlib

    for path, name in PATCHES:
        parts = path.split(".")
        owner = importlib.import_module(".".join(parts[:2]))
        for p in parts[2:-1]:
            owner = getattr(owner, p)
        if hasattr(owner, parts[-1]):
            setattr(owner, parts[-1], phases.wrap(name, getattr(owner, parts[-1])))


def child(train_args: list[str]) -> int:
    """In the timed process: wrap the engine, run the CLI, print the phases as JSON on stderr."""
    launch = float(os.environ["PHASE_LAUNCH"])
    import alexnet.cli
    import alexnet.train

    phases = Phases()
    _install(phases)
    real_train = alexnet.train.train

    def train(*a, **k):
        phases.totals["start-up"] = time.time() - launch
        return real_train(*a, **k)

    alexnet.train.train = train
    code = alexnet.cli.main(["train", "--no-progress", *train_args])
    phases.totals["until exit"] = time.time() - launch
    print("PHASES " + json.dumps(phases.totals), file=sys.stderr)
    return code


def profile(src: Path, train_args: list[str], runs_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "PHASE_LAUNCH": repr(time.time())}
    load0 = os.getloadavg()[0]
    t0 = float(env["PHASE_LAUNCH"])
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--", "--runs-dir", str(runs_dir),
                        *train_args], cwd=src, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    line = next((ln for ln in p.stderr.splitlines() if ln.startswith("PHASES ")), None)
    if line is None:
        raise SystemExit(f"no phases from {src}:\n{p.stderr[-3000:]}")
    totals = json.loads(line[len("PHASES "):])
    result = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    named = sum(v for k, v in totals.items() if k in PHASES)
    totals["other"] = wall - named
    totals.pop("until exit", None)
    return {"wall": wall, "load": (load0, os.getloadavg()[0]), "phases": totals, "result": result}


def show(label: str, runs: list[dict]) -> None:
    print(f"{label}:")
    cols = [f"{r['engine']} ({r['load'][0]:.1f}→{r['load'][1]:.1f})" for r in runs]
    print(f"  {'phase':14s}" + "".join(f"{c:>22s}" for c in cols))
    for ph in PHASES:
        cells = [f"{r['phases'].get(ph, 0.0):7.2f} s {100 * r['phases'].get(ph, 0.0) / r['wall']:5.1f} %" for r in runs]
        print(f"  {ph:14s}" + "".join(f"{c:>22s}" for c in cells))
    print(f"  {'wall':14s}" + "".join(f"{r['wall']:7.2f} s {'':7s}" .rjust(22) for r in runs))
    print(f"  {'test acc':14s}" + "".join(f"{100 * (r['result']['test_acc'] or 0):8.2f} %".rjust(22) for r in runs))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child(argv[2:] if argv[1:2] == ["--"] else argv[1:])
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", choices=("base", "new"))
    ap.add_argument("--baseline-rev", default=None, help="default: time_to_accuracy.BASELINE_REV")
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    from time_to_accuracy import BASELINE_REV, baseline_tree

    with tempfile.TemporaryDirectory(prefix="phases-") as tmp:
        engines = {"base": baseline_tree(args.baseline_rev or BASELINE_REV, Path(tmp) / "base"), "new": ROOT}
        if args.only:
            engines = {args.only: engines[args.only]}
        runs = []
        for r in range(args.rounds):
            for e in (list(engines) if r % 2 == 0 else list(engines)[::-1]):
                runs.append({"engine": e, **profile(engines[e], rest, Path(tmp) / f"runs-{len(runs)}")})
        show(" ".join(rest) or "the default run", runs)
    print(json.dumps({"args": rest, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
