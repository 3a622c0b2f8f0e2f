"""alexnet.verify and `summary --verify`: torchinfo on the built network agrees with the
table on every preset that fits in memory; a table value that is off is reported with
both values; a network over the memory budget is refused without being built."""

from __future__ import annotations

import json

import pytest
import torchinfo
from torch import nn

from alexnet import NetSpec, analyze, get_spec, list_presets, summarize
from alexnet import layers as L
from alexnet import verify as V
from alexnet.cli import main

FITS = [n for n in list_presets() if V.refusal(summarize(get_spec(n))) is None]
HUGE = {"input": [3, 224, 224], "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 8192}]}


def test_most_presets_fit():
    assert len(FITS) >= len(list_presets()) - 1  # paddle-cifar10-32 collapses


@pytest.mark.parametrize("preset", FITS)
def test_pytorch_agrees_with_the_table_on_every_preset_that_fits(preset):
    check = V.verify(get_spec(preset))
    assert check.ok, V.format_check(check)
    table = summarize(get_spec(preset))
    assert [r.name for r in check.rows] == [r["name"] for r in table["layers"]]
    assert check.torch_totals == {"params": table["total_params"], "macs": table["total_macs"]}


def test_the_torch_side_is_torchinfo_on_plain_torch():
    """The torch numbers are torchinfo's own for the same layers written in plain torch."""
    plain = nn.Sequential()
    plain.add_module("conv1", nn.Conv2d(1, 6, 5, padding=2))
    plain.add_module("relu1", nn.ReLU())
    plain.add_module("pool1", nn.MaxPool2d(2))
    plain.add_module("flatten1", nn.Flatten())
    plain.add_module("fc1", nn.Linear(6 * 14 * 14, 10))
    stats = torchinfo.summary(plain, input_size=(1, 1, 28, 28), verbose=0)
    want = {x.var_name: (list(x.output_size[1:]), x.num_params, x.macs) for x in stats.summary_list if x.depth == 1}
    spec = NetSpec.from_dict({"input": [1, 28, 28], "layers": [
        {"type": "conv", "out_channels": 6, "kernel": 5, "padding": 2}, {"type": "relu"},
        {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]})
    got = V.torch_rows(spec)["rows"]
    assert {k: (v["out_shape"], v["params"], v["macs"]) for k, v in got.items()} == want


def test_a_wrong_table_value_is_reported_with_both_values(monkeypatch):
    count = L.Conv.count

    def off_by_one(self, layer, info, a, b):
        count(self, layer, info, a, b)
        info.params += 1

    monkeypatch.setattr(L.Conv, "count", off_by_one)
    check = V.verify(get_spec("lenet-5"))
    assert not check.ok and [r.name for r in check.disagreeing] == ["conv1", "conv2"]
    assert check.disagreeing[0].differs == ["params"]
    text = V.format_check(check)
    assert "DIFF  conv1          parameters: table 157, torch 156" in text
    assert "10 of 12 layers agree; 2 differ." in text


def test_a_network_over_the_memory_budget_is_refused_without_building(monkeypatch):
    import alexnet.build

    monkeypatch.setattr(alexnet.build, "build_model", lambda *a, **k: pytest.fail("built"))
    check = V.verify(NetSpec.from_dict(HUGE))
    assert not check.ok and not check.rows
    assert check.refused.startswith("too large to build on this machine: it needs 4.59 GB of weights")


# ---- the command line ----------------------------------------------------------------------------
def test_cli_verify_agrees(capsys):
    assert main(["summary", "--preset", "lenet-5", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out and "12 of 12 layers agree" in out


def test_cli_verify_json_carries_the_check(capsys):
    assert main(["summary", "--preset", "alexnet-cifar-32", "--verify", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verify"]["ok"] and len(d["verify"]["rows"]) == len(d["layers"])
    assert d["verify"]["rows"][0]["torch"] == {"out_shape": d["layers"][0]["out_shape"],
                                               "params": d["layers"][0]["params"], "macs": d["layers"][0]["macs"]}


def test_cli_verify_exit_1_when_a_row_differs(monkeypatch, capsys):
    monkeypatch.setattr(L.Linear, "rule", _macs_doubled(L.Linear.rule))
    assert main(["summary", "--preset", "lenet-5", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "DIFF  fc1            multiply-adds: table 96,240, torch 48,120" in out


def _macs_doubled(rule):
    def wrapped(self, layer, walk, info):
        rule(self, layer, walk, info)
        info.macs *= 2
    return wrapped


def test_cli_verify_refuses_a_huge_network(tmp_path, capsys):
    cfg = tmp_path / "huge.json"
    cfg.write_text(json.dumps(HUGE))
    assert main(["summary", "--config", str(cfg), "--verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: PyTorch check not run: too large to build on this machine")
    assert not analyze(NetSpec.from_dict(HUGE)).errors  # the table itself is fine
