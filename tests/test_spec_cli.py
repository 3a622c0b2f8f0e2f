"""The JSON format, validation messages, and the CLI (exit codes, --json == summarize)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet import NetSpec, SpecError, get_spec, summarize

ROOT = Path(__file__).resolve().parent.parent

ISSUE_EXAMPLE = {
    "name": "my-net", "input": {"channels": 3, "height": 227, "width": 227}, "num_classes": 10,
    "layers": [
        {"type": "conv", "out_channels": 96, "kernel": 11, "stride": 4, "padding": 0, "dilation": 1, "groups": 1,
         "bias": True},
        {"type": "relu"},
        {"type": "lrn", "size": 5, "alpha": 0.0001, "beta": 0.75, "k": 2.0},
        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": 0, "ceil_mode": False},
        {"type": "avgpool", "kernel": 2, "stride": 2},
        {"type": "adaptive_avgpool", "output": 6},
        {"type": "batchnorm"},
        {"type": "dropout", "p": 0.5},
        {"type": "flatten"},
        {"type": "linear", "out_features": 10},
    ]}


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "alexnet", *args], capture_output=True, text=True, cwd=cwd)


def test_issue_example_round_trips():
    spec = NetSpec.from_dict(ISSUE_EXAMPLE)
    again = NetSpec.from_json(spec.to_json())
    assert again == spec
    d = spec.to_dict()
    assert d["layers"][0]["kernel"] == 11 and d["layers"][3]["ceil_mode"] is False
    s = summarize(spec)
    assert s["layers"][5]["out_shape"] == [96, 6, 6]
    assert s["output_shape"] == [10]


def test_pairs_and_string_padding():
    spec = NetSpec.from_dict({"input": {"channels": 1, "height": 30, "width": 40}, "layers": [
        {"type": "conv", "out_channels": 4, "kernel": [3, 5], "stride": [1, 2], "padding": "same"},
        {"type": "maxpool", "kernel": 2, "stride": 2, "padding": "valid"}]})
    s = summarize(spec)
    assert s["layers"][0]["out_shape"] == [4, 30, 20]
    assert s["layers"][1]["out_shape"] == [4, 15, 10]
    assert NetSpec.from_json(spec.to_json()) == spec


def test_every_preset_round_trips():
    from alexnet import list_presets

    for name in list_presets():
        spec = get_spec(name)
        assert NetSpec.from_json(spec.to_json()) == spec


def _with_layer(i, **changes):
    d = json.loads(json.dumps(ISSUE_EXAMPLE))
    d["layers"][i].update(changes)
    return d


BAD = {
    "stride 0": (_with_layer(0, stride=0), "layer 0 (conv): field 'stride'"),
    "kernel 0": (_with_layer(3, kernel=0), "layer 3 (maxpool): field 'kernel'"),
    "negative padding": (_with_layer(0, padding=-1), "layer 0 (conv): field 'padding'"),
    "p = 1": (_with_layer(7, p=1), "layer 7 (dropout): field 'p'"),
    "unknown type": (_with_layer(1, type="swish"), "layer 1 (swish): field 'type'"),
    "unknown field": (_with_layer(0, kernal=3), "layer 0 (conv): field 'kernal'"),
    "bool as int": (_with_layer(0, out_channels=True), "layer 0 (conv): field 'out_channels'"),
    "linear after conv": ({"input": [3, 32, 32], "layers": [
        {"type": "conv", "out_channels": 8, "kernel": 3}, {"type": "linear", "out_features": 10}]},
        "layer 1 (linear): a linear layer cannot follow"),
    "num_classes mismatch": ({**ISSUE_EXAMPLE, "num_classes": 7}, "field 'out_features' = 10 must equal num_classes"),
    "groups vs out": (_with_layer(0, groups=5), "layer 0 (conv): field 'groups' = 5 must divide out_channels"),
    "pool padding > k/2": (_with_layer(3, padding=2), "layer 3 (maxpool): field 'padding'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_configs_raise_named_spec_error(case):
    d, msg = BAD[case]
    with pytest.raises(SpecError) as e:
        NetSpec.from_dict(d)
    assert msg in str(e.value)
    assert isinstance(e.value, ValueError)


SHAPE_ERRORS = {
    "groups not dividing input channels": (
        {"input": [3, 32, 32], "layers": [{"type": "conv", "out_channels": 8, "kernel": 3, "groups": 2}]},
        "layer 0 (conv) 'conv1': groups = 2 must divide its 3 input channels"),
    "kernel larger than the input": (
        {"input": [3, 8, 8], "layers": [{"type": "conv", "out_channels": 8, "kernel": 11}]},
        "layer 0 (conv) 'conv1' collapses: its 11×11 window is larger than its 8×8 input"),
    "collapse deep inside": (get_spec("paddle-cifar10-32").to_dict(), "layer 14 (maxpool) 'pool3' collapses"),
}


@pytest.mark.parametrize("case", SHAPE_ERRORS)
def test_shape_errors_are_rows_not_exceptions(case):
    d, msg = SHAPE_ERRORS[case]
    s = summarize(d)
    assert s["errors"] and msg in s["errors"][0]
    bad = [x for x in s["layers"] if x["status"] == "error"]
    assert len(bad) == 1 and msg in bad[0]["message"]


@pytest.mark.parametrize("case", list(BAD) + list(SHAPE_ERRORS))
def test_cli_exits_2_with_named_message(case, tmp_path):
    d, msg = {**BAD, **SHAPE_ERRORS}[case]
    f = tmp_path / "net.json"
    f.write_text(json.dumps(d))
    r = run_cli("summary", "--config", str(f))
    assert r.returncode == 2
    assert msg in (r.stderr + r.stdout)
    assert "Traceback" not in r.stderr


def test_cli_garbage_and_missing_file(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{not json")
    r = run_cli("summary", "--config", str(f))
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("summary", "--config", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    r = run_cli("summary", "--preset", "nope")
    assert r.returncode == 2 and "unknown preset 'nope'" in r.stderr


def test_cli_collapse_prints_table_up_to_the_error():
    r = run_cli("summary", "--preset", "paddle-cifar10-32")
    assert r.returncode == 2
    assert "pool2 (maxpool)" in r.stdout and "256×1×1" in r.stdout
    assert "error: layer 14 (maxpool) 'pool3' collapses" in r.stdout


@pytest.mark.parametrize("preset", ["paper-2012", "d2l-fashion-mnist-224", "keras-cifar10-32"])
def test_cli_json_equals_summarize(preset):
    r = run_cli("summary", "--preset", preset, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == json.loads(json.dumps(summarize(get_spec(preset))))
    for key in ("name", "input", "layers", "total_params", "total_macs", "param_bytes", "activation_bytes",
                "warnings", "errors"):
        assert key in out
    for key in ("index", "name", "type", "out_shape", "params", "macs", "formula", "exact", "receptive_field",
                "jump"):
        assert key in out["layers"][0]


def test_cli_input_override_and_config_file(tmp_path):
    r = run_cli("summary", "--preset", "d2l-fashion-mnist-224", "--input", "1x227x227", "--json")
    out = json.loads(r.stdout)
    assert out["input"] == [1, 227, 227]
    assert out["layers"][0]["out_shape"] == [96, 55, 55] and out["layers"][0]["exact"] is True
    f = tmp_path / "n.json"
    f.write_text(json.dumps(ISSUE_EXAMPLE))
    r = run_cli("summary", "--config", str(f))
    assert r.returncode == 0 and "Total params:" in r.stdout and "(227 − 11)/4 + 1 = 55" in r.stdout


def test_cli_presets_lists_all():
    r = run_cli("presets")
    assert r.returncode == 0
    for name in ("paper-2012", "paddle-cifar10-32", "lenet-5"):
        assert name in r.stdout
