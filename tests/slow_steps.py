"""Training runs that cannot finish before a test stops them, on any machine: every training
step of a job's subprocess first sleeps ``delay`` seconds (a sitecustomize.py put on the
subprocess's PYTHONPATH), so N steps take at least N·delay seconds however fast the CPU is.
Replaces assumptions such as "~72,000 steps: cannot finish before Stop on a fast machine"."""

from __future__ import annotations

import os
from pathlib import Path

SITE = '''\
import time

import alexnet.train as _train

_step = _train._Training._train_step


def _slow_step(self, *args, **kwargs):
    time.sleep({delay!r})
    return _step(self, *args, **kwargs)


_train._Training._train_step = _slow_step
'''


def slow_training_steps(monkeypatch, folder: Path, delay: float = 0.05) -> float:
    """Make every job launched from now on (in this test) sleep ``delay`` s per step; returns
    ``delay``.  Fails loudly if the engine's step method is renamed."""
    from alexnet import train

    assert callable(getattr(train._Training, "_train_step", None)), "alexnet.train._Training._train_step is gone"
    site = folder / "slow_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITE.format(delay=delay))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p))
    return delay
