"""Patch-whitening initialisation of the first convolution (``--init whiten``).

The fastest CIFAR-10 trainers (Keller Jordan's airbench, after Page's and tysam-code's) start
their first convolution as a *whitening* filter bank: the principal directions of the
training images' k×k patches, each scaled by 1/√(its variance), in ± pairs.  Its outputs
are decorrelated with unit variance from the first step, so the next layers do not spend
the first epochs undoing the strong correlation of neighbouring pixels.  Everything else
about the network is unchanged; the filters keep training like any other weights.

Only the first ``nn.Conv2d`` is set, and only when it is an ordinary convolution (one
group, no dilation): the rest keep ``--init``'s usual default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_IMAGES = 512  # patches of this many training images estimate the covariance
EPS = 5e-4  # added to each eigenvalue: the weakest directions are not blown up


def patch_covariance(x: torch.Tensor, k: int) -> torch.Tensor:
    """Covariance [C·k·k, C·k·k] of every k×k patch (stride 1, no padding) of float images
    ``x`` [N, C, H, W], in ``F.unfold``'s (= a conv weight's flattened) order."""
    p = F.unfold(x.float(), k).transpose(1, 2).reshape(-1, x.shape[1] * k * k)
    p = p - p.mean(0, keepdim=True)
    return p.T @ p / max(1, len(p) - 1)


def whitening_filters(cov: torch.Tensor, out_channels: int, eps: float = EPS) -> torch.Tensor:
    """[n, dims] filters: the top principal directions of ``cov`` scaled by 1/√(λ + eps), each
    with its negative (so a ReLU passes both signs); n = min(out_channels, 2·dims), even."""
    vals, vecs = torch.linalg.eigh(cov.double())  # ascending
    half = min(out_channels // 2, cov.shape[0])
    top = torch.arange(cov.shape[0] - 1, cov.shape[0] - 1 - half, -1)
    w = (vecs[:, top] / torch.sqrt(vals[top].clamp_min(0) + eps)).T
    return torch.cat([w, -w]).float()


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None or conv.groups != 1 or conv.dilation != (1, 1) or conv.kernel_size[0] != conv.kernel_size[1]:
        return None
    return conv


@torch.no_grad()
def whiten_first_conv(model: nn.Module, images: torch.Tensor) -> bool:
    """Set the first convolution's filters from the patches of ``images`` (the network's float
    input, [N, C, H, W]) as above, its bias to zero; False when there is no such layer."""
    conv = first_conv(model)
    if conv is None:
        return False
    k = conv.kernel_size[0]
    w = whitening_filters(patch_covariance(images[:MAX_IMAGES], k), conv.out_channels)
    conv.weight[: len(w)] = w.reshape(len(w), conv.in_channels, k, k).to(conv.weight)
    if conv.bias is not None:
        conv.bias.zero_()
    return True
