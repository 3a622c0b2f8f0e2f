"""NetSpec → torch.nn.Module.  Module names are the spec's layer names (conv1, pool1, fc1…)
so a checkpoint's keys read like the table on the architecture page.  Each layer type
builds its own module (``alexnet.layers``)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from . import layers as L
from .arithmetic import analyze
from .codegen import pytorch_code  # noqa: F401  (re-exported; no torch needed)
from .spec import NetSpec, SpecError, as_spec
from .torch_layers import AvgPool2dSame, Conv2dSame, MaxPool2dSame  # noqa: F401  (re-exported)


def build_model(config: dict | NetSpec | str) -> nn.Sequential:
    """Build the network.  Raises SpecError (naming the layer) if any layer is invalid
    for its input shape — the same check the summary table shows."""
    spec = as_spec(config)
    summary = analyze(spec)
    if summary.errors:
        raise SpecError(summary.errors[0])
    mods: OrderedDict[str, nn.Module] = OrderedDict(
        (info.name, L.get(layer.type).module(layer, info)) for layer, info in zip(spec.layers, summary.layers))
    return nn.Sequential(mods)
