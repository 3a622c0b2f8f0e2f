"""Issue 16 item 10: the time estimate learns from past runs on this machine, so it does not
swing with a micro-benchmark taken at a busy moment, and it says how far off it was before."""

from __future__ import annotations

import pytest

from alexnet import estimate as E
from alexnet import get_spec
from alexnet.arithmetic import analyze
from alexnet.runs import RunStore

LENET = get_spec("lenet-5")


def _est(past, batch=50, **kw):
    return E.estimate(LENET, dataset="digits", batch_size=batch, epochs=2, device="cpu", past=past, **kw)


def test_past_runs_of_the_same_network_fix_the_estimate_whatever_the_cpu_benchmark_says(monkeypatch):
    past = [E.Past(E.spec_key(LENET), "cpu", 1, ips, 10.0, 20.0) for ips in (400.0, 500.0, 900.0)]
    got = []
    for rate in (1e8, 1e11):  # a benchmark taken at a busy moment, and at a quiet one
        monkeypatch.setattr(E, "_CPU_RATE", [rate])
        got.append(_est(past))
    assert got[0]["step_seconds"] == got[1]["step_seconds"] == pytest.approx(50 / 500.0)  # median images/s
    assert "3 past run(s) of this network" in got[0]["basis"]
    # the epoch: steps of the training set at that speed (+ evaluation and per-epoch overhead)
    assert got[0]["seconds_per_epoch"] >= got[0]["steps_per_epoch"] * 0.1


def test_other_networks_give_this_machines_training_rate(monkeypatch):
    monkeypatch.setattr(E, "_CPU_RATE", [1e6])  # absurdly slow: must not be used
    other = get_spec("alexnet-cifar-32")
    macs = int(analyze(other).total_macs)
    past = [E.Past(E.spec_key(other), "cpu", macs, 100.0)]
    est = _est(past)
    rate = 6 * macs * 100.0
    lenet_macs = int(analyze(LENET).total_macs)
    assert est["step_seconds"] == pytest.approx(6 * lenet_macs * 50 / rate + E.STEP_OVERHEAD_S["cpu"])
    assert "other networks" in est["basis"]
    cuda_only = [E.Past(E.spec_key(other), "cuda", macs, 100.0)]  # another kind of device says nothing
    assert "past run" not in _est(cuda_only)["basis"]


def test_the_name_does_not_matter_but_the_layers_do():
    renamed = LENET.replace(name="my-lenet")
    assert renamed.name != LENET.name
    assert E.spec_key(renamed) == E.spec_key(LENET)
    wider = LENET.with_layer(0, LENET.layers[0].replace(out_channels=LENET.layers[0].out_channels + 1))
    assert E.spec_key(wider) != E.spec_key(LENET)


def test_how_far_off_past_estimates_were():
    key = E.spec_key(LENET)
    past = [E.Past(key, "cpu", 1, 500.0, 10.0, 13.0), E.Past(key, "cpu", 1, 500.0, 20.0, 15.0),
            E.Past(key, "cpu", 1, 500.0, 20.0, None)]  # no estimate recorded: not counted
    errors = E.past_errors(LENET, "cpu", past)
    assert errors == pytest.approx([0.3, -0.25])
    assert E.error_text(errors) == "past estimates of this network were off by -25 % to +30 % (2 run(s))"
    assert E.error_text([]) == ""
    assert _est(past)["past_errors"] == pytest.approx([0.3, -0.25])


def test_past_runs_are_read_from_the_run_store(runs_dir):
    from test_runs_page import fake_run

    store = RunStore(runs_dir)
    rid = fake_run(store, "done", spec=LENET)  # 1000 images/s in every step, 1.5 s epochs
    fake_run(store, "still running", spec=LENET, status="running")
    past = E.past_runs(store, lambda r: {"estimate": {"seconds_per_epoch": 3.0}} if r == rid else {})
    assert len(past) == 1
    p = past[0]
    assert (p.spec_json, p.device, p.images_per_sec, p.seconds_per_epoch, p.estimated_seconds_per_epoch) == (
        E.spec_key(LENET), "cpu", 1000.0, 1.5, 3.0)
    assert p.macs == int(analyze(LENET).total_macs)
