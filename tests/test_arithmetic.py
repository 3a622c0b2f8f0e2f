"""The arithmetic against torch itself, on hand-picked cases and on ≥ 500 random specs."""

import json
import random
import subprocess
import sys

import pytest
import torch
from torch import nn

from alexnet import NetSpec, analyze, build_model
from alexnet.arithmetic import dim_arith, receptive_box

N_RANDOM = 600


def test_import_arithmetic_does_not_import_torch():
    code = "import sys, alexnet.arithmetic, alexnet; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("w,k,s,p,d,ceil", [
    (224, 11, 4, 2, 1, False), (227, 11, 4, 0, 1, False), (6, 3, 2, 0, 1, True), (5, 3, 2, 1, 1, True),
    (7, 2, 3, 1, 1, True), (10, 3, 3, 1, 1, True), (13, 3, 2, 0, 2, False), (1, 3, 2, 0, 1, True),
])
def test_dim_matches_torch(w, k, s, p, d, ceil):
    dim = dim_arith(w, k, s, p, d, ceil)
    if ceil or d > 1 or p > k // 2:
        mod = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil) if p <= k // 2 else nn.Conv2d(1, 1, k, s, p, d)
    else:
        mod = nn.Conv2d(1, 1, k, s, p, d)
    try:
        out = mod(torch.zeros(1, 1, w, w)).shape[-1]
    except RuntimeError:
        out = 0
    assert max(dim.out, 0) == out


def test_pytorch_ceil_mode_drops_window_starting_in_padding():
    # (5 + 2 − 2)/2 = 2.5 → ceil 3, +1 = 4; but the 4th window would start at 6 ≥ 5 + 1 → 3
    d = dim_arith(5, 2, 2, 1, 1, True)
    assert d.out == 3 and d.ceil_dropped and d.caffe_out == 4
    assert nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5, 5)).shape[-1] == 3


def test_formula_texts():
    assert dim_arith(224, 11, 4, 2).formula() == "(224 − 11 + 2·2)/4 + 1 = 55.25 → 55"
    assert dim_arith(224, 11, 4, 0).formula() == "(224 − 11)/4 + 1 = 54.25 → 54"
    assert dim_arith(227, 11, 4, 0).formula() == "(227 − 11)/4 + 1 = 55"
    assert dim_arith(6, 3, 2, 0, 1, True).formula() == "⌈(6 − 3)/2⌉ + 1 = 3"
    assert dim_arith(224, 11, 4, "same").formula() == "same: ⌈224/4⌉ = 56 (pads 7: 3 before, 4 after)"


def test_inexact_padding_fix_makes_it_exact():
    spec = NetSpec.from_dict({"input": [3, 32, 32], "layers": [
        {"type": "conv", "out_channels": 8, "kernel": 3, "stride": 3, "padding": 0}]})
    info = analyze(spec).layers[0]
    assert info.status == "inexact"
    fix = next(f for f in info.fixes if f["kind"] == "field")
    assert fix["field"] == "padding"
    fixed = spec.with_layer(0, spec.layers[0].replace(padding=fix["value"]))
    assert analyze(fixed).layers[0].exact


def test_groups_not_dividing_input_channels_is_an_error_row():
    spec = NetSpec.from_dict({"input": [3, 32, 32], "layers": [
        {"type": "conv", "out_channels": 8, "kernel": 3, "groups": 2}]})
    s = analyze(spec)
    assert s.layers[0].status == "error"
    assert "groups = 2 must divide its 3 input channels" in s.errors[0]
    assert "layer 0 (conv)" in s.errors[0]


# ---- random specs vs torch --------------------------------------------------------------
def random_spec(rng: random.Random) -> dict:
    c = rng.choice([1, 2, 3, 4])
    h = rng.randint(8, 48)
    w = h if rng.random() < 0.7 else rng.randint(8, 48)
    layers = []
    ch = c
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["conv", "conv", "conv", "maxpool", "avgpool", "act", "bn", "lrn", "drop"])
        if kind == "conv":
            g = rng.choice([1, 1, 2]) if ch % 2 == 0 else 1
            out = rng.choice([2, 4, 6, 8])
            if out % g:
                g = 1
            k = rng.choice([1, 2, 3, 5, 7, [3, 5]])
            pad = rng.choice([0, 1, 2, "same", "valid", [1, 2]])
            layers.append({"type": "conv", "out_channels": out, "kernel": k, "stride": rng.choice([1, 1, 2, 3, 4]),
                           "padding": pad, "dilation": rng.choice([1, 1, 2]), "groups": g,
                           "bias": rng.random() < 0.8})
            ch = out
        elif kind in ("maxpool", "avgpool"):
            k = rng.choice([2, 3, 4, [2, 3]])
            kmin = min(k) if isinstance(k, list) else k
            pad = rng.choice([0, 0, kmin // 2, "same", "valid"])
            layers.append({"type": kind, "kernel": k, "stride": rng.choice([1, 2, 3, None]),
                           "padding": pad, "ceil_mode": rng.random() < 0.3 and not isinstance(pad, str)})
        elif kind == "act":
            layers.append({"type": rng.choice(["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"])})
        elif kind == "bn":
            layers.append({"type": "batchnorm"})
        elif kind == "lrn":
            layers.append({"type": "lrn", "size": rng.choice([3, 5]), "k": 2.0})
        else:
            layers.append({"type": "dropout", "p": 0.3})
    if rng.random() < 0.3:
        layers.append({"type": rng.choice(["adaptive_avgpool", "adaptive_maxpool"]), "output": rng.choice([1, 2, 3, 6])})
    if rng.random() < 0.7:
        layers.append({"type": "flatten"})
        for _ in range(rng.randint(0, 2)):
            layers.append({"type": "linear", "out_features": rng.choice([3, 10, 17])})
            if rng.random() < 0.5:
                layers.append({"type": rng.choice(["relu", "batchnorm", "dropout"])})
    return {"name": "random", "input": {"channels": c, "height": h, "width": w}, "layers": layers}


def torch_layer_fails(spec: NetSpec, index: int) -> bool:
    """Build the layers before ``index`` with our builder, then run the failing layer as
    plain torch would build it, and report whether torch refuses."""
    prefix = NetSpec.from_dict({**spec.to_dict(), "layers": spec.to_dict()["layers"][:index], "num_classes": None}) \
        if index else None
    x = torch.zeros(1, *spec.input.shape)
    if prefix is not None:
        with torch.no_grad():
            x = build_model(prefix).eval()(x)
    layer = spec.layers[index]
    from alexnet.spec import hw
    k = hw(layer.kernel)
    s = hw(layer.stride if layer.stride is not None else layer.kernel)
    if isinstance(layer.padding, str):
        pad = 0 if layer.padding == "valid" else None
    else:
        pad = hw(layer.padding)
    if pad is None:  # 'same' never collapses
        return False
    try:
        if layer.type == "conv":
            nn.Conv2d(x.shape[1], layer.out_channels, k, s, pad, hw(layer.dilation), layer.groups)(x)
        elif layer.type == "maxpool":
            nn.MaxPool2d(k, s, pad, ceil_mode=layer.ceil_mode)(x)
        else:
            nn.AvgPool2d(k, s, pad, ceil_mode=layer.ceil_mode)(x)
    except RuntimeError:
        return True
    return False


def test_random_specs_match_torch():
    rng = random.Random(1234)
    checked = collapsed = 0
    for _ in range(N_RANDOM):
        d = random_spec(rng)
        spec = NetSpec.from_dict(d)
        s = analyze(spec)
        if s.errors:
            bad = next(x for x in s.layers if x.status == "error")
            if bad.type in ("conv", "maxpool", "avgpool") and "collapses" in (bad.message or ""):
                assert torch_layer_fails(spec, bad.index), (d, bad.message)
                collapsed += 1
            continue
        model = build_model(spec).eval()
        x = torch.randn(2, *spec.input.shape)
        with torch.no_grad():
            for info, (name, mod) in zip(s.layers, model.named_children()):
                assert name == info.name
                x = mod(x)
                assert tuple(x.shape[1:]) == info.out_shape, (d, info.index, info.formula)
                assert sum(p.numel() for p in mod.parameters()) == info.params, (d, info.index)
        checked += 1
    assert checked >= 500, f"only {checked} valid random specs"
    assert collapsed > 10


def test_receptive_field_matches_gradient():
    """The box from the recurrence equals the pixels with non-zero gradient (average pooling,
    so that every pixel of a window gets gradient; max-pooling passes it to one)."""
    spec = NetSpec.from_dict({"input": [1, 40, 40], "layers": [
        {"type": "conv", "out_channels": 2, "kernel": 5, "stride": 2, "padding": 2},
        {"type": "avgpool", "kernel": 3, "stride": 2, "padding": 1},
        {"type": "conv", "out_channels": 2, "kernel": 3, "stride": 1, "padding": 1, "dilation": 2}]})
    s = analyze(spec)
    torch.manual_seed(0)
    model = build_model(spec).double()
    for mod in model:
        if isinstance(mod, nn.Conv2d):
            nn.init.uniform_(mod.weight, 0.5, 1.0)  # positive weights: no accidental zero gradients
    info = s.layers[-1]
    oh, ow = info.out_shape[1:]
    for r, c in [(0, 0), (oh // 2, ow // 2), (oh - 1, ow - 1), (1, ow - 2)]:
        x = torch.rand(1, 1, 40, 40, dtype=torch.float64, requires_grad=True)
        model(x)[0, 0, r, c].backward()
        nz = x.grad[0, 0].abs() > 0
        rows = nz.any(1).nonzero().flatten()
        cols = nz.any(0).nonzero().flatten()
        got = (rows.min().item(), cols.min().item(), rows.max().item(), cols.max().item())
        assert receptive_box(info, r, c, 40, 40) == got


def test_receptive_box_matches_gradient_on_random_stacks():
    """Random conv/avg-pool stacks with padding, strides and dilation: for several units,
    the box equals the bounding box of the pixels with non-zero gradient."""
    rng = random.Random(7)
    checked = 0
    while checked < 40:
        layers = []
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.65:
                k = rng.choice([1, 2, 3, 5])
                layers.append({"type": "conv", "out_channels": 2, "kernel": k, "stride": rng.choice([1, 2, 3]),
                               "padding": rng.choice([0, 1, 2]), "dilation": rng.choice([1, 1, 2])})
            else:
                k = rng.choice([2, 3])
                layers.append({"type": "avgpool", "kernel": k, "stride": rng.choice([1, 2]),
                               "padding": rng.choice([0, k // 2])})
        size = rng.randint(12, 30)
        spec = NetSpec.from_dict({"input": [1, size, size], "layers": layers})
        s = analyze(spec)
        if s.errors:
            continue
        model = build_model(spec).double()
        for mod in model:
            if isinstance(mod, nn.Conv2d):
                nn.init.uniform_(mod.weight, 0.5, 1.0)
        info = s.layers[-1]
        oh, ow = info.out_shape[1:]
        for r, c in {(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 3), (rng.randrange(oh), rng.randrange(ow))}:
            x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
            model(x)[0, 0, r, c].backward()
            nz = x.grad[0, 0].abs() > 0
            if not nz.any():  # a unit that sees only padding
                assert receptive_box(info, r, c, size, size) == (0, 0, -1, -1)
                continue
            rows = nz.any(1).nonzero().flatten()
            cols = nz.any(0).nonzero().flatten()
            got = (rows.min().item(), cols.min().item(), rows.max().item(), cols.max().item())
            assert receptive_box(info, r, c, size, size) == got, json.dumps([layers, size, r, c])
        checked += 1
