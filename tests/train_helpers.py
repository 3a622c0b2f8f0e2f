"""Shared by the Train/Runs tests: a tiny network that trains on digits in seconds,
and waiting on the run store."""

from __future__ import annotations

import time

from alexnet import NetSpec

TINY = NetSpec.from_dict({
    "name": "tiny-digits", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10,
    "layers": [{"type": "conv", "out_channels": 8, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"},
               {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"},
               {"type": "linear", "out_features": 10}]})


def use_tiny(at) -> None:
    """Make TINY the current network of an AppTest session (explorer.state's keys)."""
    at.session_state["net_spec"] = TINY
    at.session_state["net_base"] = "lenet-5"
    at.session_state["net_version"] = 0


def wait_status(store, run_id: str, statuses, timeout: float = 90.0, poll: float = 0.3, tick=None) -> dict:
    """Wait until the run's status is one of ``statuses``; returns the run."""
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    deadline = time.time() + timeout
    while True:
        if tick is not None:
            tick()
        run = store.get_run(run_id)
        if run is not None and run["status"] in statuses:
            return run
        if time.time() > deadline:
            raise AssertionError(f"run {run_id} still {run and run['status']} after {timeout} s "
                                 f"(error: {run and run.get('error')})")
        time.sleep(poll)
