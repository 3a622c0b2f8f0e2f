"""An exponential moving average (EMA) of a model's weights, for evaluation and checkpoints.

The engine keeps one when ``TrainConfig.ema`` > 0: after every optimizer step the average
moves ``1 − ema`` of the way towards the current weights (BatchNorm's running statistics
too), and evaluation and checkpoints use the average.  An average of the last few hundred
steps is less noisy than the last step's weights, which pays off most in short runs that
stop before the learning rate has fallen to near zero (a time budget cut short, an early
evaluation).  Built on ``torch.optim.swa_utils.AveragedModel``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightEMA:
    """The average of ``model``'s weights; ``update()`` after each optimizer step.

    The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as
    TensorFlow's ExponentialMovingAverage with ``num_updates``), so early evaluations are
    not dominated by the initial weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.updates = 0
        self.averaged = AveragedModel(model, multi_avg_fn=self._multi_avg_fn(), use_buffers=True)
        self.averaged.eval()

    def _multi_avg_fn(self):
        def avg(ema_params, current_params, num_averaged):
            decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
            return get_ema_multi_avg_fn(decay)(ema_params, current_params, num_averaged)
        return avg

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)
        self.updates += 1

    @property
    def module(self) -> nn.Module:
        """The averaged network (a copy of the model's architecture with the averaged weights)."""
        return self.averaged.module


def make_ema(model: nn.Module, decay: float) -> WeightEMA | None:
    """A WeightEMA of ``model`` when ``decay`` > 0, else None."""
    return WeightEMA(model, decay) if decay > 0 else None


def evaluated_model(model: nn.Module, ema: WeightEMA | None) -> nn.Module:
    """The network that is evaluated and saved: the average when there is one."""
    return ema.module if ema is not None else model
