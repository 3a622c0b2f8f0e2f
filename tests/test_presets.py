"""Every preset's numbers against the design table (../shared/design.md), torch and torchinfo."""

import pytest
import torch

from alexnet import analyze, build_model, get_preset, get_spec, list_presets, summarize
from alexnet.presets import register

DESIGN_PARAMS = {
    "paper-2012": 60_965_224,
    "cifar10-227": 58_322_314,
    "half-width-224": 16_630_440,
    "d2l-fashion-mnist-224": 46_764_746,
    "keras-cifar10-32": 21_622_154,
    "torchvision": 61_100_840,
    "lenet-5": 61_706,
}


def spatial(name, types=("conv", "maxpool", "avgpool")):
    s = analyze(get_spec(name))
    return [(x.type, x.out_shape) for x in s.layers if x.type in types]


def test_all_design_presets_registered():
    for name in ["paper-2012", "cifar10-227", "half-width-224", "d2l-fashion-mnist-224", "tf-benchmark-224",
                 "paddle-cifar10-32", "keras-cifar10-32", "torchvision", "lenet-5", "alexnet-cifar-32"]:
        p = get_preset(name)
        assert p.source and len(p.note) > 80


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register("paper-2012", "x", "y", get_spec("lenet-5").to_dict())


@pytest.mark.parametrize("name,total", DESIGN_PARAMS.items())
def test_total_params_match_design(name, total):
    assert summarize(get_spec(name))["total_params"] == total


def test_paper_2012_shapes():
    s = analyze(get_spec("paper-2012"))
    by = {x.name: x for x in s.layers}
    assert by["conv1"].out_shape == (96, 55, 55)
    assert [by[f"pool{i}"].out_shape[1] for i in (1, 2, 3)] == [27, 13, 6]
    assert by["conv2"].params == 307_456  # groups=2 halves conv2's weights
    assert all(x.exact in (None, True) for x in s.layers)
    assert by["conv1"].formula == "(227 − 11)/4 + 1 = 55"


def test_cifar10_227_inexact_conv1():
    s = analyze(get_spec("cifar10-227"))
    c1 = s.layers[0]
    assert c1.out_shape == (96, 55, 55)
    assert c1.exact is False and c1.status == "inexact"
    assert c1.formula == "(227 − 11 + 2·1)/4 + 1 = 55.5 → 55"


def test_half_width_224():
    s = analyze(get_spec("half-width-224"))
    assert s.layers[0].out_shape == (48, 55, 55)
    assert s.layers[0].formula == "(224 − 11 + 2·2)/4 + 1 = 55.25 → 55"


def test_d2l_shapes():
    s = analyze(get_spec("d2l-fashion-mnist-224"))
    assert s.layers[0].out_shape == (96, 54, 54)
    assert s.layers[0].formula == "(224 − 11)/4 + 1 = 54.25 → 54"
    pools = [x.out_shape[1] for x in s.layers if x.type == "maxpool"]
    assert pools == [26, 12, 5]
    flat = next(x for x in s.layers if x.type == "flatten")
    assert flat.out_shape == (6400,)
    assert "never covered" in s.layers[0].message
    # the suggested input makes every layer exact
    fix = next(f for f in s.layers[0].fixes if f["kind"] == "input")
    fixed = analyze(get_spec("d2l-fashion-mnist-224").with_input(height=fix["height"], width=fix["width"]))
    assert all(x.exact in (None, True) for x in fixed.layers)


def test_tf_benchmark():
    s = analyze(get_spec("tf-benchmark-224"))
    assert s.layers[0].out_shape == (64, 56, 56)
    assert s.layers[0].dims[0].pad_before == 3 and s.layers[0].dims[0].pad_after == 4
    assert s.output_shape == (256, 6, 6)
    assert s.total_params == 2_469_696


def test_paddle_collapses_at_last_pool():
    s = analyze(get_spec("paddle-cifar10-32"))
    assert s.layers[0].out_shape == (96, 6, 6)
    pools = [x for x in s.layers if x.type == "maxpool"]
    assert [p.out_shape[1] if p.out_shape else None for p in pools] == [3, 1, None]
    assert pools[-1].status == "error"
    assert "pool3" in s.errors[0] and "collapses" in s.errors[0]
    assert all(x.status == "not_computed" for x in s.layers[pools[-1].index + 1:])
    # torch agrees that this pool cannot run on a 1×1 map
    with pytest.raises(RuntimeError):
        torch.nn.MaxPool2d(3, 2, ceil_mode=True)(torch.zeros(1, 256, 1, 1))
    # the suggested input really works
    fix = next(f for f in pools[-1].fixes if f["kind"] == "input")
    assert analyze(get_spec("paddle-cifar10-32").with_input(height=fix["height"], width=fix["width"])).ok


def test_keras_same_sizes_and_params():
    s = analyze(get_spec("keras-cifar10-32"))
    sizes = [x.out_shape[1] for x in s.layers if x.type in ("conv", "maxpool")]
    assert sizes == [8, 4, 4, 2, 2, 2, 2, 1]
    params = [x.params for x in s.layers if x.params]
    assert params == [34_944, 614_656, 885_120, 1_327_488, 884_992, 1_052_672, 16_781_312, 40_970]


def test_lenet():
    s = analyze(get_spec("lenet-5"))
    assert [x.out_shape for x in s.layers if x.type == "avgpool"] == [(6, 14, 14), (16, 5, 5)]


@pytest.mark.parametrize("name", [n for n in list_presets() if n != "paddle-cifar10-32"])
def test_preset_matches_torch_and_torchinfo(name):
    """Real module: per-layer output shapes and parameter counts; torchinfo: params and MACs."""
    import torchinfo

    spec = get_spec(name)
    s = analyze(spec)
    model = build_model(spec).eval()
    x = torch.zeros(1, *spec.input.shape)
    with torch.no_grad():
        for info, (mname, mod) in zip(s.layers, model.named_children()):
            assert mname == info.name
            x = mod(x)
            assert tuple(x.shape[1:]) == info.out_shape, info.name
            assert sum(p.numel() for p in mod.parameters()) == info.params, info.name
    stats = torchinfo.summary(model, input_size=(1, *spec.input.shape), verbose=0, device="cpu")
    assert stats.total_params == s.total_params
    assert stats.total_mult_adds == s.total_macs


def test_torchvision_preset_equals_torchvision_alexnet():
    import torchvision

    tv = torchvision.models.alexnet(weights=None)
    assert sum(p.numel() for p in tv.parameters()) == summarize(get_spec("torchvision"))["total_params"]
    ours = [tuple(p.shape) for p in build_model(get_spec("torchvision")).parameters()]
    theirs = [tuple(p.shape) for p in tv.parameters()]
    assert ours == theirs
