"""The memory budget: how large a network the tools build.

The arithmetic never allocates tensors, but training and the Activations page build
the network.  The Architecture page refuses edits and uploads beyond these limits, and
``python -m alexnet train`` refuses such a network before building it (``--no-budget``
overrides).  Pure Python: no torch.
"""

from __future__ import annotations

from .textfmt import human_bytes

BUDGET_WEIGHT_BYTES = 1 << 30  # 1 GiB of fp32 weights ≈ 268 M parameters (paper-2012: 233 MiB)
BUDGET_ACTIVATION_BYTES = 256 << 20  # 256 MiB of fp32 layer outputs per image (paper-2012: 2.6 MiB)


def budget_problem(summary: dict) -> str | None:
    """Why a network (its ``summarize`` dict) is over the memory budget, or None."""
    if summary["param_bytes"] > BUDGET_WEIGHT_BYTES:
        big = max(summary["layers"], key=lambda r: r["params"])
        return (f"needs {human_bytes(summary['param_bytes'])} of weights ({summary['total_params']:,} parameters, "
                f"{big['name']} alone {big['params']:,}); the budget is {human_bytes(BUDGET_WEIGHT_BYTES)}. "
                "Shrink a layer, or pool the features smaller before the flatten.")
    if summary["activation_bytes"] > BUDGET_ACTIVATION_BYTES:
        return (f"needs {human_bytes(summary['activation_bytes'])} of activations per image; the budget is "
                f"{human_bytes(BUDGET_ACTIVATION_BYTES)}. Use a smaller input or fewer channels.")
    return None
