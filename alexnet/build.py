"""NetSpec → torch.nn.Module.  Module names are the spec's layer names (conv1, pool1, fc1…)
so a checkpoint's keys read like the table on the architecture page."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .arithmetic import analyze
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


def _pads(dims) -> tuple[tuple[int, int, int, int], bool]:
    a, b = dims
    pads = (b.pad_before, b.pad_after, a.pad_before, a.pad_after)
    symmetric = a.pad_before == a.pad_after and b.pad_before == b.pad_after
    return pads, symmetric


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


def pytorch_code(config: dict | NetSpec | str) -> str:
    """Runnable Python that builds the same network with plain torch.nn (no alexnet import)."""
    spec = as_spec(config)
    summary = analyze(spec)
    if summary.errors:
        raise SpecError(summary.errors[0])
    lines = ["import torch", "from torch import nn", "import torch.nn.functional as F", "", ""]
    needs_same = False
    body = []
    for layer, info in zip(spec.layers, summary.layers):
        t = layer.type
        cin = info.in_shape[0]
        if t in ("conv", "maxpool", "avgpool"):
            k = hw(layer.kernel)
            s = hw(layer.stride if layer.stride is not None else layer.kernel)
            pads, symmetric = _pads(info.dims)
            ks = k[0] if k[0] == k[1] else k
            ss = s[0] if s[0] == s[1] else s
            pad = (pads[2], pads[0])
            ps = pad[0] if pad[0] == pad[1] else pad
            if t == "conv":
                extra = ""
                d = hw(layer.dilation)
                if d != (1, 1):
                    extra += f", dilation={d[0] if d[0] == d[1] else d}"
                if layer.groups != 1:
                    extra += f", groups={layer.groups}"
                if not layer.bias:
                    extra += ", bias=False"
                core = f"nn.Conv2d({cin}, {layer.out_channels}, kernel_size={ks}, stride={ss}"
                expr = core + (f", padding={ps}{extra})" if symmetric else f"{extra})")
            elif t == "maxpool":
                cm = ", ceil_mode=True" if layer.ceil_mode else ""
                expr = f"nn.MaxPool2d(kernel_size={ks}, stride={ss}" + (f", padding={ps}{cm})" if symmetric else f"{cm})")
            else:
                cm = ", ceil_mode=True" if layer.ceil_mode else ""
                if not symmetric or (layer.padding == "same" and pads != (0, 0, 0, 0)):
                    raise SpecError(f"layer {info.index} (avgpool): 'same' average pooling has no plain "
                                    "torch.nn equivalent; use integer padding to export code")
                expr = f"nn.AvgPool2d(kernel_size={ks}, stride={ss}, padding={ps}{cm})"
            if not symmetric:
                needs_same = True
                fill = ', value=float("-inf")' if t == "maxpool" else ""
                expr = f"nn.Sequential(Pad({pads}{fill}), {expr})"
        elif t == "adaptive_avgpool":
            o = hw(layer.output)
            expr = f"nn.AdaptiveAvgPool2d({o[0] if o[0] == o[1] else o})"
        elif t == "adaptive_maxpool":
            o = hw(layer.output)
            expr = f"nn.AdaptiveMaxPool2d({o[0] if o[0] == o[1] else o})"
        elif t == "lrn":
            expr = f"nn.LocalResponseNorm({layer.size}, alpha={layer.alpha!r}, beta={layer.beta!r}, k={layer.k!r})"
        elif t == "batchnorm":
            expr = f"nn.BatchNorm{2 if len(info.in_shape) == 3 else 1}d({cin})"
        elif t == "dropout":
            expr = f"nn.Dropout(p={layer.p!r})"
        elif t == "flatten":
            expr = "nn.Flatten()"
        elif t == "linear":
            expr = f"nn.Linear({cin}, {layer.out_features}" + (", bias=False)" if not layer.bias else ")")
        elif t == "leaky_relu":
            expr = f"nn.LeakyReLU({layer.negative_slope!r}, inplace=True)"
        else:
            expr = {"relu": "nn.ReLU(inplace=True)", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
                    "softplus": "nn.Softplus()", "gelu": "nn.GELU()"}[t]
        shape = "×".join(str(x) for x in info.out_shape)
        body.append(f"    ({info.name!r}, {expr}),  # → {shape}")
    if needs_same:
        lines += ["class Pad(nn.Module):",
                  "    \"\"\"TensorFlow 'same' padding: (left, right, top, bottom), maybe asymmetric.\"\"\"",
                  "",
                  "    def __init__(self, pads, value=0.0):",
                  "        super().__init__()",
                  "        self.pads, self.value = pads, value",
                  "",
                  "    def forward(self, x):",
                  "        return F.pad(x, self.pads, value=self.value)",
                  "", ""]
    c, h, w = spec.input.shape
    lines.append(f"# {spec.name}: input {c}×{h}×{w}, {summary.total_params:,} parameters")
    lines.append("from collections import OrderedDict")
    lines.append("")
    lines.append("model = nn.Sequential(OrderedDict([")
    lines += body
    lines.append("]))")
    lines.append("")
    lines.append(f"out = model(torch.zeros(1, {c}, {h}, {w}))")
    lines.append(f"print(out.shape)  # {[1, *summary.output_shape]}")
    return "\n".join(lines) + "\n"
