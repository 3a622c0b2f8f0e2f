"""torchinfo's totals of a network: the trainable / non-trainable parameter split and its
"Estimated Total Size" (input + forward/backward pass + parameters, for one image), as
``torchinfo.summary`` prints them under its table.  The Runs page's table shows them.

The network is built on PyTorch's "meta" device: shapes and sizes without allocating a
byte, so a 60-million-parameter network costs milliseconds (the figures equal a CPU
build's: tests/test_netstats.py)."""

from __future__ import annotations

from .arithmetic import analyze
from .spec import NetSpec, SpecError, as_spec


def torchinfo_totals(spec: NetSpec | dict | str) -> dict | None:
    """``{"total_params", "trainable_params", "non_trainable_params", "input_bytes",
    "forward_backward_bytes", "params_bytes", "total_bytes"}`` from ``torchinfo.summary`` at
    batch 1; None for an invalid network."""
    import torch
    import torchinfo

    from .build import build_model

    try:
        spec = as_spec(spec)
        if analyze(spec).errors:
            return None
    except SpecError:
        return None
    with torch.device("meta"):
        model = build_model(spec)
    stats = torchinfo.summary(model, input_size=(1, *spec.input.shape), verbose=0, device="meta")
    out = {"total_params": int(stats.total_params), "trainable_params": int(stats.trainable_params),
           "input_bytes": int(stats.total_input), "forward_backward_bytes": int(stats.total_output_bytes),
           "params_bytes": int(stats.total_param_bytes)}
    out["non_trainable_params"] = out["total_params"] - out["trainable_params"]
    out["total_bytes"] = out["input_bytes"] + out["forward_backward_bytes"] + out["params_bytes"]
    return out
