"""NetSpec → runnable PyTorch source (plain torch.nn, no alexnet import).

String work only: importing this module does not import torch, so the
architecture page can show the code without paying for a torch import.
"""

from __future__ import annotations

from .arithmetic import analyze
from .spec import NetSpec, SpecError, as_spec, hw


def _pads(dims) -> tuple[tuple[int, int, int, int], bool]:
    a, b = dims
    pads = (b.pad_before, b.pad_after, a.pad_before, a.pad_after)
    symmetric = a.pad_before == a.pad_after and b.pad_before == b.pad_after
    return pads, symmetric


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
