"""An independent oracle for the explorer's numbers: a network's JSON (``NetSpec.to_dict()``)
translated to plain ``torch.nn`` by its own small code, written from PyTorch's documentation.

Nothing here imports ``alexnet``: the builder (``alexnet.build``), the layer registry and the
arithmetic compute the padding, the output sizes and the stride defaults that the tests check,
so an oracle that used them would agree with any mistake in them.  The oracle only reads the
JSON and lets torch decide: ``stride: null`` is passed to torch as ``None`` (torch's default),
integer paddings go straight to the module, and TensorFlow's 'same' padding is written out
here (out = ⌈in/stride⌉, the total padding split with the extra pixel after).

``build(d)`` runs a zero tensor through the layers one by one and returns one ``Step`` per layer
(module, input and output shape, parameters, torchinfo multiply-adds), stopping at the first
layer torch refuses (``Step.error``): a window larger than its padded input, groups that do not
divide the channels, a reflect padding wider than the input, a one-value group norm.

``support=True`` builds the network for gradient-support checks: max-pools become average pools
of the same geometry (a max passes gradient to one pixel only) and weights are positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softplus": nn.Softplus,
               "gelu": nn.GELU, "hardswish": nn.Hardswish}


def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def tf_same(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow 'same': out = ⌈size/stride⌉; padding (before, after), the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class Pad(nn.Module):
    """F.pad with (left, right, top, bottom)."""

    def __init__(self, pads, mode="constant", value=0.0):
        super().__init__()
        self.pads, self.mode, self.value = tuple(pads), mode, value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.pads, value=self.value)
        return F.pad(x, self.pads, mode=self.mode)


class SameAvgPool(nn.Module):
    """Average over the window's input pixels only (padded positions not counted)."""

    def __init__(self, kernel, stride, pads, ceil_mode):
        super().__init__()
        self.k, self.s, self.pads, self.ceil = kernel, stride, pads, ceil_mode

    def forward(self, x):
        total = F.avg_pool2d(F.pad(x, self.pads), self.k, self.s, ceil_mode=self.ceil)
        count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), self.pads), self.k, self.s, ceil_mode=self.ceil)
        return total / count


def _same_pads(d: dict, h: int, w: int, dilation=(1, 1)) -> tuple[int, int, int, int]:
    k = pair(d["kernel"])
    s = pair(d["stride"]) if d.get("stride") is not None else k  # torch: stride None = the kernel
    top, bottom = tf_same(h, k[0], s[0], dilation[0])
    left, right = tf_same(w, k[1], s[1], dilation[1])
    return left, right, top, bottom


def _padding(d: dict):
    """An int/pair padding as torch takes it; 'valid' is 0; None for 'same'."""
    p = d.get("padding", 0)
    if p == "same":
        return None
    return 0 if p == "valid" else pair(p)


def conv(d, shape, support):
    c, h, w = shape
    dil = pair(d["dilation"])
    kw = dict(kernel_size=pair(d["kernel"]), stride=pair(d["stride"]), dilation=dil, groups=d["groups"],
              bias=d["bias"], padding_mode=d["padding_mode"])
    pad = _padding(d)
    if pad is not None:
        return nn.Conv2d(c, d["out_channels"], padding=pad, **kw)
    mode = "constant" if d["padding_mode"] == "zeros" else d["padding_mode"]
    return nn.Sequential(Pad(_same_pads(d, h, w, dil), mode), nn.Conv2d(c, d["out_channels"], padding=0, **kw))


def maxpool(d, shape, support):
    if support:
        return avgpool(d, shape, support)
    pad = _padding(d)
    if pad is not None:
        return nn.MaxPool2d(pair(d["kernel"]), d["stride"], pad, ceil_mode=d["ceil_mode"])
    pool = nn.MaxPool2d(pair(d["kernel"]), d["stride"], 0, ceil_mode=d["ceil_mode"])
    return nn.Sequential(Pad(_same_pads(d, *shape[1:]), value=float("-inf")), pool)


def avgpool(d, shape, support):
    pad = _padding(d)
    if pad is not None:
        return nn.AvgPool2d(pair(d["kernel"]), d["stride"], pad, ceil_mode=d["ceil_mode"])
    k = pair(d["kernel"])
    s = pair(d["stride"]) if d["stride"] is not None else k
    return SameAvgPool(k, s, _same_pads(d, *shape[1:]), d["ceil_mode"])


def adaptive(d, shape, support):
    return nn.AdaptiveAvgPool2d(pair(d["output"]))


def adaptive_max(d, shape, support):
    return adaptive(d, shape, support) if support else nn.AdaptiveMaxPool2d(pair(d["output"]))


def linear(d, shape, support):
    return nn.Linear(shape[0], d["out_features"], bias=d["bias"])


def batchnorm(d, shape, support):
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=d["eps"], momentum=d["momentum"])


def _plain(cls):
    return lambda d, shape, support: cls()


BUILDERS = {
    "conv": conv, "maxpool": maxpool, "avgpool": avgpool,
    "adaptive_avgpool": adaptive, "adaptive_maxpool": adaptive_max,
    "flatten": lambda d, shape, support: nn.Flatten(),
    "linear": linear,
    "lrn": lambda d, shape, support: nn.LocalResponseNorm(d["size"], alpha=d["alpha"], beta=d["beta"], k=d["k"]),
    "batchnorm": batchnorm,
    "groupnorm": lambda d, shape, support: nn.GroupNorm(d["groups"], shape[0], eps=d["eps"], affine=d["affine"]),
    "dropout": lambda d, shape, support: nn.Dropout(d["p"]),
    "leaky_relu": lambda d, shape, support: nn.LeakyReLU(d["negative_slope"]),
    "elu": lambda d, shape, support: nn.ELU(d["alpha"]),
    **{name: _plain(cls) for name, cls in ACTIVATIONS.items()},
}


@dataclass
class Step:
    index: int
    type: str
    module: nn.Module | None
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...] | None = None
    params: int = 0
    macs: int = 0
    error: str | None = None  # torch refused this layer


def torchinfo_macs(module: nn.Module, in_shape) -> int:
    import torchinfo

    stats = torchinfo.summary(module, input_size=(1, *in_shape), verbose=0, device="cpu")
    return int(stats.total_mult_adds)


def _positive(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(0.5, 1.0)


def build(d: dict, support: bool = False, macs: bool = True) -> list[Step]:
    """One Step per layer of the spec dict, up to and including the first one torch refuses."""
    c, h, w = d["input"]["channels"], d["input"]["height"], d["input"]["width"]
    x = torch.zeros(1, c, h, w, dtype=torch.float64 if support else torch.float32)
    steps = []
    for i, layer in enumerate(d["layers"]):
        step = Step(i, layer["type"], None, tuple(x.shape[1:]))
        steps.append(step)
        try:
            step.module = BUILDERS[layer["type"]](layer, step.in_shape, support).to(x.dtype).eval()
            if support:
                _positive(step.module)
            with torch.no_grad():
                x = step.module(x)
        except (RuntimeError, ValueError) as e:
            step.error = f"{type(e).__name__}: {e}"
            return steps
        if x.numel() == 0:
            step.error = f"empty output {tuple(x.shape)}"
            return steps
        step.out_shape = tuple(x.shape[1:])
        step.params = sum(p.numel() for p in step.module.parameters())
        if macs:
            step.macs = torchinfo_macs(step.module, step.in_shape)
    return steps


def network(steps: list[Step]) -> nn.Sequential:
    return nn.Sequential(*(s.module for s in steps))
