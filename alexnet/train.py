"""The training engine: a config dataclass, named recipes, and ``train()``.

``train(spec, config)`` loads the dataset once onto the training device as uint8,
then for each batch: gather → preprocess (resize, gray↔RGB, normalise) → augment
(flip, translate, jitter) → forward/backward under autocast → optimizer and
scheduler step.  Metrics go to the run store as they happen (every ``log_every``
steps and every epoch); checkpoints ('last' every epoch, 'best' when test accuracy
improves) are written atomically.

Failures are data, not crashes: a diverging loss, CUDA running out of memory, a
dataset that cannot be loaded or a network that does not fit the data all end the
run as 'failed' with a message in the store, and ``train`` returns normally.  A
stop request (``RunStore.request_stop``, SIGTERM) ends it as 'stopped' with a
checkpoint.  Only KeyboardInterrupt propagates (after the run is marked stopped).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .build import build_model
from .data import Dataset, DatasetError, adapt_stats, augment, load_dataset, preprocess
from .runs import RunStore
from .spec import NetSpec, SpecError, as_spec

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
INITS = ("default", "kaiming", "xavier")
PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """An invalid training config; the message names the field."""


@dataclass
class TrainConfig:
    """Everything about a training run except the network.  Units in comments."""

    dataset: str = "digits"          # a dataset name (digits, mnist, fashion-mnist, cifar10) or a path
    batch_size: int = 128            # images per optimizer step
    epochs: int = 10                 # passes over the training set
    optimizer: str = "sgd"           # sgd | adam | adamw
    lr: float = 0.05                 # peak learning rate (the one-cycle maximum; the start of step/cosine)
    momentum: float = 0.9            # SGD momentum (Adam's beta1 is left at 0.9)
    nesterov: bool = True            # Nesterov momentum for SGD
    weight_decay: float = 5e-4       # L2 for SGD/Adam, decoupled for AdamW
    schedule: str = "onecycle"       # constant | step | cosine | onecycle
    step_epochs: float = 0.0         # step schedule: epochs between ×step_gamma drops (0 = at 1/2 and 3/4)
    step_gamma: float = 0.1          # step schedule: the factor at each drop
    warmup_epochs: float = 0.0       # linear warm-up from lr/10 (constant, step, cosine; one-cycle has its own)
    init: str = "default"            # default (PyTorch's) | kaiming | xavier
    label_smoothing: float = 0.0     # cross-entropy label smoothing, 0–1
    precision: str = "fp32"          # fp32 | bf16 | fp16 (autocast; fp16 adds a grad scaler)
    device: str = "auto"             # auto (cuda > mps > cpu) | cpu | cuda | cuda:N | mps
    seed: int = 0                    # seeds torch (weights, shuffling, augmentation)
    max_seconds: float | None = None  # wall-clock budget for the training loop; stops cleanly after it
    max_steps: int | None = None     # stop after this many optimizer steps (benchmarks, tests)
    train_subset: int | None = None  # use only this many training images (a fixed random subset)
    compile: bool = False            # torch.compile the model (worth it on CUDA for long runs)
    cpu_threads: int | None = None   # PyTorch CPU threads for this run (None = PyTorch's default)
    flip: bool = False               # random horizontal flips
    translate: float = 0.0           # random shifts up to this fraction of the input side (0.125 = 4 px at 32)
    color_jitter: float = 0.0        # random brightness/contrast, ± this fraction
    eval_batch_size: int = 1000      # images per forward pass when evaluating
    log_every: int = 10              # write a step-metrics row every N steps
    recipe: str | None = None        # the recipe this config came from (informational)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"a training config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**d).validate()

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> TrainConfig:
        def need(ok, fld, msg):
            if not ok:
                raise ConfigError(f"training option '{fld}' {msg}, got {getattr(self, fld)!r}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        need(isinstance(self.dataset, str) and self.dataset.strip() != "", "dataset", "must be a name or a path")
        need(is_int(self.batch_size) and 1 <= self.batch_size <= 65536, "batch_size", "must be an integer 1–65536")
        need(is_int(self.epochs) and 1 <= self.epochs <= 100000, "epochs", "must be an integer ≥ 1")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        need(is_num(self.lr) and 0 < self.lr <= 100, "lr", "must be a number > 0")
        need(is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(isinstance(self.nesterov, bool), "nesterov", "must be true or false")
        need(is_num(self.weight_decay) and 0 <= self.weight_decay < 1, "weight_decay", "must be in [0, 1)")
        need(self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}")
        need(is_num(self.step_epochs) and self.step_epochs >= 0, "step_epochs", "must be ≥ 0")
        need(is_num(self.step_gamma) and 0 < self.step_gamma <= 1, "step_gamma", "must be in (0, 1]")
        need(is_num(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs, "warmup_epochs",
             "must be between 0 and epochs")
        need(self.init in INITS, "init", f"must be one of {', '.join(INITS)}")
        need(is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        need(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        need(isinstance(self.device, str), "device", "must be auto, cpu, cuda, cuda:N or mps")
        need(is_int(self.seed), "seed", "must be an integer")
        need(self.max_seconds is None or (is_num(self.max_seconds) and self.max_seconds > 0), "max_seconds",
             "must be a number > 0 or null")
        need(self.max_steps is None or (is_int(self.max_steps) and self.max_steps > 0), "max_steps",
             "must be an integer > 0 or null")
        need(self.train_subset is None or (is_int(self.train_subset) and self.train_subset > 0), "train_subset",
             "must be an integer > 0 or null")
        need(isinstance(self.compile, bool), "compile", "must be true or false")
        need(self.cpu_threads is None or (is_int(self.cpu_threads) and 1 <= self.cpu_threads <= 1024), "cpu_threads",
             "must be an integer ≥ 1 or null")
        need(isinstance(self.flip, bool), "flip", "must be true or false")
        need(is_num(self.translate) and 0 <= self.translate <= 0.5, "translate", "must be a fraction in [0, 0.5]")
        need(is_num(self.color_jitter) and 0 <= self.color_jitter <= 1, "color_jitter", "must be in [0, 1]")
        need(is_int(self.eval_batch_size) and self.eval_batch_size >= 1, "eval_batch_size", "must be ≥ 1")
        need(is_int(self.log_every) and self.log_every >= 1, "log_every", "must be ≥ 1")
        return self


# ---- recipes ------------------------------------------------------------------------------
# Each recipe is a dict of TrainConfig overrides.  The seed recipes keep the seeds'
# own hyper-parameters (see ../shared/design.md); 'quick' is tuned for 2 CPU cores.
RECIPES: dict[str, dict[str, Any]] = {
    # CPU-friendly default: one-cycle SGD with Nesterov momentum, light augmentation.
    "quick": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  schedule="onecycle", batch_size=64, epochs=5, label_smoothing=0.1, init="default",
                  flip=False, translate=0.0),
    # seed 000 (d2l, MXNet): plain SGD lr 0.01, Xavier init, batch 128, 5 epochs.
    "d2l": dict(optimizer="sgd", lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                schedule="constant", batch_size=128, epochs=5, init="xavier", label_smoothing=0.0,
                flip=False, translate=0.0),
    # seed 001 (PyTorch, CIFAR-10 at 227): Adam 1e-3, batch 32, 2 epochs, nothing else.
    "seed-001-adam": dict(optimizer="adam", lr=1e-3, momentum=0.9, nesterov=False, weight_decay=0.0,
                          schedule="constant", batch_size=32, epochs=2, init="default", label_smoothing=0.0,
                          flip=False, translate=0.0),
    # seed 003 (PaddlePaddle): momentum 0.9, L2 2e-4, batch 128, lr 0.1/128 per sample
    # (Paddle divides by the batch: 0.1 here) decaying — a step decay ×0.1 here.
    "paddle-momentum": dict(optimizer="sgd", lr=0.01, momentum=0.9, nesterov=False, weight_decay=2e-4,
                            schedule="step", step_epochs=0.0, step_gamma=0.1, batch_size=128, epochs=30,
                            init="default", label_smoothing=0.0, flip=False, translate=0.0),
    # seed 004 (Keras): SGD 0.1 → 0.01 → 0.001 (at 1/3 and 2/3 of the run), Nesterov 0.9,
    # wd 1e-4, batch 64, horizontal flips and 12.5 % shifts, He ('kaiming') init.
    "keras-sgd-steps": dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
                            schedule="step", step_epochs=0.0, step_gamma=0.1, batch_size=64, epochs=30,
                            init="kaiming", label_smoothing=0.0, flip=True, translate=0.125),
    # The recipe the alexnet-cifar-32 preset is tuned with: one-cycle SGD, flip + translate.
    # Tuned on a 10,000-image CIFAR-10 subset on 2 CPU cores: 6 epochs ≈ 70 %.
    "cifar-cpu": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                      schedule="onecycle", batch_size=64, epochs=6, init="default", label_smoothing=0.1,
                      flip=True, translate=0.0625),
}
# The seeds' step schedules: keras drops at 1/3 and 2/3 (100/200 of 300 epochs).
_STEP_MILESTONES = {"keras-sgd-steps": (1 / 3, 2 / 3)}


def make_config(recipe: str = "quick", **overrides) -> TrainConfig:
    """A TrainConfig from a named recipe with some fields overridden."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPES)}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return TrainConfig(**{**RECIPES[recipe], "recipe": recipe, **overrides}).validate()


# ---- helpers ------------------------------------------------------------------------------
def resolve_device(name: str = "auto") -> torch.device:
    """'auto' → cuda if available, else mps, else cpu.  A named device must exist."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but this PyTorch sees no CUDA GPU; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but it is not available")
    return dev


def device_label(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)


def adapt_spec(spec: NetSpec, num_classes: int) -> tuple[NetSpec, str | None]:
    """The spec with its last linear layer sized for ``num_classes`` (and a note saying so)."""
    lin = [i for i, layer in enumerate(spec.layers) if layer.type == "linear"]
    if not lin:
        raise SpecError("the network has no linear (classifier) layer, so it cannot be trained to classify; "
                        "add flatten and linear layers at the end")
    last = spec.layers[lin[-1]]
    if last.out_features == num_classes and spec.num_classes in (None, num_classes):
        return spec, None
    new = spec.with_layer(lin[-1], last.replace(out_features=num_classes))
    new = new.replace(num_classes=num_classes)
    return new, (f"the last linear layer was resized from {last.out_features} to {num_classes} outputs "
                 "to match the dataset's classes")


def init_weights(model: nn.Module, scheme: str) -> None:
    """Kaiming (He) normal or Xavier uniform for conv/linear weights, zero biases."""
    if scheme == "default":
        return
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_out" if isinstance(m, nn.Conv2d) else "fan_in",
                                        nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and norm parameters (1-D tensors): the usual practice.
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def timed_lr_factor(schedule: str, progress: float, warmup: float = 0.0) -> float:
    """The learning-rate factor at ``progress`` (0–1 of the run) for a schedule that
    follows the clock: one-cycle (lr/10 → lr over the first quarter, then linearly to
    lr/1000, as OneCycleLR with the engine's settings) or cosine (optional warm-up)."""
    p = min(1.0, max(0.0, progress))
    if schedule == "onecycle":
        return 0.1 + 0.9 * p / 0.25 if p < 0.25 else 1.0 - 0.999 * (p - 0.25) / 0.75
    if p < warmup:
        return 0.1 + 0.9 * p / warmup
    q = (p - warmup) / max(1e-9, 1.0 - warmup)
    return 1e-3 + (1.0 - 1e-3) * 0.5 * (1.0 + math.cos(math.pi * q))


def make_scheduler(opt, cfg: TrainConfig, steps_per_epoch: int,
                   progress: list[float] | None = None) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step scheduler (stepped after every optimizer step).

    With ``max_seconds`` set, one-cycle and cosine follow ``progress[0]`` — the larger
    of the fraction of steps and the fraction of the time budget used, which the
    training loop updates — so a run cut short by its time budget still anneals to a
    low learning rate instead of stopping at the peak."""
    from torch.optim import lr_scheduler as S

    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    if progress is not None and cfg.max_seconds is not None and cfg.schedule in ("onecycle", "cosine"):
        warm = cfg.warmup_epochs / cfg.epochs
        return S.LambdaLR(opt, lambda _: timed_lr_factor(cfg.schedule, progress[0], warm))
    if cfg.schedule == "onecycle" and total >= 8:  # OneCycleLR needs ≥ 2 warm-up steps
        return S.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.25, anneal_strategy="linear",
                            div_factor=10.0, final_div_factor=100.0,
                            cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0,
                            base_momentum=max(0.0, cfg.momentum - 0.05), max_momentum=cfg.momentum)
    warm = min(total - 1, int(round(cfg.warmup_epochs * steps_per_epoch)))
    rest = total - warm
    if cfg.schedule in ("constant", "onecycle"):  # onecycle here: a run too short to cycle
        main = S.LambdaLR(opt, lambda s: 1.0)
    elif cfg.schedule == "cosine":
        main = S.CosineAnnealingLR(opt, T_max=max(1, rest), eta_min=cfg.lr * 1e-3)
    else:  # step
        if cfg.step_epochs > 0:
            every = max(1, int(round(cfg.step_epochs * steps_per_epoch)))
            milestones = list(range(every, rest, every))
        else:
            fracs = _STEP_MILESTONES.get(cfg.recipe or "", (0.5, 0.75))
            milestones = sorted({max(1, int(f * rest)) for f in fracs})
        main = S.MultiStepLR(opt, milestones=milestones, gamma=cfg.step_gamma)
    if warm <= 0:
        return main
    warmup = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=warm)
    return S.SequentialLR(opt, [warmup, main], milestones=[warm])


class Diverged(RuntimeError):
    pass


class _StopFlag:
    """Set by SIGTERM (in the main thread) or polled from the store."""

    def __init__(self):
        self.reason: str | None = None

    def set(self, reason: str):
        if self.reason is None:
            self.reason = reason


@contextlib.contextmanager
def _sigterm_sets(flag: _StopFlag):
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        flag.set("stopped by SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: NetSpec, mean, std,
             device: torch.device, precision: str = "fp32", batch_size: int = 1000,
             channels_last: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on uint8 images ``x`` with labels ``y``."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    try:
        for i in range(0, len(y), batch_size):
            xb = preprocess(x[i:i + batch_size], spec.input, mean, std, device, channels_last=channels_last)
            yb = y[i:i + batch_size].to(device)
            with _autocast(device, precision):
                out = model(xb)
            out = out.float()
            loss_sum += F.cross_entropy(out, yb, reduction="sum").double()
            correct += (out.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = max(1, len(y))
    return float(loss_sum) / n, int(correct) / n


def _suggest_batch(model, spec, cfg, ds, device, opt) -> int | None:
    """After running out of memory: the largest of batch/2, batch/4, … for which one
    training step (forward + backward) fits.  None if not even batch size 1 fits."""
    def free():
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    bs = cfg.batch_size // 2
    while bs >= 1:
        try:
            free()
            xb = preprocess(ds.x_train[:bs], spec.input, ds.mean, ds.std, device)
            with _autocast(device, cfg.precision):
                loss = F.cross_entropy(model(xb).float(), ds.y_train[:bs])
            loss.backward()
            return bs
        except torch.OutOfMemoryError:
            bs //= 2
        finally:
            free()
    return None


def _checkpoint(model, spec, cfg, ds, epoch, test_acc, mean, std) -> dict:
    src = getattr(model, "_orig_mod", model)  # torch.compile wraps the module
    return {"model": {k: v.detach().to("cpu").clone() for k, v in src.state_dict().items()},
            "spec": spec.to_dict(), "config": cfg.to_dict(), "classes": list(ds.classes),
            # whole epochs done (an int, as the format says); epochs_float also counts a partial one
            "epoch": int(math.floor(epoch + 1e-9)), "epochs_float": float(epoch),
            "test_acc": float(test_acc) if test_acc is not None else float("nan"),
            "input_mean": [float(v) for v in mean], "input_std": [float(v) for v in std]}


# ---- the engine ---------------------------------------------------------------------------
def train(spec: NetSpec | dict | str, config: TrainConfig | dict | None = None, store: RunStore | None = None,
          run_id: str | None = None, progress: bool = True, *, dataset: Dataset | None = None,
          name: str | None = None, experiment_id: str | None = None) -> dict:
    """Train ``spec`` with ``config``; metrics and checkpoints go to ``store``.

    With ``run_id`` the run must already exist in the store (the UI creates it);
    otherwise a new run is created.  ``dataset`` may pass an already loaded Dataset
    (benchmarks, tests) instead of ``config.dataset``.  Returns
    ``{"run_id", "status", "epochs", "test_acc", "train_loss", "images_per_sec",
    "seconds", "device"}`` plus ``"error"`` when the run did not complete.
    """
    t_start = time.perf_counter()
    store = store if store is not None else RunStore()
    result: dict[str, Any] = {"run_id": run_id, "status": "failed", "epochs": 0, "test_acc": None,
                              "train_loss": None, "images_per_sec": None, "seconds": 0.0, "device": None}

    # --- config and spec: bad ones are recorded as a failed run ------------------------
    cfg_error = spec_error = None
    try:
        cfg = config if isinstance(config, TrainConfig) else (
            TrainConfig.from_dict(config) if config is not None else make_config("quick"))
        cfg.validate()
    except (ConfigError, TypeError) as e:
        cfg, cfg_error = TrainConfig(), str(e)
    try:
        spec = as_spec(spec)
        spec_dict = spec.to_dict()
    except SpecError as e:
        spec_error = f"invalid network: {e}"
        spec_dict = spec if isinstance(spec, dict) else {}
    if run_id is None:
        data_name = dataset.name if dataset is not None else (os.path.basename(cfg.dataset.rstrip("/\\"))
                                                              or cfg.dataset)
        run_name = name or f"{spec_dict.get('name', 'network')} on {data_name}"
        run_id = store.create_run(run_name, spec_dict, cfg.to_dict(), experiment_id=experiment_id)
    else:
        existing = store.get_run(run_id)
        if existing is None:
            raise ValueError(f"no run {run_id!r} in {store.root}")
        if existing["status"] != "queued" or store.stop_requested(run_id):
            # cancelled (or started elsewhere) while this process was starting: leave it alone
            result.update(run_id=run_id, status=existing["status"],
                          error=f"run {run_id} is {existing['status']}"
                                + (" and a stop was requested" if store.stop_requested(run_id) else "")
                                + "; only a queued run is started")
            if existing["status"] == "queued":
                store.set_status(run_id, "stopped", error="cancelled before it started")
                result["status"] = "stopped"
            return result
    result["run_id"] = run_id
    store.mark_running(run_id, device="?")

    def finish(status: str, error: str | None = None) -> dict:
        store.set_status(run_id, status, error)
        result["status"] = status
        result["seconds"] = round(time.perf_counter() - t_start, 2)
        if error:
            result["error"] = error
        return result

    if cfg_error or spec_error:
        return finish("failed", cfg_error or spec_error)

    flag = _StopFlag()
    state: dict[str, Any] = {}
    threads = torch.get_num_threads()
    try:
        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        with _sigterm_sets(flag):
            return _run(spec, cfg, store, run_id, progress, dataset, flag, state, result, finish, t_start)
    except KeyboardInterrupt:
        _save_on_stop(state, store, run_id)
        finish("stopped", "interrupted from the keyboard (Ctrl-C)")
        raise
    finally:
        torch.set_num_threads(threads)


def _save_on_stop(state, store, run_id):
    try:
        if "model" in state:
            store.save_checkpoint(run_id, "last", _checkpoint(state["model"], state["spec"], state["cfg"],
                                                              state["ds"], state["epoch"], state.get("test_acc"),
                                                              state["mean"], state["std"]))
    except Exception:  # noqa: BLE001 - best effort while being interrupted
        pass


def _run(spec, cfg, store, run_id, progress, dataset, flag, state, result, finish, t_start) -> dict:
    from tqdm import tqdm

    # --- device, data, model ---------------------------------------------------------
    try:
        device = resolve_device(cfg.device)
    except ConfigError as e:
        return finish("failed", str(e))
    result["device"] = device_label(device)
    store.set_device(run_id, result["device"])
    torch.manual_seed(cfg.seed)
    try:
        ds = dataset if dataset is not None else load_dataset(cfg.dataset)
        if cfg.train_subset:
            ds = ds.subset(cfg.train_subset, seed=cfg.seed)
        ds = ds.to(device)
    except DatasetError as e:
        return finish("failed", f"dataset: {e}")
    except torch.OutOfMemoryError:
        return finish("failed", "the dataset does not fit in GPU memory; use --train-subset or the CPU")
    notes = list(ds.notes)
    try:
        spec, note = adapt_spec(spec, ds.num_classes)
        if note:
            notes.append(note)
        model = build_model(spec)
    except SpecError as e:
        return finish("failed", f"invalid network: {e}")
    init_weights(model, cfg.init)
    channels_last = device.type != "mps"  # faster convolutions on CUDA and on CPU (oneDNN)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    train_model = torch.compile(model) if cfg.compile else model
    opt = make_optimizer(model, cfg)
    n_train = len(ds.y_train)
    bs = min(cfg.batch_size, n_train)
    # drop the last partial batch (as fast trainers do): every step has the same shape
    steps_per_epoch = max(1, n_train // bs)
    lr_progress = [0.0]  # fraction of the run done, for schedules that follow the clock
    sched = make_scheduler(opt, cfg, steps_per_epoch, lr_progress)
    timed = isinstance(sched, torch.optim.lr_scheduler.LambdaLR) and cfg.max_seconds is not None
    eval_reserve = 0.0  # seconds the last evaluation + checkpoint took: kept free at the end of the budget
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" and device.type == "cuda" else None
    translate_px = int(round(cfg.translate * min(spec.input.height, spec.input.width)))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # the normalisation the network's input sees (the dataset's stats after gray↔RGB): saved in checkpoints
    net_mean, net_std = adapt_stats(ds.mean, ds.std, ds.image_shape[0], spec.input.channels)
    state.update(model=model, spec=spec, cfg=cfg, ds=ds, epoch=0, mean=net_mean, std=net_std)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.backends.cudnn.benchmark = True  # every training batch has the same shape

    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    bar = tqdm(total=total_steps, desc=f"{spec.name} on {ds.name}", unit="step", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, leave=True)
    step = 0
    best_acc = -1.0
    test_acc = None
    train_time = 0.0  # seconds in training steps (no evaluation)
    images_seen = 0
    stop_reason: str | None = None
    time_up = False
    last_poll = time.perf_counter()
    pending: list[tuple[int, float, torch.Tensor, float]] = []  # (step, epoch, loss tensor, lr)
    window_t, window_imgs = time.perf_counter(), 0
    epoch_float = 0.0

    def flush_steps():
        nonlocal window_t, window_imgs
        if not pending:
            return
        losses = torch.stack([p[2] for p in pending]).float().cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            raise Diverged(f"diverged at step {pending[int(bad[0])][0]} (learning rate too high?): "
                           f"the loss became {losses[int(bad[0])].item()}")
        _sync(device)
        now = time.perf_counter()
        ips = window_imgs / max(now - window_t, 1e-9)
        window_t, window_imgs = now, 0
        store.log_steps(run_id, [{"step": s, "epoch": round(e, 4), "loss": float(v), "lr": lr,
                                  "images_per_sec": round(ips, 1)}
                                 for (s, e, _, lr), v in zip(pending, losses.tolist())])
        bar.set_postfix(loss=f"{losses[-1].item():.3f}",
                        acc=f"{test_acc:.3f}" if test_acc is not None else "—", img_s=f"{ips:,.0f}")
        pending.clear()

    try:
        model.train()
        epoch = 0
        for epoch in range(1, cfg.epochs + 1):
            t_epoch = time.perf_counter()
            perm = torch.randperm(n_train, device=device, generator=gen)
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            seen = 0
            for i in range(steps_per_epoch):
                idx = perm[i * bs:(i + 1) * bs]
                xb = preprocess(ds.x_train[idx], spec.input, ds.mean, ds.std, device, channels_last=channels_last)
                yb = ds.y_train[idx]
                if cfg.flip or translate_px or cfg.color_jitter:
                    xb = augment(xb, flip=cfg.flip, translate=translate_px, color_jitter=cfg.color_jitter,
                                 generator=gen)
                with _autocast(device, cfg.precision):
                    out = train_model(xb)
                    loss = F.cross_entropy(out.float(), yb, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                lr = opt.param_groups[0]["lr"]
                if timed:
                    budget = max(1e-3, cfg.max_seconds - eval_reserve)
                    lr_progress[0] = max((step + 1) / total_steps, (time.perf_counter() - t_start) / budget)
                if step + 1 < total_steps or cfg.schedule != "onecycle" or timed:
                    sched.step()
                step += 1
                seen += len(idx)
                window_imgs += len(idx)
                images_seen += len(idx)
                ld = loss.detach()
                loss_sum += ld.double() * len(idx)
                correct += (out.detach().argmax(1) == yb).sum()
                epoch_float = epoch - 1 + (i + 1) / steps_per_epoch
                pending.append((step, epoch_float, ld, lr))
                if step % cfg.log_every == 0:
                    flush_steps()
                bar.update(1)
                now = time.perf_counter()
                if flag.reason is None and now - last_poll > 1.0:
                    last_poll = now
                    if store.stop_requested(run_id):
                        flag.set("stop requested")
                if flag.reason is not None:
                    stop_reason = flag.reason
                    break
                if cfg.max_seconds is not None and now - t_start > cfg.max_seconds - eval_reserve:
                    time_up = True
                    break
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
            flush_steps()
            _sync(device)
            epoch_secs = time.perf_counter() - t_epoch  # training only; evaluation comes next
            train_time += epoch_secs
            if store.get_run(run_id) is None:  # deleted while training: nothing left to write to
                bar.close()
                result["status"] = "deleted"
                return result
            train_loss = float(loss_sum) / max(1, seen)
            train_acc = int(correct) / max(1, seen)
            t_eval = time.perf_counter()
            test_loss, test_acc = evaluate(model, ds.x_test, ds.y_test, spec, ds.mean, ds.std, device,
                                           cfg.precision, cfg.eval_batch_size, channels_last)
            done = epoch if seen == steps_per_epoch * bs else round(epoch_float, 4)
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
            store.log_epoch(run_id, {"epoch": done, "train_loss": train_loss, "train_acc": train_acc,
                                     "test_loss": test_loss, "test_acc": test_acc,
                                     "epoch_seconds": round(epoch_secs, 3), "peak_mem_bytes": peak})
            state.update(epoch=done, test_acc=test_acc)
            result.update(epochs=done, test_acc=round(test_acc, 4), train_loss=round(train_loss, 4))
            ckpt = _checkpoint(model, spec, cfg, ds, done, test_acc, net_mean, net_std)
            store.save_checkpoint(run_id, "last", ckpt)
            if test_acc > best_acc:
                best_acc = test_acc
                store.save_checkpoint(run_id, "best", ckpt)
            eval_reserve = time.perf_counter() - t_eval + 0.5
            bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{test_acc:.3f}",
                            img_s=f"{images_seen / max(train_time, 1e-9):,.0f}")
            if stop_reason or time_up or (cfg.max_steps is not None and step >= cfg.max_steps):
                break
    except Diverged as e:
        bar.close()
        return finish("failed", str(e))
    except torch.OutOfMemoryError:
        bar.close()
        state.clear()
        suggestion = _suggest_batch(model, spec, cfg, ds, device, opt)
        hint = (f"; batch size {suggestion} fits — try --batch-size {suggestion}" if suggestion
                else "; even batch size 1 does not fit — use a smaller network or input size")
        where = "GPU memory" if device.type == "cuda" else "memory"
        return finish("failed", f"out of {where} at batch size {cfg.batch_size}{hint}")
    except (DatasetError, SpecError) as e:
        bar.close()
        return finish("failed", str(e))
    except Exception as e:  # noqa: BLE001 - recorded in the store, not raised at the caller
        bar.close()
        tb = traceback.format_exc(limit=6)
        if "out of memory" in str(e).lower():
            return finish("failed", f"out of memory at batch size {cfg.batch_size}: {e}; try a smaller batch size")
        return finish("failed", f"{type(e).__name__}: {e}\n{tb}")
    bar.close()
    result["images_per_sec"] = round(images_seen / max(train_time, 1e-9), 1)
    if stop_reason:
        return finish("stopped", stop_reason)
    if time_up:
        print(f"note: time limit of {cfg.max_seconds:g} s reached after {result['epochs']} epochs", file=sys.stderr)
    return finish("completed")


def load_trained(path, device="cpu") -> tuple[nn.Module, dict]:
    """A model and its checkpoint dict from a checkpoint file (weights_only=True)."""
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    model = build_model(ckpt["spec"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


if __name__ == "__main__":  # pragma: no cover
    print("use: python -m alexnet train", file=sys.stderr)
    raise SystemExit(os.EX_USAGE)
