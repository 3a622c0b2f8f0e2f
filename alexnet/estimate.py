"""How long a run will take and how much memory it needs (before launch), and how far
along a running run is (progress and ETA).

Before launch: seconds per epoch from the multiply-adds and a measured CPU rate (or
from a few timed training steps), and training memory.  No Streamlit here."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

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
        said = meta_of(run["id"]).get("estimate") or {}  # the training part is what the run records as epoch time
        est = said.get("train_seconds_per_epoch") or said.get("seconds_per_epoch")
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

    ``spec`` is a NetSpec (or its dict/JSON), estimated as trained on ``dataset`` (classifier
    resized).  A training step takes, from the best source there is: the speed of past runs
    of this network on this kind of device; ``measured_step_s`` (timed steps); or about
    6·MACs per image (forward 2, backward 4) at a rate from past runs of other networks,
    measured on this CPU or assumed for a GPU.  The test pass costs a third of a training
    step per image.  ``train_seconds_per_epoch`` is the part a run records as its epoch time.
    """
    info = dataset_info(dataset)
    spec = as_trained(spec, info.num_classes)
    summary = analyze(spec)
    n_train = min(info.train_size, int(train_subset)) if train_subset else info.train_size
    dev = device_key(device)
    kind = dev.split(":")[0]
    step_s, basis = _step_seconds(spec, int(summary.total_macs), batch_size, kind, precision, measured_step_s,
                                  past or [])
    steps = max(1, n_train // max(min(batch_size, n_train), 1))  # the engine drops the last partial batch
    train_s = steps * step_s
    epoch_s = train_s + info.test_size * step_s / batch_size / 3 + EPOCH_OVERHEAD_S.get(kind, 0.2)
    mem = training_memory_bytes(summary, batch_size, optimizer)
    return {"device": dev, "seconds_per_epoch": epoch_s, "seconds_total": epoch_s * epochs,
            "train_seconds_per_epoch": train_s, "step_seconds": step_s, "steps_per_epoch": steps,
            "train_images": n_train, "memory_bytes": int(mem), "basis": basis, "classes": info.num_classes,
            "dataset_sizes_from": info.sizes_from, "past_errors": past_errors(spec, kind, past or [])}


def _step_seconds(spec, macs: int, batch_size: int, kind: str, precision: str, measured: float | None,
                  past: list[Past]) -> tuple[float, str]:
    """(seconds of one training step, what it is based on), from the best source there is."""
    cal = calibration(spec, kind, past)
    if cal and "images_per_sec" in cal:
        return batch_size / cal["images_per_sec"], f"the speed measured in {cal['basis']}"
    if measured:
        return measured, "timed training steps of this network on this machine"
    if cal and "rate" in cal:
        rate, basis = cal["rate"], f"multiply-adds at {cal['basis']}"
    elif kind == "cpu":
        rate, basis = cpu_flops_per_second(), "multiply-adds at this CPU's measured rate"
    else:
        table = NOMINAL_RATE.get(kind, {"fp32": 1e12})
        rate, basis = table.get(precision, table["fp32"]), f"multiply-adds at an assumed {kind} rate"
    return 6 * macs * batch_size / rate + STEP_OVERHEAD_S.get(kind, 0.002), basis


# ---- timed steps of the network itself, kept on disk ------------------------------------------
TIMED_STEP_S = 0.5  # the timed batch: at most what the model says takes about this long a step
TIMED_REPEATS = 3  # timed steps per batch size (the median), after one warm-up step
TIMED_MIN_BATCH = 16  # smaller batches use the CPU less well: a poor base to extrapolate from
TIMED_SPAN_S, TIMED_MAX_STEPS = 1.5, 40  # quick steps: timed for at least this long (at most this many)
TIMINGS_FILE = "step_timings.json"  # in the run store's folder: timings of this machine
TIMINGS_KEPT = 200


def measure_step_seconds(spec_json: str, batch_size: int, image_shape=None, repeats: int = TIMED_REPEATS) -> float:
    """Seconds of one training step of the network at ``batch_size`` on this CPU as the engine
    runs it (uint8 images of ``image_shape`` resized to the input, channels-last, SGD with
    momentum, cross-entropy), on random data: the median of at least ``repeats`` steps after a
    warm-up (more for a quick network: see ``_step_timer``).

    When the multiply-add model says a step of the whole batch is slow, a smaller batch and a
    quarter of it are timed and the step is extrapolated as a fixed part plus a part per image
    (the fixed part, starting each layer's work on the CPU threads, is what a busy machine
    makes large: tens of ms a layer on a loaded 2-core machine)."""
    step = _step_timer(spec_json, image_shape)
    big, small = timed_batches(spec_json, batch_size)
    t_big = step(big, repeats)
    if not small:
        return t_big
    t_small = step(small, repeats)
    per_image = (t_big - t_small) / (big - small)
    if per_image <= 0:  # noise larger than the difference: plain proportion
        per_image = t_big / big
    return max(0.0, t_big - per_image * big) + per_image * batch_size


def timed_batches(spec_json: str, batch_size: int) -> tuple[int, int | None]:
    """The batch sizes ``measure_step_seconds`` times: the whole batch when the model says a
    step of it is quick (then None), else a smaller one and a quarter of it."""
    by_model = int(TIMED_STEP_S * cpu_flops_per_second() / max(1, 6 * _macs(spec_json)))
    big = min(batch_size, max(TIMED_MIN_BATCH, by_model))
    return big, (max(1, big // 4) if big < batch_size else None)


def timing_cost_guess(spec_json: str, batch_size: int, repeats: int = TIMED_REPEATS) -> float:
    """Seconds ``measure_step_seconds`` should take by the multiply-add model (steps only)."""
    big, small = timed_batches(spec_json, batch_size)
    return (repeats + 1) * 6 * _macs(spec_json) * (big + (small or 0)) / cpu_flops_per_second()


def _macs(spec_json: str) -> int:
    return int(analyze(spec_json).total_macs)


def _model_of_own_randomness(spec):
    """The network built on the meta device, then given memory and weights drawn from a
    generator of its own: the timing runs in a background thread beside whatever else the
    process does, and drawing from torch's global generator there would change other code's
    random numbers (a seeded run, a test).  Its speed is all that counts."""
    import torch

    from .build import build_model

    with torch.device("meta"):
        model = build_model(spec)
    model = model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05, generator=g)
        for m in model.modules():
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    return model


def _step_timer(spec_json: str, image_shape=None):
    """``run(b, repeats)``: the median seconds of a training step of batch ``b`` over at least
    ``repeats`` steps after a warm-up, more (up to TIMED_MAX_STEPS) until TIMED_SPAN_S have
    passed: a quick network is timed over a span long enough to see the machine's usual speed."""
    import torch
    import torch.nn.functional as F

    from .data import preprocess

    spec = as_spec(spec_json)
    model = _model_of_own_randomness(spec).to(memory_format=torch.channels_last).train()
    for m in model.modules():  # dropout draws from the global generator (no other): off, at a negligible cost
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            m.eval()
    rng = torch.Generator().manual_seed(1)
    c, h, w = image_shape or spec.input.shape
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    mean, std = (0.5,) * c, (0.25,) * c

    def run(b: int, repeats: int) -> float:
        x = torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=rng)
        y = torch.zeros(b, dtype=torch.long)
        times: list[float] = []
        while len(times) <= repeats or (sum(times[1:]) < TIMED_SPAN_S and len(times) <= TIMED_MAX_STEPS):
            t0 = time.perf_counter()  # the first step warms up
            opt.zero_grad(set_to_none=True)
            out = model(preprocess(x, spec.input, mean, std, channels_last=True))
            F.cross_entropy(out.reshape(b, -1), y).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return statistics.median(times[1:])

    return run


def timing_key(spec, dataset: str, batch_size: int, device: str) -> str:
    """What a timed step depends on: the network as trained, the dataset's image size, the
    batch, the device and the machine."""
    info = dataset_info(dataset)
    raw = json.dumps([spec_key(as_trained(spec, info.num_classes)), info.image_shape, int(batch_size),
                      device_key(device), socket.gethostname(), os.cpu_count()])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def saved_timing(root, key: str) -> dict | None:
    """{"step_seconds", "when"} timed earlier on this machine, or None."""
    return _read_timings(Path(root)).get(key)


def time_and_save(root, key: str, spec_json: str, batch_size: int, image_shape=None) -> float:
    """Time the steps (``measure_step_seconds``) and keep the result in the run store's folder,
    so later page loads and other sessions show the same estimate without timing again."""
    seconds = measure_step_seconds(spec_json, batch_size, image_shape)
    path = Path(root) / TIMINGS_FILE
    kept = _read_timings(Path(root))
    kept[key] = {"step_seconds": seconds, "when": time.time()}
    newest = dict(sorted(kept.items(), key=lambda kv: kv[1].get("when", 0))[-TIMINGS_KEPT:])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(newest), encoding="utf-8")
    os.replace(tmp, path)
    return seconds


def _read_timings(root: Path) -> dict:
    try:
        got = json.loads((root / TIMINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in got.items() if isinstance(v, dict) and (v.get("step_seconds") or 0) > 0} \
        if isinstance(got, dict) else {}
