"""NetSpec → torch.nn.Module.  Module names are the spec's layer names (conv1, pool1, fc1…)
so a checkpoint's keys read like the table on the architecture page."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .arithmetic import analyze
from .codegen import _pads
from .spec import NetSpec, SpecError, as_spec, hw


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: pads (possibly asymmetrically, extra pixel
    after) so that out = ceil(in / stride).  Same parameters and state-dict keys as Conv2d."""

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads  # (left, right, top, bottom), as F.pad wants

    def forward(self, x):
        return super().forward(F.pad(x, self.pads))


class MaxPool2dSame(nn.MaxPool2d):
    """Max-pool with TF 'same' padding: padded positions never win (pad with -inf)."""

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        return super().forward(F.pad(x, self.pads, value=float("-inf")))


class AvgPool2dSame(nn.AvgPool2d):
    """Average-pool with TF 'same' padding: padded positions are not counted."""

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        total = super().forward(F.pad(x, self.pads))
        ones = torch.ones_like(x[:1, :1])
        count = super().forward(F.pad(ones, self.pads))
        return total / count


def build_model(config: dict | NetSpec | str) -> nn.Sequential:
    """Build the network.  Raises SpecError (naming the layer) if any layer is invalid
    for its input shape — the same check the summary table shows."""
    spec = as_spec(config)
    summary = analyze(spec)
    if summary.errors:
        raise SpecError(summary.errors[0])
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    for layer, info in zip(spec.layers, summary.layers):
        t = layer.type
        in_shape = info.in_shape
        if t in ("conv", "maxpool", "avgpool"):
            k = hw(layer.kernel)
            s = hw(layer.stride if layer.stride is not None else layer.kernel)
            pads, symmetric = _pads(info.dims)
            pad = (pads[2], pads[0]) if symmetric else None
            if t == "conv":
                kw = dict(kernel_size=k, stride=s, dilation=hw(layer.dilation), groups=layer.groups,
                          bias=layer.bias)
                if symmetric:
                    m = nn.Conv2d(in_shape[0], layer.out_channels, padding=pad, **kw)
                else:
                    m = Conv2dSame(in_shape[0], layer.out_channels, pads=pads, **kw)
            elif t == "maxpool":
                if symmetric:
                    m = nn.MaxPool2d(k, s, padding=pad, ceil_mode=layer.ceil_mode)
                else:
                    m = MaxPool2dSame(k, s, pads=pads, ceil_mode=layer.ceil_mode)
            else:
                if layer.padding == "same" and pads != (0, 0, 0, 0):
                    m = AvgPool2dSame(k, s, pads=pads, ceil_mode=layer.ceil_mode)
                else:
                    m = nn.AvgPool2d(k, s, padding=pad, ceil_mode=layer.ceil_mode)
        elif t == "adaptive_avgpool":
            m = nn.AdaptiveAvgPool2d(hw(layer.output))
        elif t == "adaptive_maxpool":
            m = nn.AdaptiveMaxPool2d(hw(layer.output))
        elif t == "lrn":
            m = nn.LocalResponseNorm(layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k)
        elif t == "batchnorm":
            cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
            m = cls(in_shape[0], eps=layer.eps, momentum=layer.momentum)
        elif t == "dropout":
            m = nn.Dropout(layer.p)
        elif t == "flatten":
            m = nn.Flatten()
        elif t == "linear":
            m = nn.Linear(in_shape[0], layer.out_features, bias=layer.bias)
        elif t == "relu":
            m = nn.ReLU(inplace=True)
        elif t == "leaky_relu":
            m = nn.LeakyReLU(layer.negative_slope, inplace=True)
        elif t == "sigmoid":
            m = nn.Sigmoid()
        elif t == "tanh":
            m = nn.Tanh()
        elif t == "softplus":
            m = nn.Softplus()
        elif t == "gelu":
            m = nn.GELU()
        else:  # pragma: no cover - the spec refuses unknown types
            raise SpecError(f"layer {info.index} ({t}): no builder")
        mods[info.name] = m
    return nn.Sequential(mods)


from .codegen import pytorch_code  # noqa: E402,F401  (re-exported; no torch needed)
