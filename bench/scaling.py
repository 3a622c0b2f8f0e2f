"""Throughput scaling with processes: the same training with 1, 2, 4 … processes through
``python -m alexnet train --nproc N`` (torchrun; gloo on the CPU, NCCL on GPUs), printing
images/s and the efficiency against linear scaling (N × the 1-process figure).

    python bench/scaling.py                          # 1 2 4 processes on the CPU
    python bench/scaling.py --procs 1 2 --steps 40
    python bench/scaling.py --device cuda --procs 1 2 4 8 --preset paper-2012 --input 3x227x227

The global batch is the same for every N (``--batch-size`` is global): each of N processes
computes batch/N images per step.  On the CPU every process gets ``--threads`` threads (default 1),
so N processes use N cores: the table shows the mechanics (gradient all-reduce, sharded
batches and evaluation), not a speed-up, once N exceeds the free cores of the machine.
images/s is the engine's own figure for the run (training steps only; start-up, data loading
and evaluation excluded), from the run's JSON result line.  Prints one line per N and a JSON
summary as the last line.
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


def run_once(n: int, args, runs_dir: str) -> dict:
    cmd = [sys.executable, "-m", "alexnet", "train", "--nproc", str(n), "--preset", args.preset,
           "--dataset", args.dataset, "--recipe", "quick", "--batch-size", str(args.batch_size), "--epochs", "1000",
           "--max-steps", str(args.steps), "--log-every", "5", "--device", args.device, "--runs-dir", runs_dir,
           "--no-progress", "--no-flip", "--translate", "0", "--name", f"scaling bench, {n} process(es)"]
    if args.input:
        cmd += ["--input", args.input]
    if args.device == "cpu":
        cmd += ["--cpu-threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{n} process(es) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    return {"procs": n, "images_per_sec": result["images_per_sec"], "wall_s": round(wall, 1),
            "status": result["status"], "device": result["device"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--preset", default="lenet-5")
    p.add_argument("--input", help="override the network's input size, e.g. 3x32x32")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--batch-size", type=int, default=128, help="the global batch (a multiple of every N)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    rows = []
    print(f"{args.preset} on {args.dataset}, global batch {args.batch_size}, {args.steps} steps, "
          f"device {args.device}, {os.cpu_count()} cores here")
    print(f"{'procs':>5}  {'images/s':>10}  {'vs 1 proc':>9}  {'efficiency':>10}  {'wall s':>7}  device")
    with tempfile.TemporaryDirectory() as runs_dir:
        for n in args.procs:
            r = run_once(n, args, runs_dir)
            base = rows[0]["images_per_sec"] if rows else r["images_per_sec"]
            base_n = rows[0]["procs"] if rows else n
            r["speedup"] = round(r["images_per_sec"] / base, 2)
            r["efficiency"] = round(r["speedup"] / (n / base_n), 2)  # against linear scaling
            rows.append(r)
            print(f"{n:>5}  {r['images_per_sec']:>10,.0f}  {r['speedup']:>8.2f}×  {r['efficiency']:>9.0%}  "
                  f"{r['wall_s']:>7.1f}  {r['device']}", flush=True)
    print(json.dumps({"bench": "scaling", "preset": args.preset, "batch_size": args.batch_size,
                      "steps": args.steps, "cores": os.cpu_count(), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
