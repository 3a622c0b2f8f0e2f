"""Time to accuracy on the CPU: today's recipe and the current one, interleaved.

    python bench/time_to_accuracy.py                      # every case, held-out split, both engines
    python bench/time_to_accuracy.py --quick              # the digits cases only, no budget runs
    python bench/time_to_accuracy.py --case cifar32 --split test --budgets 180,360
    python bench/time_to_accuracy.py --only new --case digits-default

For each case (preset, dataset, recipe, targets) the bench launches ``python -m alexnet
train`` as a fresh process — once with the baseline source (``--baseline-rev``, default
the commit before issue 15's changes, extracted with ``git archive`` into a temporary
folder) and once with this tree, alternating, so both see the same machine load — and reads
the run's epoch rows from its run store.  It reports:

* ``to <target>``: seconds from launching the process to the first evaluation at or above
  the target (— when the run never got there);
* ``@<budget>``: the best test accuracy among the evaluations done within that many seconds
  of the launch (same run);
* with ``--budgets``: one more run per budget with ``--max-seconds`` (what a page launch with
  a time budget does), its final accuracy and wall time;
* the process's wall time (launch → JSON line), its CPU seconds (user + system, from
  ``getrusage``) and the 1-minute load average at its start and end.

This machine is shared: wall times move with the load, so read the ratio of each pair
measured back to back, not the absolute figures; CPU seconds vary much less.

Splits: ``--split val`` (default) trains on part of each dataset's training images and
evaluates on the rest (digits: 1,150 / 287; the CIFAR-10 subset: 8,000 / 2,000), which is
what recipes are chosen on; ``--split test`` uses the real test images — report it once.
Prints a table per case and a JSON document as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CIFAR_SUBSET = Path(os.environ.get("ALEXNET_CIFAR_SUBSET", "/work/shared/data/cifar10-subset.npz"))
BASELINE_REV = "cf1ecce"  # the engine and recipes when issue 15 was filed


@dataclass(frozen=True)
class Case:
    name: str
    dataset: str  # 'digits' or 'cifar-subset'
    targets: tuple[float, ...]
    budgets: tuple[float, ...]  # seconds, for @budget accuracies and --budgets runs
    args: tuple[str, ...] = ()  # train flags besides dataset and runs-dir (none: the default run)
    quick: bool = False  # part of --quick


CASES = (
    Case("digits-default", "digits", (0.97,), (12.0, 30.0), quick=True),
    Case("lenet5-digits", "digits", (0.90, 0.97), (30.0,), ("--preset", "lenet-5"), quick=True),
    Case("cifar32", "cifar-subset", (0.70, 0.75, 0.80), (180.0, 360.0),
         ("--preset", "alexnet-cifar-32", "--recipe", "cifar-cpu")),
)


@dataclass
class Measure:
    """One training process and what it reached."""

    engine: str
    wall: float
    cpu: float
    load: tuple[float, float]
    status: str
    final_acc: float | None
    epochs: float
    evals: list[tuple[float, float]] = field(default_factory=list)  # (seconds since launch, test acc)
    max_seconds: float | None = None

    def time_to(self, target: float) -> float | None:
        return next((t for t, a in self.evals if a >= target - 1e-9), None)

    def acc_within(self, seconds: float) -> float | None:
        accs = [a for t, a in self.evals if t <= seconds]
        return max(accs) if accs else None


# ---- datasets ---------------------------------------------------------------------------------
def _digits_arrays(src: Path) -> dict:
    sys.path.insert(0, str(src))
    from alexnet.data import load_digits

    ds = load_digits()
    return {"x_train": ds.x_train.numpy(), "y_train": ds.y_train.numpy(), "x_test": ds.x_test.numpy(),
            "y_test": ds.y_test.numpy(), "classes": np.array(ds.classes)}


def _held_out(arrays: dict, n_val: int, seed: int = 0) -> dict:
    """Training images only: the last ``n_val`` of a fixed shuffle are the evaluation split."""
    order = np.random.default_rng(seed).permutation(len(arrays["y_train"]))
    tr, va = order[:-n_val], order[-n_val:]
    x, y = arrays["x_train"], arrays["y_train"]
    return {"x_train": x[tr], "y_train": y[tr], "x_test": x[va], "y_test": y[va], "classes": arrays["classes"]}


def dataset_paths(split: str, folder: Path) -> dict[str, str]:
    """Dataset argument per case dataset for ``split`` ('val' writes held-out .npz files)."""
    if split == "test":
        return {"digits": "digits", "cifar-subset": str(CIFAR_SUBSET)}
    cifar = dict(np.load(CIFAR_SUBSET))
    out = {}
    for name, arrays, n_val in (("digits", _digits_arrays(ROOT), 287), ("cifar-subset", cifar, 2000)):
        path = folder / f"{name}-val.npz"
        np.savez(path, **_held_out(arrays, n_val))
        out[name] = str(path)
    return out


# ---- one run --------------------------------------------------------------------------------
def launch(src: Path, engine: str, args: list[str], runs_dir: Path) -> Measure:
    """``python -m alexnet train`` from source folder ``src``, timed from the fork."""
    cmd = [sys.executable, "-m", "alexnet", "train", "--no-progress", "--runs-dir", str(runs_dir), *args]
    env = {**os.environ, "PYTHONPATH": str(src)}
    load0, cpu0 = os.getloadavg()[0], _children_cpu()
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.time() - t0
    cpu = _children_cpu() - cpu0
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"{engine}: no JSON line from {' '.join(cmd)}:\n{err[-2000:]}")
    res = json.loads(lines[-1])
    evals = _evals(runs_dir, res["run_id"], t0)
    return Measure(engine, wall, cpu, (load0, os.getloadavg()[0]), res["status"], res.get("test_acc"),
                   res.get("epochs") or 0, evals)


def _children_cpu() -> float:
    """CPU seconds (user + system) of all finished children so far; children run one at a time."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _evals(runs_dir: Path, run_id: str, t0: float) -> list[tuple[float, float]]:
    with sqlite3.connect(runs_dir / "runs.sqlite") as c:
        rows = c.execute("SELECT time, test_acc FROM epoch_metrics WHERE run_id = ? ORDER BY time",
                         (run_id,)).fetchall()
    return [(round(t - t0, 2), a) for t, a in rows if a is not None]


# ---- cases ----------------------------------------------------------------------------------
def run_case(case: Case, data: dict[str, str], engines: dict[str, Path], budgets: list[float],
             rounds: int, work: Path, new_args: tuple[str, ...] = ()) -> list[Measure]:
    """Alternate the engines (the order flips each round) for the recipe run and each budget run;
    ``new_args`` are more train flags for this tree's engine only (a recipe variant to try)."""
    plans: list[tuple[str, list[str], float | None]] = []
    for r in range(rounds):
        order = list(engines) if r % 2 == 0 else list(engines)[::-1]
        plans += [(e, [], None) for e in order]
        for b in budgets:
            plans += [(e, ["--max-seconds", f"{b:g}"], b) for e in order]
    out = []
    for i, (engine, extra, budget) in enumerate(plans):
        args = ["--dataset", data[case.dataset], *case.args, *extra, *(new_args if engine == "new" else ())]
        m = launch(engines[engine], engine, args, work / f"{case.name}-{i}")
        m.max_seconds = budget
        print(f"  {case.name} {engine:4s} {'budget ' + format(budget, 'g') + ' s' if budget else 'recipe':12s} "
              f"wall {m.wall:6.1f} s  cpu {m.cpu:6.1f} s  acc {m.final_acc}  load {m.load[0]:.1f}→{m.load[1]:.1f}",
              flush=True)
        out.append(m)
    return out


def _fmt_s(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} s"


def _fmt_acc(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f} %"


def table(case: Case, measures: list[Measure]) -> str:
    head = ["engine", "run", "wall", "cpu", "load", "epochs", "final"] + [f"to {100 * t:g} %" for t in case.targets] \
        + [f"@{b:g} s" for b in case.budgets]
    rows = [head]
    for m in measures:
        kind = f"--max-seconds {m.max_seconds:g}" if m.max_seconds else "recipe"
        rows.append([m.engine, kind, _fmt_s(m.wall), _fmt_s(m.cpu), f"{m.load[0]:.1f}→{m.load[1]:.1f}",
                     f"{m.epochs:g}", _fmt_acc(m.final_acc)] + [_fmt_s(m.time_to(t)) for t in case.targets]
                    + [_fmt_acc(m.acc_within(b)) for b in case.budgets])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"{case.name}: {' '.join(case.args) or '(the default run)'}"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def summary(case: Case, measures: list[Measure]) -> dict:
    return {"case": case.name, "args": list(case.args), "targets": list(case.targets),
            "runs": [{"engine": m.engine, "max_seconds": m.max_seconds, "wall_s": round(m.wall, 2),
                      "cpu_s": round(m.cpu, 2), "load": [round(v, 2) for v in m.load], "status": m.status,
                      "epochs": m.epochs, "final_acc": m.final_acc,
                      "time_to": {f"{t:g}": m.time_to(t) for t in case.targets},
                      "acc_within": {f"{b:g}": m.acc_within(b) for b in case.budgets},
                      "evals": m.evals} for m in measures]}


def baseline_tree(rev: str, folder: Path) -> Path:
    """The baseline's alexnet/ package at ``rev`` (git archive), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "alexnet"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=arch.stdout, check=True)
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", help="run only these cases (repeatable): "
                    + ", ".join(c.name for c in CASES))
    ap.add_argument("--quick", action="store_true", help="the digits cases only, one round, no budget runs")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--budgets", default="", help="comma-separated seconds: extra --max-seconds runs per case")
    ap.add_argument("--rounds", type=int, default=1, help="baseline/new pairs per run kind")
    ap.add_argument("--only", choices=("base", "new"), help="run one engine only")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--new-args", default="", help="more train flags for this tree's runs, e.g. "
                    "'--epochs 8 --ema' (a recipe variant to try on the held-out split)")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if (not args.case or c.name in args.case) and (not args.quick or c.quick)]
    budgets = [float(b) for b in args.budgets.split(",") if b.strip()] if not args.quick else []
    with tempfile.TemporaryDirectory(prefix="tta-") as tmp:
        work = Path(tmp)
        engines = {"base": baseline_tree(args.baseline_rev, work / "base"), "new": ROOT}
        if args.only:
            engines = {args.only: engines[args.only]}
        data = dataset_paths(args.split, work)
        results = []
        for case in cases:
            measures = run_case(case, data, engines, budgets, args.rounds, work, tuple(shlex.split(args.new_args)))
            print(table(case, measures), flush=True)
            results.append(summary(case, measures))
    print(json.dumps({"split": args.split, "baseline_rev": args.baseline_rev, "cpu_count": os.cpu_count(),
                      "cases": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
