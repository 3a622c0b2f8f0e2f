"""How long a run will take and how much memory it needs (before launch), and how far
along a running run is (progress and ETA).

Before launch: seconds per epoch from the multiply-adds and a measured CPU rate (or
from a few timed training steps), and training memory.  No Streamlit here."""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass

from .arithmetic import analyze, training_memory_bytes
from .data import dataset_info
from .devices import device_key
from .sizing import adapt_spec
from .spec import NetSpec, SpecError, as_spec


# ---- progress and ETA -------------------------------------------------------------------
def progress(run: dict, steps: list[dict], epochs: list[dict], steps_per_epoch: int | None = None) -> dict:
    """Fraction done, epoch/step text and ETA of a run from its metrics."""
    cfg = run.get("config") or {}
    total_epochs = int(cfg.get("epochs") or 1)
    done_epochs = len(epochs)
    last = steps[-1] if steps else None
    step = int(last["step"]) if last else 0
    # the engine logs every step with a fractional epoch (epoch − 1 + i/steps_per_epoch)
    if last and last.get("epoch"):
        spe = max(1, round(step / float(last["epoch"])))
    else:
        spe = steps_per_epoch or None
    if spe:
        frac = min(step / (spe * total_epochs), 1.0)
    else:
        frac = done_epochs / total_epochs
    if run.get("status") == "completed":
        frac = 1.0
    started = run.get("started")
    now = run.get("finished") or time.time()
    elapsed = (now - started) if started else 0.0
    eta = (elapsed / frac - elapsed) if frac > 0.01 and run.get("status") == "running" else None
    max_s = cfg.get("max_seconds")
    if eta is not None and max_s:
        eta = min(eta, max(0.0, float(max_s) - elapsed))
    cur_epoch = done_epochs
    if run.get("status") == "running":
        cur_epoch = min(max(done_epochs + 1, math.ceil(float(last["epoch"])) if last and last.get("epoch") else 1),
                        total_epochs)
    return {"fraction": frac, "epoch": cur_epoch, "epochs": total_epochs, "step": step,
            "steps_total": spe * total_epochs if spe else None, "elapsed": elapsed, "eta": eta}


# ---- estimates before launch ----------------------------------------------------------
_CPU_RATE: list[float] = []


def cpu_flops_per_second() -> float:
    """Effective fp32 FLOP/s of this CPU on conv training, measured once per process (~0.2 s)."""
    if _CPU_RATE:
        return _CPU_RATE[0]
    import torch  # here, not at the top: the Train form draws before PyTorch is loaded
    from torch import nn

    net = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    x = torch.randn(16, 16, 32, 32)
    macs = 16 * (32 * 32 * 32 * 16 * 9 + 32 * 32 * 32 * 32 * 9)
    net(x).sum().backward()  # warm-up
    dt = float("inf")
    for _ in range(5):  # the fastest of five: robust to other work on the machine
        t0 = time.perf_counter()
        net.zero_grad()
        net(x).sum().backward()
        dt = min(dt, time.perf_counter() - t0)
    rate = 6 * macs / max(dt, 1e-6)  # forward 2·MACs, backward ≈ 4·MACs
    _CPU_RATE.append(rate)
    return rate


# Sustained training FLOP/s assumed for accelerators (rough: achieved, not peak).
NOMINAL_RATE = {"cuda": {"fp32": 25e12, "bf16": 120e12, "fp16": 120e12}, "mps": {"fp32": 3e12}}
# Per-step cost that is not multiply-adds (batch preprocessing on the device, optimizer,
# Python), and per-epoch cost (evaluation setup, two checkpoint writes), measured roughly
# on a 2-core CPU with a tiny network: they dominate for networks of a few kMACs.
STEP_OVERHEAD_S = {"cpu": 0.01, "cuda": 0.0005, "mps": 0.002}
EPOCH_OVERHEAD_S = {"cpu": 0.3, "cuda": 0.1, "mps": 0.2}


# ---- what past runs on this machine measured ---------------------------------------------
@dataclass(frozen=True)
class Past:
    """One earlier run, as the estimate learns from it: its network (spec JSON, multiply-adds
    per image), device kind ('cpu', 'cuda', …), measured training images per second (median
    over its steps) and, if recorded, seconds per epoch measured and estimated at launch."""
    spec_json: str
    device: str
    macs: int
    images_per_sec: float
    seconds_per_epoch: float | None = None
    estimated_seconds_per_epoch: float | None = None


def spec_key(spec) -> str:
    """The network as past runs are matched on (canonical JSON, name left out)."""
    d = json.loads(as_spec(spec).to_json(indent=None))
    d.pop("name", None)
    return json.dumps(d, sort_keys=True)


def as_trained(spec, num_classes: int) -> NetSpec:
    """The network as the engine trains it on a dataset of ``num_classes`` classes: its
    classifier resized (adapt_spec).  Past runs and new estimates are both keyed on this, so a
    run stored before the resize (the command line stores the spec as given) still matches."""
    spec = as_spec(spec)
    try:
        return adapt_spec(spec, num_classes)[0]
    except SpecError:  # no classifier to size: the engine refuses it; keyed as it is
        return spec


def calibration(spec, device_kind: str, past: list[Past]) -> dict | None:
    """What earlier runs on this machine say about this network's speed: the median images/s
    of runs of the same network, else the median training FLOP/s (6·MACs·images/s) of runs of
    any network on the same kind of device; None without any."""
    key = spec_key(spec)
    mine = [p for p in past if p.device == device_kind and p.images_per_sec > 0]
    same = [p.images_per_sec for p in mine if p.spec_json == key]
    if same:
        return {"images_per_sec": statistics.median(same), "runs": len(same),
                "basis": f"{len(same)} past run(s) of this network on this machine"}
    rates = [6 * p.macs * p.images_per_sec for p in mine if p.macs > 0]
    if rates:
        return {"rate": statistics.median(rates), "runs": len(rates),
                "basis": f"this machine's training speed in {len(rates)} past run(s) of other networks"}
    return None


def past_errors(spec, device_kind: str, past: list[Past]) -> list[float]:
    """How far off the launch-time estimates of this network's past runs were: (estimated −
    measured) / measured seconds per epoch, one value per run that recorded both."""
    key = spec_key(spec)
    return [(p.estimated_seconds_per_epoch - p.seconds_per_epoch) / p.seconds_per_epoch for p in past
            if p.device == device_kind and p.spec_json == key and p.seconds_per_epoch
            and p.estimated_seconds_per_epoch]


def error_text(errors: list[float]) -> str:
    """'past estimates of this network: −12 % to +40 % (3 runs)', or '' without any."""
    if not errors:
        return ""
    lo, hi = min(errors), max(errors)
    span = f"{100 * lo:+.0f} %" if len(errors) == 1 else f"{100 * lo:+.0f} % to {100 * hi:+.0f} %"
    return f"past estimates of this network were off by {span} ({len(errors)} run(s))"


def past_runs(store, meta_of, limit: int = 30) -> list[Past]:
    """The newest ``limit`` runs of a RunStore that trained at least a few steps, as ``Past``
    (``meta_of(run_id)`` gives what was recorded at launch: the estimate)."""
    out = []
    for run in store.list_runs()[:limit]:
        if run.get("status") in ("queued", "running") or not run.get("spec") or not run.get("device"):
            continue
        ips = [r["images_per_sec"] for r in store.step_metrics(run["id"]) if (r.get("images_per_sec") or 0) > 0]
        if len(ips) < 3:
            continue
        secs = [e["epoch_seconds"] for e in store.epoch_metrics(run["id"]) if e.get("epoch_seconds")]
        est = (meta_of(run["id"]).get("estimate") or {}).get("seconds_per_epoch")
        dataset = (run.get("config") or {}).get("dataset")
        try:
            trained = as_trained(run["spec"], dataset_info(dataset).num_classes if dataset else 0)
            macs = int(analyze(trained).total_macs)
        except (ValueError, TypeError, KeyError, OSError):
            continue
        out.append(Past(spec_key(trained), str(run["device"]).split()[0].split(":")[0], macs,
                        statistics.median(ips), statistics.median(secs) if secs else None, est))
    return out


def estimate(spec, *, dataset: str, batch_size: int, epochs: int, device: str,
             precision: str = "fp32", optimizer: str = "sgd", train_subset: int | None = None,
             measured_step_s: float | None = None, past: list[Past] | None = None) -> dict:
    """Seconds per epoch and training memory before launching.

    ``spec`` is a NetSpec (or its dict/JSON).  Time: training costs about 6·MACs per
    image (forward 2, backward 4) plus the test pass at 2·MACs, at a rate measured on
    this CPU or assumed for a GPU; ``measured_step_s`` (timed steps) replaces the model.
    """
    info = dataset_info(dataset)
    spec = as_trained(spec, info.num_classes)
    summary = analyze(spec)
    n_train, n_test, classes = info.train_size, info.test_size, info.num_classes
    if train_subset:
        n_train = min(n_train, int(train_subset))
    dev = device_key(device)
    kind = dev.split(":")[0]
    macs = int(summary.total_macs)
    cal = calibration(spec, kind, past or [])
    if cal and "rate" in cal:
        rate, basis = cal["rate"], f"multiply-adds at {cal['basis']}"
    elif kind == "cpu":
        rate, basis = cpu_flops_per_second(), "multiply-adds at this CPU's measured rate"
    else:
        table = NOMINAL_RATE.get(kind, {"fp32": 1e12})
        rate, basis = table.get(precision, table["fp32"]), f"multiply-adds at an assumed {kind} rate"
    steps = max(1, n_train // max(min(batch_size, n_train), 1))  # the engine drops the last partial batch
    step_s = 6 * macs * batch_size / rate + STEP_OVERHEAD_S.get(kind, 0.002)
    if cal and "images_per_sec" in cal:
        step_s, basis = batch_size / cal["images_per_sec"], f"the speed measured in {cal['basis']}"
    if measured_step_s:
        step_s, basis = measured_step_s, "timed training steps"
    eval_s = 2 * macs * n_test / rate
    epoch_s = steps * step_s + eval_s + EPOCH_OVERHEAD_S.get(kind, 0.2)
    mem = training_memory_bytes(summary, batch_size, optimizer)
    return {"device": dev, "seconds_per_epoch": epoch_s, "seconds_total": epoch_s * epochs,
            "step_seconds": step_s, "steps_per_epoch": steps, "train_images": n_train,
            "memory_bytes": int(mem), "basis": basis, "classes": classes, "dataset_sizes_from": info.sizes_from,
            "past_errors": past_errors(spec, kind, past or [])}


def measure_step_seconds(spec_json: str, batch_size: int, steps: int = 3) -> float:
    """Time a few real training steps of the network on this CPU (random data).
    Uses a smaller batch for big networks and scales linearly."""
    import torch

    from .build import build_model

    model = build_model(spec_json)
    c, h, w = json.loads(spec_json)["input"].values()
    b = max(1, min(batch_size, 32))
    x = torch.randn(b, c, h, w)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    out = model(x)
    y = torch.zeros(out.shape[0], dtype=torch.long)
    loss_fn = torch.nn.CrossEntropyLoss()
    loss_fn(out.reshape(b, -1), y).backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x).reshape(b, -1), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * batch_size / b
