"""alexnet.explain: the explanation of one unit recomputes the value the model computed,
for every registered layer type, over presets and random networks; its parts (window,
padding, kernel, winner, divisor, top inputs) are what a user would check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_layer_registry import RANDOM

from alexnet import NetSpec, analyze, get_spec
from alexnet import activations as A
from alexnet import explain as X
from alexnet import layers as L

PRESETS = ["paper-2012", "alexnet-cifar-32", "lenet-5", "d2l-fashion-mnist-224", "torchvision"]


def _scramble(model: torch.nn.Module, seed: int) -> None:
    """Every parameter and buffer random (BatchNorm running stats too), so that no default
    1/0 hides a mistake in the formula."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.dtype.is_floating_point:
                t.copy_(torch.rand(t.shape, generator=g) + 0.2 if "var" in name
                        else torch.randn(t.shape, generator=g) * t.abs().mean().clamp(min=0.1))


def _units(out: torch.Tensor, rng: np.random.Generator, n: int = 3) -> list[tuple]:
    """The first and last unit (corners: padding), the largest, and a few random ones."""
    idx = [0, out.numel() - 1, int(out.argmax())] + list(rng.integers(0, out.numel(), n))
    return sorted({tuple(int(v) for v in np.unravel_index(i, tuple(out.shape))) for i in idx})


def _check_net(spec: NetSpec, seed: int = 0, n: int = 3) -> set[str]:
    model = A.random_model(spec, seed)
    _scramble(model, seed)
    x = torch.randn(1, *spec.input.shape, generator=torch.Generator().manual_seed(seed))
    acts = A.capture(model, x.clone())  # a leading dropout + in-place ReLU would overwrite x
    rng = np.random.default_rng(seed)
    seen = set()
    for layer, out in acts.outputs.items():
        scale = float(out.abs().max()) + 1e-3
        for unit in _units(out, rng, n):
            e = X.explain_unit(model, spec, x, layer, unit, acts)
            want = float(out[unit])
            assert e.value == pytest.approx(want, rel=1e-4, abs=1e-5 * scale), (spec.name, layer, unit, e.formula)
            assert e.model_value == want and e.agrees
            if e.after is not None:
                assert e.after.value == pytest.approx(float(acts.outputs[e.after.layer][unit]), rel=1e-4,
                                                      abs=1e-5 * scale)
            seen.add(e.type)
    return seen


@pytest.mark.parametrize("preset", PRESETS)
def test_explanation_equals_the_model_on_presets(preset):
    spec = get_spec(preset)
    if spec.input.height > 100:  # the big presets at a smaller input: same layers, faster
        spec = spec.with_input(height=127 if preset != "paper-2012" else 131,
                               width=127 if preset != "paper-2012" else 131)
    assert not analyze(spec).errors
    _check_net(spec, n=2)


def test_explanation_equals_the_model_on_random_nets_covering_every_type():
    seen = set()
    for i, spec in enumerate(RANDOM[:60]):
        seen |= _check_net(spec, seed=i, n=2)
    assert seen == set(L.REGISTRY), set(L.REGISTRY) - seen


def test_every_registered_type_names_an_explainer():
    assert {lt.explain for lt in L.REGISTRY.values()} <= set(X.EXPLAINERS)


# ---- the test above has teeth: an explanation that is off by a little is caught ------------
def _conv_net():
    spec = NetSpec.from_dict({"input": [3, 9, 9], "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"}]})
    model = A.random_model(spec, 3)
    x = torch.randn(1, 3, 9, 9, generator=torch.Generator().manual_seed(3))
    return spec, model, x, A.capture(model, x)


@pytest.mark.parametrize("mistake", ["stride", "padding", "kernel flipped"])
def test_an_explanation_that_is_off_does_not_agree(monkeypatch, mistake):
    spec, model, x, acts = _conv_net()
    if mistake == "stride":  # windows one stride too far
        taps = X.taps
        monkeypatch.setattr(X, "taps", lambda d, u: taps(d, u + 1))
    elif mistake == "padding":  # padding forgotten: windows start at 0
        taps = X.taps
        monkeypatch.setattr(X, "taps", lambda d, u: [p + d.pad_before for p in taps(d, u)])
    else:
        monkeypatch.setattr(X.Window, "products", property(lambda w: w.patch * w.kernel[:, ::-1, ::-1]))
    wrong = [u for u in [(c, r, k) for c in range(4) for r in range(2) for k in range(2)]
             if not X.explain_unit(model, spec, x, "conv1", u, acts).agrees]
    assert len(wrong) >= 8, mistake


# ---- the parts a user reads ----------------------------------------------------------------
def test_conv_window_shows_padding_as_zeros_and_the_kernel_and_per_channel_sums():
    spec, model, x, acts = _conv_net()
    e = X.explain_unit(model, spec, x, "conv1", (1, 0, 0), acts)
    w = e.window
    assert w.rows == [-1, 0, 1] and w.cols == [-1, 0, 1]
    assert (w.where[0] == X.PAD).all() and (w.where[:, 0] == X.PAD).all() and w.where[1, 1] == X.REAL
    assert (w.patch[:, 0, :] == 0).all() and (w.patch[:, :, 0] == 0).all()
    assert np.allclose(w.patch[:, 1:, 1:], x[0, :, :2, :2].numpy())
    assert np.allclose(w.kernel, model.conv1.weight[1].detach().numpy())
    sums = [(x[0, c, :2, :2] * model.conv1.weight[1, c, 1:, 1:]).sum().item() for c in range(3)]
    assert np.allclose(w.per_channel, sums, atol=1e-6)
    assert e.after is not None and e.after.layer == "relu1" and e.after.value == max(e.value, 0.0)
    assert "+ bias" in e.formula and f"{e.value:.5g}" in e.formula


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes_show_the_copied_pixels(mode):
    spec = NetSpec.from_dict({"input": [1, 5, 5], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": 3, "padding": 1, "padding_mode": mode}]})
    model = A.random_model(spec, 0)
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    e = X.explain_unit(model, spec, x, "conv1", (0, 0, 0))
    want = F.pad(x, (1, 1, 1, 1), mode=mode)[0, 0, :3, :3]
    assert np.array_equal(e.window.patch[0], want.numpy()) and e.agrees
    assert mode in e.window.pad_note


def test_grouped_dilated_conv_reads_its_group_only():
    spec = NetSpec.from_dict({"input": [4, 9, 9], "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 3, "groups": 2, "dilation": 2, "padding": 2}]})
    model = A.random_model(spec, 0)
    x = torch.randn(1, 4, 9, 9)
    e = X.explain_unit(model, spec, x, "conv1", (3, 4, 4))
    assert e.window.channels == [2, 3] and e.window.rows == [2, 4, 6] and e.agrees
    assert "group 2 of 2" in e.steps[0]


def test_max_pool_names_the_winner_and_padding_never_wins():
    spec = NetSpec.from_dict({"input": [1, 4, 4], "layers": [
        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": 1}]})
    x = -torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # all negative: padding (−∞, not 0) must not win
    e = X.explain_unit(A.random_model(spec), spec, x, "pool1", (0, 1, 1))
    assert e.value == -1 * float(x.abs()[0, 0, 1:4, 1:4].min()) == -6.0
    assert e.winner == (0, 0) and e.window.rows[e.winner[0]] == 1 and e.window.cols[e.winner[1]] == 1


@pytest.mark.parametrize("padding, divisor", [(1, 9), ("same", 4)])
def test_average_pool_divisor_counts_padding_as_torch_does(padding, divisor):
    spec = NetSpec.from_dict({"input": [1, 4, 4], "layers": [
        {"type": "avgpool", "kernel": 3, "stride": 2, "padding": padding}]})
    x = torch.ones(1, 1, 4, 4)
    unit = (0, 0, 0) if padding == 1 else (0, 1, 1)
    e = X.explain_unit(A.random_model(spec), spec, x, "pool1", unit)
    assert f"/ {divisor} " in e.formula and e.agrees


def test_linear_lists_top_inputs_through_the_flatten():
    spec = NetSpec.from_dict({"input": [2, 3, 3], "layers": [
        {"type": "flatten"}, {"type": "linear", "out_features": 2}]})
    model = A.random_model(spec, 0)
    x = torch.randn(1, 2, 3, 3)
    e = X.explain_unit(model, spec, x, "fc1", (1,))
    prods = (model.fc1.weight[1] * x.flatten()).detach().numpy()
    top = int(np.argmax(np.abs(prods)))
    assert e.terms[0].index == top and e.terms[0].product == pytest.approx(prods[top], rel=1e-5)
    c, r, k = np.unravel_index(top, (2, 3, 3))
    assert e.terms[0].label == f"input[{c}, {r}, {k}]"  # through the flatten: the image's channel, row, column
    assert e.rest == pytest.approx(prods.sum() - sum(t.product for t in e.terms), abs=1e-5) and e.agrees


def test_lrn_and_batchnorm_formulas_carry_the_numbers():
    spec = NetSpec.from_dict({"input": [6, 3, 3], "layers": [
        {"type": "lrn", "size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}, {"type": "batchnorm"}]})
    model = A.random_model(spec, 0)
    _scramble(model, 1)
    x = torch.randn(1, 6, 3, 3)
    e = X.explain_unit(model, spec, x, "lrn1", (0, 1, 1))
    s = float((x[0, :2, 1, 1] ** 2).sum())  # channel 0: the window 0–1 (cut at the edge)
    assert f"{s:.5g}" in e.formula and "(2 + 0.5/3·" in e.formula and e.agrees
    e = X.explain_unit(model, spec, x, "bn1", (4, 2, 0))
    assert f"{float(model.bn1.running_mean[4]):.5g}" in e.formula and e.agrees


def test_a_unit_outside_the_layer_is_a_clear_error():
    spec, model, x, acts = _conv_net()
    with pytest.raises(ValueError, match=r"conv1: unit \[4, 0, 0\] is outside its output 4×5×5"):
        X.explain_unit(model, spec, x, "conv1", (4, 0, 0), acts)
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        X.explain_unit(model, spec, x, "conv9", (0, 0, 0), acts)


def test_slide_partial_maps_sum_to_the_conv_output():
    spec = NetSpec.from_dict({"input": [3, 8, 8], "layers": [
        {"type": "conv", "out_channels": 2, "kernel": 3, "stride": 2, "padding": "same"}]})
    model = A.random_model(spec, 0)
    x = torch.randn(1, 3, 8, 8)
    acts = A.capture(model, x)
    total = sum(X.slide(model, spec, x, acts, "conv1", 1, c).partial for c in range(3))
    assert np.allclose(total + float(model.conv1.bias.detach()[1]), acts.outputs["conv1"][1].numpy(), atol=1e-5)
    s = X.slide(model, spec, x, acts, "conv1", 1, 0)
    assert s.padded.shape == (9, 9) and s.offset == (0, 0) and math.isclose(s.padded[-1, -1], 0.0)
