"""torch.nn modules the plain library lacks: TensorFlow 'same' padding (asymmetric, extra
pixel after) for conv, max-pool and average-pool.  Same parameters and state-dict keys
as their torch.nn parents.  The layer registry (alexnet/layers.py) builds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: pads (possibly asymmetrically, extra pixel
    after) so that out = ceil(in / stride).  Same parameters and state-dict keys as Conv2d."""

    def __init__(self, *args, pads: tuple[int, int, int, int], padding_mode: str = "zeros", **kwargs):
        super().__init__(*args, padding=0, **kwargs)  # the padding is F.pad's, in forward
        self.pads = pads  # (left, right, top, bottom), as F.pad wants
        self.pad_mode = "constant" if padding_mode == "zeros" else padding_mode  # F.pad's name for it

    def forward(self, x):
        return super().forward(F.pad(x, self.pads, mode=self.pad_mode))


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
