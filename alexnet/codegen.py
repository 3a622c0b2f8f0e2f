"""NetSpec → runnable PyTorch source (plain torch.nn, no alexnet import).

String work only: importing this module does not import torch, so the
architecture page can show the code without paying for a torch import.
"""

from __future__ import annotations

from . import layers as L
from .arithmetic import analyze
from .spec import NetSpec, SpecError, as_spec
from .textfmt import shape_text


def pytorch_code(config: dict | NetSpec | str) -> str:
    """Runnable Python that builds the same network with plain torch.nn (no alexnet import)."""
    spec = as_spec(config)
    summary = analyze(spec)
    if summary.errors:
        raise SpecError(summary.errors[0])
    lines = ["import torch", "from torch import nn", "import torch.nn.functional as F", "", ""]
    helpers = set()
    body = []
    for layer, info in zip(spec.layers, summary.layers):
        expr, helper = L.get(layer.type).code(layer, info)
        helpers.add(helper)
        shape = shape_text(info.out_shape)
        body.append(f"    ({info.name!r}, {expr}),  # → {shape}")
    for name in sorted(h for h in helpers if h):
        lines += [*L.CODE_HELPERS[name].splitlines(), "", ""]
    c, h, w = spec.input.shape
    lines.append(f"# {spec.name}: input {c}×{h}×{w}, {summary.total_params:,} parameters")
    lines.append("from collections import OrderedDict")
    lines.append("")
    lines.append("model = nn.Sequential(OrderedDict([")
    lines += body
    lines.append("]))")
    lines.append("")
    lines.append("model.eval()  # BatchNorm on one image needs eval mode (training mode wants a batch)")
    lines.append(f"out = model(torch.zeros(1, {c}, {h}, {w}))")
    lines.append(f"print(out.shape)  # {[1, *summary.output_shape]}")
    return "\n".join(lines) + "\n"
