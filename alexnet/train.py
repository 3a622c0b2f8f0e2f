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
import math
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed, streaming
from .build import build_model
from .config import (  # noqa: F401 - the training options live in config; re-exported here
    INITS,
    OPTIMIZERS,
    PRECISIONS,
    RECIPES,
    SCHEDULES,
    STEP_MILESTONES,
    ConfigError,
    TrainConfig,
    make_config,
)
from .data import Dataset, DatasetError, adapt_stats, augment, preprocess
from .devices import device_label, resolve_device
from .ema import evaluated_model, make_ema
from .runs import RunStore
from .sizing import adapt_spec  # the Train form and the estimate use it without torch
from .spec import NetSpec, SpecError, as_spec
from .stats import pack_correct
from .textfmt import one_line
from .whiten import MAX_IMAGES, whiten_first_conv


# ---- helpers ------------------------------------------------------------------------------
def init_weights(model: nn.Module, scheme: str) -> None:
    """Kaiming (He) normal or Xavier uniform for conv/linear weights, zero biases ('whiten':
    PyTorch's default here, the first conv is set from the data in ``_prepare_model``)."""
    if scheme in ("default", "whiten"):
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
            fracs = STEP_MILESTONES.get(cfg.recipe or "", (0.5, 0.75))
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
             channels_last: bool = False, hits: list | None = None, tta_flip: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on uint8 images ``x`` with labels ``y``.
    ``hits``, when given, receives one bool tensor per batch: which images were right.
    ``tta_flip``: the outputs for each image and its mirror image are averaged."""
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
                if tta_flip:
                    out = (out.float() + model(xb.flip(3)).float()) / 2
            out = out.float()
            loss_sum += F.cross_entropy(out, yb, reduction="sum").double()
            right = out.argmax(1) == yb
            correct += right.sum()
            if hits is not None:
                hits.append(right.cpu())
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
        except Exception as e:  # noqa: BLE001 - only running out of memory means "try smaller"
            if not out_of_memory(e):
                return None
            bs //= 2
        finally:
            free()
    return None


def out_of_memory(e: BaseException) -> bool:
    """Whether an exception means the device ran out of memory: torch's OutOfMemoryError,
    Python's MemoryError, or an allocator's message (CUDA, or the CPU's 'Cannot allocate memory')."""
    text = str(e).lower()
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or any(
        s in text for s in ("out of memory", "cannot allocate memory", "can't allocate memory"))


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
    cfg, spec, spec_dict, problem = _read_inputs(spec, config)
    dist = distributed.join(cfg.device)  # one process, or this rank of a torchrun group
    try:
        return _train_as(dist, dist.follower_store(store), spec, cfg, spec_dict, problem, run_id, result,
                         t_start, progress, dataset, name, experiment_id)
    finally:
        dist.close()


def _train_as(dist, store, spec, cfg, spec_dict, problem, run_id, result, t_start, progress, dataset, name,
              experiment_id) -> dict:
    """``train`` in one process or one rank (rank 0 alone creates and writes the run)."""
    if run_id is None:
        run_id = dist.share(store.create_run(name or _run_name(spec_dict, cfg, dataset), spec_dict,
                                             cfg.to_dict(), experiment_id=experiment_id))
    elif dist.any_(_refused(store, run_id, result)):
        return result
    result["run_id"] = run_id
    store.mark_running(run_id, device="?")
    run = _Training(cfg, store, run_id, result, t_start, progress)
    run.dist = dist
    if problem:  # a bad config or spec is recorded as a failed run
        return run.finish("failed", problem)
    threads = torch.get_num_threads()
    try:
        with _sigterm_sets(run.flag):
            return run.execute(spec, dataset)
    except KeyboardInterrupt:
        _save_on_stop(run.state, store, run_id)
        run.finish("stopped", "interrupted from the keyboard (Ctrl-C)")
        raise
    finally:
        torch.set_num_threads(threads)


def _read_inputs(spec, config) -> tuple[TrainConfig, Any, dict, str | None]:
    """(config, spec, the spec as a dict, what is wrong with them or None).  A bad config
    is replaced by the defaults and a bad spec left as given, so the run can be recorded."""
    problem = None
    try:
        cfg = config if isinstance(config, TrainConfig) else (
            TrainConfig.from_dict(config) if config is not None else make_config("quick"))
        cfg.validate()
    except (ConfigError, TypeError) as e:
        cfg, problem = TrainConfig(), str(e)
    try:
        spec = as_spec(spec)
        spec_dict = spec.to_dict()
    except SpecError as e:
        problem = problem or f"invalid network: {e}"
        spec_dict = spec if isinstance(spec, dict) else {}
    return cfg, spec, spec_dict, problem


def _run_name(spec_dict: dict, cfg: TrainConfig, dataset: Dataset | None) -> str:
    data_name = dataset.name if dataset is not None else (os.path.basename(cfg.dataset.rstrip("/\\")) or cfg.dataset)
    return f"{spec_dict.get('name', 'network')} on {data_name}"


def _refused(store: RunStore, run_id: str, result: dict) -> bool:
    """False when the stored run ``run_id`` may start.  Else (cancelled or started elsewhere
    while this process was starting) ``result`` says why, and the run is left alone."""
    existing = store.get_run(run_id)
    if existing is None:
        raise ValueError(f"no run {run_id!r} in {store.root}")
    stop = store.stop_requested(run_id)
    if existing["status"] == "queued" and not stop:
        return False
    result.update(run_id=run_id, status=existing["status"],
                  error=f"run {run_id} is {existing['status']}" + (" and a stop was requested" if stop else "")
                  + "; only a queued run is started")
    if existing["status"] == "queued":
        store.set_status(run_id, "stopped", error="cancelled before it started")
        result["status"] = "stopped"
    return True


def _stage(text: str) -> None:
    """What the run is doing before its first step, one log line (the Train page shows it)."""
    print(f"stage: {text}", file=sys.stderr, flush=True)


def _save_on_stop(state, store, run_id):
    try:
        if "model" in state:
            store.save_checkpoint(run_id, "last", _checkpoint(state["model"], state["spec"], state["cfg"],
                                                              state["ds"], state["epoch"], state.get("test_acc"),
                                                              state["mean"], state["std"]))
    except Exception:  # noqa: BLE001 - best effort while being interrupted
        pass


class _RunFailed(RuntimeError):
    """A run that cannot go on; the message is what the store records."""


@dataclass
class _EpochTotals:
    """What one epoch's training steps add up to (tensors stay on the device until read)."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    epoch_float: float = 0.0  # epochs done at the last step (fractional when the epoch was cut short)
    seconds: float = 0.0  # training steps only, no evaluation

    def add(self, loss: torch.Tensor, out: torch.Tensor, yb: torch.Tensor) -> None:
        self.seen += len(yb)
        self.loss_sum += loss.detach().double() * len(yb)
        self.correct += (out.detach().argmax(1) == yb).sum()


def _load_data(cfg: TrainConfig, dataset: Dataset | None, device: torch.device, input_shape=None) -> Dataset:
    """The dataset (given or loaded by name: into memory, or streamed from disk when an image
    folder at ``input_shape`` is over the memory budget), subset as configured, on the device."""
    try:
        ds = dataset if dataset is not None else streaming.load_for_training(cfg.dataset, input_shape, device)
        if cfg.train_subset:
            ds = ds.subset(cfg.train_subset, seed=cfg.seed)
        return ds.to(device)
    except DatasetError as e:
        raise _RunFailed(f"dataset: {e}") from None
    except torch.OutOfMemoryError:
        raise _RunFailed("the dataset does not fit in GPU memory; use --train-subset or the CPU") from None


def _prepare_model(spec: NetSpec, cfg: TrainConfig, ds: Dataset, device: torch.device) -> tuple[NetSpec, nn.Module]:
    """The spec fitted to the dataset's classes and its initialised model on ``device``
    (channels-last except on MPS: faster convolutions on CUDA and on CPU/oneDNN)."""
    notes = list(ds.notes)
    try:
        spec, note = adapt_spec(spec, ds.num_classes)
        if note:
            notes.append(note)
        model = build_model(spec)
    except SpecError as e:
        raise _RunFailed(f"invalid network: {e}") from None
    init_weights(model, cfg.init)
    if cfg.init == "whiten":
        notes += _whiten(model, spec, ds)
    model = model.to(device)
    if device.type != "mps":
        model = model.to(memory_format=torch.channels_last)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return spec, model


def _whiten(model: nn.Module, spec: NetSpec, ds: Dataset) -> list[str]:
    """``--init whiten``: the first conv from the patches of the first training images (as the
    network sees them); a note when that cannot be done."""
    if not isinstance(ds.x_train, torch.Tensor):
        return ["--init whiten needs the images in memory; a streamed folder keeps PyTorch's default init"]
    if not whiten_first_conv(model, preprocess(ds.x_train[:MAX_IMAGES], spec.input, ds.mean, ds.std).cpu()):
        return ["--init whiten: the first layer is not a plain convolution, so PyTorch's default init is kept"]
    return []


class _Training:
    """One training run while it runs: its inputs, what set-up builds, and the counters the
    steps update.  ``execute`` runs the steps: set-up, one epoch at a time, evaluation and
    checkpoint after each; ``_failure_of`` turns whatever they raise into a failed run."""

    def __init__(self, cfg: TrainConfig, store: RunStore, run_id: str, result: dict, t_start: float,
                 progress: bool):
        self.cfg, self.store, self.run_id, self.result = cfg, store, run_id, result
        self.t_start, self.progress = t_start, progress
        self.flag = _StopFlag()
        self.dist = distributed.Dist()  # one process unless train() joined a torchrun group
        self.state: dict[str, Any] = {}  # what a checkpoint on Ctrl-C needs
        self.device: torch.device | None = None
        self.model = self.opt = self.bar = None
        self.step = 0
        self.best_acc = -1.0
        self.test_acc: float | None = None
        self.train_time = 0.0  # seconds in training steps (no evaluation)
        self.images_seen = 0
        self.stop_reason: str | None = None
        self.time_up = self.deleted = False
        self.eval_reserve = 0.0  # seconds the last evaluation + checkpoint took: kept free at the end of the budget
        self.last_poll = self.window_t = time.perf_counter()
        self.window_imgs = 0
        self.pending: list[tuple[int, float, torch.Tensor, float]] = []  # (step, epoch, loss tensor, lr)

    def finish(self, status: str, error: str | None = None) -> dict:
        self.store.set_status(self.run_id, status, error)
        self.result["status"] = status
        self.result["seconds"] = round(time.perf_counter() - self.t_start, 2)
        if error:
            self.result["error"] = error
        return self.result

    # -- the run ---------------------------------------------------------------------
    def execute(self, spec: NetSpec, dataset: Dataset | None) -> dict:
        """Set up, train, and record how the run ended (completed, stopped or failed)."""
        error = self._failure_of(lambda: self._set_up_and_train(spec, dataset))
        if self.bar is not None:
            self.bar.close()
        if error is not None:
            return self.finish("failed", error)
        if self.deleted:  # deleted while training: nothing left to write to
            self.result["status"] = "deleted"
            return self.result
        self.result["images_per_sec"] = round(self.images_seen / max(self.train_time, 1e-9), 1)
        if self.stop_reason:
            return self.finish("stopped", self.stop_reason)
        if self.time_up:
            print(f"note: time limit of {self.cfg.max_seconds:g} s reached after {self.result['epochs']} epochs",
                  file=sys.stderr)
        return self.finish("completed")

    def _set_up_and_train(self, spec: NetSpec, dataset: Dataset | None) -> None:
        self._set_up(spec, dataset)
        _stage("first training step")
        self.model.train()
        for epoch in range(1, self.cfg.epochs + 1):
            totals = self._train_epoch(epoch)
            if self.dist.any_(self.store.get_run(self.run_id) is None):
                self.deleted = True
                return
            self._evaluate_and_checkpoint(epoch, totals)
            if self.stop_reason or self.time_up or self._max_steps_reached():
                return

    def _failure_of(self, body: Callable[[], None]) -> str | None:
        """Run ``body``; None when it returns, else the one-line reason of the failed run.
        The one place where anything a run raises (data, network, device, a step) becomes
        its stored error: never a traceback."""
        try:
            body()
            return None
        except (_RunFailed, Diverged, ConfigError, DatasetError, SpecError) as e:
            return one_line(str(e))
        except Exception as e:  # noqa: BLE001 - recorded in the store, not raised at the caller
            if out_of_memory(e):
                self.state.clear()
                return self._out_of_memory_message()
            first = (str(e).strip().splitlines() or [""])[0]  # torch appends C++ frames after the first line
            return one_line(self.dist.explain(f"{type(e).__name__}: {first}"))

    def _out_of_memory_message(self) -> str:
        where = "GPU memory" if self.device is not None and self.device.type == "cuda" else "memory"
        if self.opt is None:
            return (f"out of {where} while setting up the run (loading the data, building the network); "
                    "use a smaller network, input size or --train-subset")
        suggestion = _suggest_batch(self.model, self.spec, self.cfg, self.ds, self.device, self.opt)
        hint = (f"; batch size {suggestion} fits — try --batch-size {suggestion}" if suggestion
                else "; even batch size 1 does not fit — use a smaller network or input size")
        return f"out of {where} at batch size {self.cfg.batch_size}{hint}"

    # -- set-up ----------------------------------------------------------------------
    def _set_up(self, spec: NetSpec, dataset: Dataset | None) -> None:
        """Device, data, model, optimizer, schedule and progress bar."""
        cfg = self.cfg
        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        self.device = self.dist.device_for(resolve_device(cfg.device))
        self.result["device"] = device_label(self.device) + self.dist.label()
        self.store.set_device(self.run_id, self.result["device"])
        torch.manual_seed(cfg.seed)
        _stage("loading data")
        self.ds = _load_data(cfg, dataset, self.device, as_spec(spec).input.shape)
        _stage("building the network" + (" and compiling it (torch.compile: the first step takes longer)"
                                         if cfg.compile else ""))
        self.spec, self.model = _prepare_model(spec, cfg, self.ds, self.device)
        self.channels_last = self.device.type != "mps"
        self.train_model = torch.compile(self.dist.wrap(self.model)) if cfg.compile else self.dist.wrap(self.model)
        self.opt = make_optimizer(self.model, cfg)
        self.ema = make_ema(self.model, cfg.ema)  # evaluated and saved instead of the model when there is one
        self._plan_steps()
        # the normalisation the network's input sees (the dataset's stats after gray↔RGB): saved in checkpoints
        self.net_mean, self.net_std = adapt_stats(self.ds.mean, self.ds.std, self.ds.image_shape[0],
                                                  self.spec.input.channels)
        self.state.update(model=self.model, spec=self.spec, cfg=cfg, ds=self.ds, epoch=0, mean=self.net_mean,
                          std=self.net_std)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            torch.backends.cudnn.benchmark = True  # every training batch has the same shape
        from tqdm import tqdm

        self.bar = tqdm(total=self.total_steps, desc=f"{self.spec.name} on {self.ds.name}", unit="step",
                        file=sys.stderr, disable=not (self.progress and self.dist.is_main), dynamic_ncols=True,
                        leave=True)

    def _plan_steps(self) -> None:
        """Batch size, steps, learning-rate schedule, grad scaler and augmentation generator."""
        cfg, device = self.cfg, self.device
        self.n_train = len(self.ds.y_train)
        self.batch = min(cfg.batch_size, self.n_train)
        if self.dist.check_batch(self.batch):  # the global batch is split over the ranks
            raise _RunFailed(self.dist.check_batch(self.batch))
        # drop the last partial batch (as fast trainers do): every step has the same shape
        self.steps_per_epoch = max(1, self.n_train // self.batch)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.lr_progress = [0.0]  # fraction of the run done, for schedules that follow the clock
        self.sched = make_scheduler(self.opt, cfg, self.steps_per_epoch, self.lr_progress)
        self.timed = isinstance(self.sched, torch.optim.lr_scheduler.LambdaLR) and cfg.max_seconds is not None
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" and device.type == "cuda" else None
        self.translate_px = int(round(cfg.translate * min(self.spec.input.height, self.spec.input.width)))
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)
        # the batch order (gen) is the same on every rank; augmentation differs per rank
        self.aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 7919 * self.dist.rank) \
            if self.dist.enabled else self.gen

    # -- one epoch -------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> _EpochTotals:
        """One pass over the training set in a fresh random order, cut short by a stop
        request, the time budget or ``max_steps``."""
        t0 = time.perf_counter()
        perm = torch.randperm(self.n_train, device=self.device, generator=self.gen)
        if isinstance(self.ds, streaming.StreamingDataset):  # its workers decode the epoch's batches ahead
            self.ds.plan_epoch(perm, self.batch, self.steps_per_epoch, self.dist)
        totals = _EpochTotals(torch.zeros((), device=self.device, dtype=torch.float64),
                              torch.zeros((), device=self.device, dtype=torch.int64))
        for i in range(self.steps_per_epoch):
            idx = self.dist.shard(perm[i * self.batch:(i + 1) * self.batch])  # this rank's share
            out, yb, loss, lr = self._train_step(idx)
            totals.add(loss, out, yb)
            totals.epoch_float = epoch - 1 + (i + 1) / self.steps_per_epoch
            self._record_step(loss.detach(), lr, len(idx) * self.dist.world, totals.epoch_float)
            if self._should_stop():
                break
        self._flush_steps()
        _sync(self.device)
        if self.dist.enabled:  # the epoch's sums over all ranks
            totals.loss_sum, totals.correct, totals.seen = self.dist.sum_(totals.loss_sum, totals.correct,
                                                                          totals.seen)
        totals.seconds = time.perf_counter() - t0
        self.train_time += totals.seconds
        return totals

    def _train_step(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Gather → preprocess → augment → forward/backward → optimizer and scheduler step.
        Returns (outputs, labels, loss, the learning rate the step used)."""
        cfg, ds = self.cfg, self.ds
        xb = preprocess(ds.x_train[idx], self.spec.input, ds.mean, ds.std, self.device,
                        channels_last=self.channels_last)
        yb = ds.y_train[idx]
        if cfg.flip or self.translate_px or cfg.color_jitter:
            xb = augment(xb, flip=cfg.flip, translate=self.translate_px, color_jitter=cfg.color_jitter,
                         generator=self.aug_gen)
        with _autocast(self.device, cfg.precision):
            out = self.train_model(xb)
            loss = F.cross_entropy(out.float(), yb, label_smoothing=cfg.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        if self.ema is not None:
            self.ema.update(self.model)
        lr = self.opt.param_groups[0]["lr"]
        self._step_schedule()
        return out, yb, loss, lr

    def _step_schedule(self) -> None:
        cfg = self.cfg
        if self.timed:
            budget = max(1e-3, cfg.max_seconds - self.eval_reserve)
            self.lr_progress[0] = max((self.step + 1) / self.total_steps, (time.perf_counter() - self.t_start) / budget)
        if self.step + 1 < self.total_steps or cfg.schedule != "onecycle" or self.timed:
            self.sched.step()

    def _record_step(self, loss: torch.Tensor, lr: float, images: int, epoch_float: float) -> None:
        self.step += 1
        self.window_imgs += images
        self.images_seen += images
        self.pending.append((self.step, epoch_float, loss, lr))
        if self.step % self.cfg.log_every == 0:
            self._flush_steps()
        self.bar.update(1)

    def _should_stop(self) -> bool:
        """A stop request (polled from the store once a second, or SIGTERM), the time
        budget less the last evaluation's time, or ``max_steps``."""
        now = time.perf_counter()
        if self.flag.reason is None and now - self.last_poll > 1.0:
            self.last_poll = now
            if self.store.stop_requested(self.run_id):
                self.flag.set("stop requested")
        if self.dist.enabled:
            return self._agreed_stop(now)
        if self.flag.reason is not None:
            self.stop_reason = self.flag.reason
            return True
        if self.cfg.max_seconds is not None and now - self.t_start > self.cfg.max_seconds - self.eval_reserve:
            self.time_up = True
            return True
        return self._max_steps_reached()

    def _agreed_stop(self, now: float) -> bool:
        """Under torchrun: one decision for every rank, taken every ``log_every`` steps (the
        same steps on all ranks), so they all stop after the same step."""
        if self.step % self.cfg.log_every:
            return self._max_steps_reached()
        over = self.cfg.max_seconds is not None and now - self.t_start > self.cfg.max_seconds - self.eval_reserve
        reason, self.time_up = self.dist.agree_stop(self.flag.reason, over)
        if reason:
            self.flag.set(reason)
            self.stop_reason = reason
        return bool(reason) or self.time_up or self._max_steps_reached()

    def _max_steps_reached(self) -> bool:
        return self.cfg.max_steps is not None and self.step >= self.cfg.max_steps

    def _flush_steps(self) -> None:
        """Write the pending step rows (one device sync); a non-finite loss is divergence."""
        if not self.pending:
            return
        losses = torch.stack([p[2] for p in self.pending]).float().cpu()
        if self.dist.enabled:  # each step's loss over the whole global batch
            losses = torch.tensor(self.dist.sum_(*losses.tolist()), dtype=torch.float32) / self.dist.world
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            raise Diverged(f"diverged at step {self.pending[int(bad[0])][0]} (learning rate too high?): "
                           f"the loss became {losses[int(bad[0])].item()}")
        _sync(self.device)
        now = time.perf_counter()
        ips = self.window_imgs / max(now - self.window_t, 1e-9)
        self.window_t, self.window_imgs = now, 0
        self.store.log_steps(self.run_id, [{"step": s, "epoch": round(e, 4), "loss": float(v), "lr": lr,
                                            "images_per_sec": round(ips, 1)}
                                           for (s, e, _, lr), v in zip(self.pending, losses.tolist())])
        acc = f"{self.test_acc:.3f}" if self.test_acc is not None else "—"
        self.bar.set_postfix(loss=f"{losses[-1].item():.3f}", acc=acc, img_s=f"{ips:,.0f}")
        self.pending.clear()

    # -- evaluation and checkpoint ---------------------------------------------------
    def _evaluate_and_checkpoint(self, epoch: int, totals: _EpochTotals) -> None:
        """Test the model, log the epoch's row and write the 'last' (and 'best') checkpoint."""
        cfg, ds = self.cfg, self.ds
        train_loss = float(totals.loss_sum) / max(1, totals.seen)
        train_acc = int(totals.correct) / max(1, totals.seen)
        t_eval = time.perf_counter()
        net = evaluated_model(self.model, self.ema)
        test_loss, self.test_acc, hits = self.dist.evaluate(  # each rank tests its share of the test set
            lambda x, y, hits: evaluate(net, x, y, self.spec, ds.mean, ds.std, self.device, cfg.precision,
                                        cfg.eval_batch_size, self.channels_last, hits=hits, tta_flip=cfg.tta_flip),
            ds.x_test, ds.y_test)
        done = epoch if totals.seen == self.steps_per_epoch * self.batch else round(totals.epoch_float, 4)
        # which test images were right (paired comparisons between runs); the last epoch's stays
        self.store.save_test_record(self.run_id, {"epoch": done, "n": len(ds.y_test),
                                                  "correct": pack_correct(torch.cat(hits).tolist() if hits else [])})
        peak = (torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda"  # CPU: the process's RSS
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # (Linux counts it in KiB)
        self.store.log_epoch(self.run_id, {"epoch": done, "train_loss": train_loss, "train_acc": train_acc,
                                           "test_loss": test_loss, "test_acc": self.test_acc,
                                           "epoch_seconds": round(totals.seconds, 3), "peak_mem_bytes": peak})
        self.state.update(epoch=done, test_acc=self.test_acc)
        self.result.update(epochs=done, test_acc=round(self.test_acc, 4), train_loss=round(train_loss, 4))
        self._save_checkpoints(done)
        self.eval_reserve = time.perf_counter() - t_eval + 0.5
        self.bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{self.test_acc:.3f}",
                             img_s=f"{self.images_seen / max(self.train_time, 1e-9):,.0f}")

    def _save_checkpoints(self, done: float) -> None:
        ckpt = _checkpoint(evaluated_model(self.model, self.ema), self.spec, self.cfg, self.ds, done, self.test_acc,
                           self.net_mean, self.net_std)
        self.store.save_checkpoint(self.run_id, "last", ckpt)
        if self.test_acc > self.best_acc:
            self.best_acc = self.test_acc
            self.store.save_checkpoint(self.run_id, "best", ckpt)


def load_trained(path, device="cpu") -> tuple[nn.Module, dict]:
    """A model and its checkpoint dict from a checkpoint file (weights_only=True)."""
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    model = build_model(ckpt["spec"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


if __name__ == "__main__":  # pragma: no cover
    print("use: python -m alexnet train", file=sys.stderr)
    raise SystemExit(os.EX_USAGE)
