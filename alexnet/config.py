"""The training options: ``TrainConfig``, its named recipes, and each option's facts.

Each field of ``TrainConfig`` carries an ``Option`` in its metadata: help text, type,
allowed range or choices, unit, and how the Train page shows it (``Widget``).  That one
place feeds ``TrainConfig.validate`` (messages state the real range), the flags of
``python -m alexnet train`` (``alexnet.cli_common.add_config_flags``) and the Train
page's widgets (``explorer.train_form``), so a new option is added once.

Pure Python (no torch): the CLI and the web page read it without loading the engine.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
INITS = ("default", "kaiming", "xavier", "whiten")
PRECISIONS = ("fp32", "bf16", "fp16")
TIME_BUDGETS = (60.0, 180.0, 600.0)  # the Train page's "train for 1 / 3 / 10 minutes"
BUDGET_EPOCHS = 200  # a launch with a time budget: enough epochs that the budget ends the run


class ConfigError(ValueError):
    """An invalid training config; the message names the field.  ``field`` and
    ``requirement`` ("must be …") are set when one field is at fault."""

    def __init__(self, message: str, field: str | None = None, requirement: str | None = None):
        super().__init__(message)
        self.field, self.requirement = field, requirement


@dataclass(frozen=True)
class Widget:
    """How the Train page shows an option.  ``kind``: number, select, checkbox, slider,
    devices (a select over this machine's devices) or budget (a row of buttons over
    ``choices``, seconds, and None for "no time budget").  The widget's key is
    ``tr_<recipe>_<key>``; ``lo``/``hi`` are the page's bounds (within the valid range);
    ``row`` 'top' (full width, above the rest), 'main' (three columns, ``col``), 'extra'
    (full width) or 'aug' (the augmentation row).  A widget with ``only_with`` = (field,
    value) is shown only while that holds."""

    kind: str
    label: str
    key: str
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    fmt: str | None = None
    row: str = "main"
    col: int = 0
    help: str | None = None
    zero_is_none: bool = False  # a number input where 0 stands for None ("all")
    only_with: tuple[str, Any] | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Option:
    """One training option's facts.  ``hi`` may name another field that bounds it."""

    help: str
    kind: type = float  # int, float, str or bool
    lo: float | None = None
    hi: float | str | None = None
    open_lo: bool = False  # lo itself is not allowed
    open_hi: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False  # None (JSON null) is allowed
    unit: str = ""
    what: str = ""  # the requirement in words, for a str option
    pattern: str = ""  # a str option's value must match this regular expression (case and spaces aside)
    flag: bool = True  # a --flag of `python -m alexnet train`
    page: Widget | None = None

    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. (0, 100], or ≥ 1."""
        if self.lo is not None and self.hi is not None:
            return f"{'(' if self.open_lo else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.open_hi else ']'}"
        if self.lo is not None:
            return f"{'>' if self.open_lo else '≥'} {_num(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.open_hi else '≤'} {_num(self.hi)}"
        return ""

    def requirement(self) -> str:
        """What a valid value is, in words: 'must be an integer in [1, 65536]'."""
        if self.kind is bool:
            text = "true or false"
        elif self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.kind is str:
            text = self.what or "a string"
        else:
            noun = "an integer" if self.kind is int else "a number"
            rng = self.range_text()
            text = f"{noun} {'in ' if rng[:1] in '[(' else ''}{rng}" if rng else noun
        if self.unit:
            text += f" ({self.unit})"
        return "must be " + text + (" or null" if self.nullable else "")

    def accepts(self, value: Any, config: Any = None) -> bool:
        if value is None:
            return self.nullable
        if not _of_kind(value, self.kind) or (self.choices and value not in self.choices):
            return False
        if self.kind is str:
            return value.strip() != "" and (not self.pattern or re.fullmatch(self.pattern, value.strip(), re.I) is not None)
        hi = getattr(config, self.hi) if isinstance(self.hi, str) else self.hi
        lo_ok = self.lo is None or (value > self.lo if self.open_lo else value >= self.lo)
        hi_ok = hi is None or (value < hi if self.open_hi else value <= hi)
        return lo_ok and hi_ok


def _num(v: float | str) -> str:
    return v if isinstance(v, str) else f"{v:g}"


def _of_kind(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _opt(default: Any, help: str, **facts) -> Any:
    return dataclasses.field(default=default, metadata={"option": Option(help, **facts)})


@dataclass
class TrainConfig:
    """Everything about a training run except the network.  Each field's ``Option``
    (``option(name)``) says what it means and what values it takes."""

    dataset: str = _opt("digits", "a built-in dataset name (`python -m alexnet datasets` lists them), an image "
                        "folder or an .npz file", kind=str, what="a name or a path", page=None)
    batch_size: int = _opt(128, "images per optimizer step", kind=int, lo=1, hi=65536, unit="images",
                           page=Widget("number", "Batch size", "batch", 1, 4096, col=0))
    epochs: int = _opt(10, "passes over the training set", kind=int, lo=1, hi=100000,
                       page=Widget("number", "Epochs", "epochs", 1, 200, col=0, only_with=("max_seconds", None)))
    optimizer: str = _opt("sgd", "the optimizer", kind=str, choices=OPTIMIZERS,
                          page=Widget("select", "Optimizer", "opt", col=0))
    lr: float = _opt(0.05, "peak learning rate (the one-cycle maximum; the start of step/cosine)", lo=0, hi=100,
                     open_lo=True, page=Widget("number", "Learning rate", "lr", 1e-6, 10.0, fmt="%.5f", col=1))
    momentum: float = _opt(0.9, "SGD momentum (Adam's beta1 is left at 0.9)", lo=0, hi=1, open_hi=True,
                           page=Widget("number", "Momentum", "mom", 0.0, 0.999, fmt="%.3f", row="extra",
                                       only_with=("optimizer", "sgd")))
    nesterov: bool = _opt(True, "Nesterov momentum for SGD", kind=bool)
    weight_decay: float = _opt(5e-4, "L2 for SGD/Adam, decoupled for AdamW", lo=0, hi=1, open_hi=True,
                               page=Widget("number", "Weight decay", "wd", 0.0, 0.1, fmt="%.5f", col=1))
    schedule: str = _opt("onecycle", "learning-rate schedule", kind=str, choices=SCHEDULES,
                         page=Widget("select", "LR schedule", "sched", col=1))
    step_epochs: float = _opt(0.0, "step schedule: epochs between drops (0 = at 1/2 and 3/4)", lo=0)
    step_gamma: float = _opt(0.1, "step schedule: the factor at each drop", lo=0, hi=1, open_lo=True)
    warmup_epochs: float = _opt(0.0, "linear warm-up from lr/10 (constant, step, cosine; one-cycle has its own)",
                                lo=0, hi="epochs")
    init: str = _opt("default", "weight initialisation: default (PyTorch's), kaiming, xavier, or whiten (PyTorch's, with the first conv set to whiten the training images' patches)", kind=str,
                     choices=INITS)
    label_smoothing: float = _opt(0.0, "cross-entropy label smoothing", lo=0, hi=1, open_hi=True)
    ema: float = _opt(0.0, "decay of an exponential moving average of the weights, per step (0 = none); "
                      "evaluation and checkpoints use the average", lo=0, hi=1, open_hi=True)
    tta_flip: bool = _opt(False, "evaluate each test image and its mirror image (averaged outputs); "
                          "for data where a mirrored image is the same class", kind=bool)
    precision: str = _opt("fp32", "autocast precision (fp16 adds a grad scaler)", kind=str, choices=PRECISIONS,
                          page=Widget("select", "Precision", "prec", col=2,
                                      help="bf16/fp16 use autocast; on a CPU fp32 is usually fastest"))
    device: str = _opt("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps", kind=str,
                       what="auto, cpu, cuda, cuda:N or mps", pattern=r"auto|cpu|cuda(:\d+)?|mps",
                       page=Widget("devices", "Device", "dev", col=2,
                                   help="auto: the GPU when there is one, else the CPU"))
    seed: int = _opt(0, "seeds torch (weights, shuffling, augmentation)", kind=int)
    max_seconds: float | None = _opt(None, "wall-clock budget; stops cleanly when reached (one-cycle and cosine "
                                     "schedules anneal to it)", lo=0, open_lo=True, nullable=True, unit="seconds",
                                     page=Widget("budget", "Train for", "budget", row="top",
                                                 choices=(None, *TIME_BUDGETS), help="a time budget: the learning rate anneals to the end of it "
                                                 "(one-cycle and cosine schedules) and the run stops when it is "
                                                 f"spent (or after {BUDGET_EPOCHS} epochs)"))
    max_steps: int | None = _opt(None, "stop after this many optimizer steps", kind=int, lo=1, nullable=True)
    train_subset: int | None = _opt(None, "train on this many images only (a fixed random subset)", kind=int, lo=1,
                                    nullable=True, page=Widget("number", "Train on at most N images (0 = all)",
                                                               "subset", 0, 1_000_000, step=500, col=2,
                                                               zero_is_none=True))
    compile: bool = _opt(False, "torch.compile the model (worth it on CUDA for long runs)", kind=bool)
    cpu_threads: int | None = _opt(None, "PyTorch CPU threads (default: PyTorch's choice)", kind=int, lo=1, hi=1024,
                                   nullable=True)
    flip: bool = _opt(False, "random horizontal flips", kind=bool,
                      page=Widget("checkbox", "Flips", "flip", row="aug", col=0))
    translate: float = _opt(0.0, "random shift, fraction of the input side (0.125 = 4 px at 32)", lo=0, hi=0.5,
                            page=Widget("slider", "Random shift (fraction of the side)", "translate", 0.0, 0.25,
                                        step=0.025, row="aug", col=1,
                                        help="0.125 = up to 4 pixels at 32×32 (pad-and-crop)"))
    color_jitter: float = _opt(0.0, "random brightness/contrast, ± this fraction", lo=0, hi=1,
                               page=Widget("slider", "Colour jitter", "jitter", 0.0, 0.5, step=0.05, row="aug",
                                           col=2))
    eval_batch_size: int = _opt(1000, "images per forward pass when evaluating", kind=int, lo=1)
    log_every: int = _opt(10, "write a step-metrics row every N steps", kind=int, lo=1)
    recipe: str | None = _opt(None, "the recipe this config came from (informational)", kind=str, nullable=True,
                              flag=False)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"a training config must be a JSON object, got {type(d).__name__}")
        _refuse_unknown(d)
        return cls(**d).validate()

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> TrainConfig:
        """This config, or ConfigError naming the first field outside its ``Option``."""
        for f in dataclasses.fields(self):
            opt, value = f.metadata["option"], getattr(self, f.name)
            if not opt.accepts(value, self):
                req = opt.requirement()
                raise ConfigError(f"training option '{f.name}' {req}, got {value!r}", f.name, req)
        return self


def option(name: str) -> Option:
    """The facts of one TrainConfig field."""
    return OPTIONS[name]


OPTIONS: dict[str, Option] = {f.name: f.metadata["option"] for f in dataclasses.fields(TrainConfig)}


def _refuse_unknown(d: dict) -> None:
    unknown = sorted(set(d) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(OPTIONS))}")


# ---- recipes ------------------------------------------------------------------------------
# Each recipe is a dict of TrainConfig overrides.  The seed recipes keep the seeds'
# own hyper-parameters (see ../shared/design.md); 'quick' is tuned for 2 CPU cores.
RECIPES: dict[str, dict[str, Any]] = {
    # CPU-friendly default: one-cycle SGD with Nesterov momentum, light augmentation.  Two epochs
    # (five until issue 15): the default run (alexnet-cifar-32 on digits) is past 97 % after two, held out.
    "quick": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  schedule="onecycle", batch_size=64, epochs=2, label_smoothing=0.1, init="default",
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
    # The recipe the alexnet-cifar-32 preset is tuned with: one-cycle SGD, flip + translate,
    # a patch-whitening first conv and test-time flips.  Chosen on 8,000 images of the shared
    # 10,000-image CIFAR-10 subset, scored on the other 2,000 (6 epochs, 1 thread): 69.6 %
    # with the default init → 73.8 % whitened (issue 15; bench/time_to_accuracy.py).
    "cifar-cpu": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
                      schedule="onecycle", batch_size=64, epochs=6, init="whiten", label_smoothing=0.1,
                      flip=True, translate=0.0625, tta_flip=True),
}
# The seeds' step schedules: keras drops at 1/3 and 2/3 (100/200 of 300 epochs).
STEP_MILESTONES = {"keras-sgd-steps": (1 / 3, 2 / 3)}


def make_config(recipe: str = "quick", **overrides) -> TrainConfig:
    """A TrainConfig from a named recipe with some fields overridden."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPES)}")
    _refuse_unknown(overrides)
    return TrainConfig(**{**RECIPES[recipe], "recipe": recipe, **overrides}).validate()
