"""The layer-type registry (alexnet/layers.py): one definition per type, read by the spec,
the arithmetic, the builder, the code export and the UI.

* the exported code equals the builder: same layer names, module settings and outputs,
  for every preset and 150 random valid networks using every type and field off its default;
* every field default equals the PyTorch module's own default;
* the three types added through the registry alone (hardswish, groupnorm, conv
  padding_mode) work in the table, the drawing, training and the activations;
* reserved names, duplicate registrations."""

from __future__ import annotations

import inspect
import random

import pytest
import torch
from torch import nn

from alexnet import analyze, build_model, get_spec, list_presets, pytorch_code
from alexnet import layers as L
from alexnet.arithmetic import receptive_box
from alexnet.spec import NetSpec, SpecError

WINDOWS = ("conv", "maxpool", "avgpool")


# ---- random valid networks touching every registered type and field ------------------------
def _value(f: L.Field, rng: random.Random):
    """A value of one field off its default, kept small enough for a fast network."""
    if f.kind == "bool":
        return not f.default
    if f.kind == "choice":
        return rng.choice([c for c in f.choices if c != f.default])
    if f.kind == "float":
        hi = min(f.ui_hi or f.hi, 2.0)
        lo = f.lo + (1e-4 if f.open_lo else 0)
        return round(rng.uniform(lo, hi - (1e-3 if f.open_hi else 0)), 4)
    return None  # ints and pairs: chosen per type below


def _random_layer(t: str, rng: random.Random, channels: int, side: int) -> dict:
    lt = L.get(t)
    d = {"type": t}
    for f in lt.fields:
        v = _value(f, rng)
        if v is not None and rng.random() < 0.7:
            d[f.name] = v
    if t == "conv":
        groups = rng.choice([g for g in (1, 2, 4) if channels % g == 0])
        d.update(out_channels=groups * rng.randint(1, 4), groups=groups, kernel=rng.choice([1, 2, 3, [3, 1]]),
                 stride=rng.choice([1, 2, [1, 2]]), dilation=rng.choice([1, 1, 2]),
                 padding=rng.choice([0, 1, [1, 0], "same", "valid"]))
    elif t in ("maxpool", "avgpool"):
        d.update(kernel=rng.choice([2, 3]), stride=rng.choice([None, 1, 2]), padding=rng.choice([0, 1, "same"]))
    elif t.startswith("adaptive"):
        d["output"] = rng.choice([1, 2, [2, 3]])
    elif t == "lrn":
        d["size"] = rng.randint(1, 5)
    elif t == "groupnorm":
        d["groups"] = rng.choice([g for g in (1, 2, channels) if channels % g == 0])
    elif t == "linear":
        d["out_features"] = rng.randint(1, 12)
    elif t == "leaky_relu":
        d["negative_slope"] = round(rng.uniform(-0.5, 0.5), 3)
    return d


def random_spec(seed: int) -> NetSpec | None:
    """A random network (None if this draw does not compute); uses every kind of layer."""
    rng = random.Random(seed)
    channels, side = rng.choice([1, 2, 4]), rng.randint(6, 14)
    spatial = [n for n, lt in L.REGISTRY.items() if lt.where != "flat" and n != "flatten"]
    flat = [n for n, lt in L.REGISTRY.items() if lt.where != "spatial"]
    layers, c = [], channels
    for _ in range(rng.randint(2, 6)):
        d = _random_layer(rng.choice(spatial), rng, c, side)
        layers.append(d)
        c = d.get("out_channels", c)
    layers.append({"type": "flatten"})
    for _ in range(rng.randint(1, 3)):
        layers.append(_random_layer(rng.choice(flat), rng, 4, 1))
    try:
        spec = NetSpec.from_dict({"name": f"random-{seed}", "input": [channels, side, side], "layers": layers})
    except SpecError:
        return None
    return spec if not analyze(spec).errors else None


RANDOM = [s for s in (random_spec(i) for i in range(600)) if s is not None][:150]


def test_the_random_networks_cover_every_type_and_field():
    assert len(RANDOM) == 150
    used = {(x.type, f.name) for s in RANDOM for x in s.layers for f in L.get(x.type).fields
            if getattr(x, f.name) != f.default}
    every = {(t, f.name) for t, lt in L.REGISTRY.items() for f in lt.fields}
    assert every <= used, every - used


def _settings(m: nn.Module) -> tuple:
    """What a module is: its class name and its configuration (extra_repr), recursively."""
    return (type(m).__name__.replace("2dSame", "Same"), m.extra_repr(),
            tuple(_settings(c) for c in m.children()))


def _exported(spec: NetSpec) -> nn.Module:
    ns: dict = {}
    exec(compile(pytorch_code(spec), f"<{spec.name}>", "exec"), ns)  # noqa: S102 - the user's copy-paste
    return ns["model"]


@pytest.mark.parametrize("spec", [get_spec(n) for n in list_presets() if not analyze(get_spec(n)).errors
                                  and get_spec(n).input.height <= 96] + RANDOM, ids=lambda s: s.name)
def test_exported_code_equals_the_builder(spec):
    torch.manual_seed(0)
    built, code = build_model(spec).eval(), _exported(spec)
    assert [n for n, _ in built.named_children()] == [n for n, _ in code.named_children()]
    for (name, a), (_, b) in zip(built.named_children(), code.named_children()):
        assert _settings(a) == _settings(b), name
        assert getattr(a, "pads", None) == getattr(b, "pads", None), name
    code.load_state_dict(built.state_dict())
    x = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        assert torch.allclose(built(x.clone()), code.eval()(x.clone()), atol=1e-5)  # inplace ReLUs


def test_batchnorm_eps_and_momentum_are_exported():
    spec = NetSpec.from_dict({"input": [3, 4, 4], "layers": [
        {"type": "conv", "out_channels": 6, "kernel": 3}, {"type": "batchnorm", "eps": 0.001, "momentum": 0.3}]})
    assert "nn.BatchNorm2d(6, eps=0.001, momentum=0.3)" in pytorch_code(spec)


def test_exported_code_runs_when_batchnorm_sees_one_pixel():
    spec = NetSpec.from_dict({"input": [3, 3, 3], "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 3}, {"type": "batchnorm"}, {"type": "flatten"},
        {"type": "linear", "out_features": 2}]})
    assert tuple(_exported(spec)(torch.zeros(1, 3, 3, 3)).shape) == (1, 2)  # the code's own check passed too


# ---- defaults are PyTorch's ------------------------------------------------------------------
TORCH_ARG = {"kernel": "kernel_size", "output": "output_size", "size": "size", "groups": None}


@pytest.mark.parametrize("t", list(L.REGISTRY))
def test_every_default_is_the_pytorch_modules_default(t):
    lt = L.get(t)
    params = inspect.signature(getattr(nn, lt.torch_name)).parameters
    for f in lt.fields:
        arg = {"groups": "num_groups"}.get(f.name, f.name) if t == "groupnorm" else TORCH_ARG.get(f.name, f.name)
        if arg not in params or params[arg].default is inspect.Parameter.empty:
            continue  # torch has no default (kernel size, out channels, num_groups) or no such argument
        assert f.default == params[arg].default, (t, f.name, f.default, params[arg].default)


def test_maxpool_stride_defaults_to_the_kernel_as_in_pytorch():
    spec = NetSpec.from_dict({"input": [1, 16, 16], "layers": [{"type": "maxpool", "kernel": 4}]})
    assert analyze(spec).layers[0].out_shape == (1, 4, 4)
    assert tuple(build_model(spec)(torch.zeros(1, 1, 16, 16)).shape) == (1, 1, 4, 4)
    assert tuple(nn.MaxPool2d(4)(torch.zeros(1, 1, 16, 16)).shape) == (1, 1, 4, 4)


# ---- names and the registry itself -----------------------------------------------------------
def test_reserved_names_cover_every_nn_module_attribute():
    module_names = {n for n in dir(nn.Module) if not n.startswith("_")}
    assert module_names <= L.RESERVED_NAMES, module_names - L.RESERVED_NAMES


@pytest.mark.parametrize("name", ["forward", "training", "conv1\n", "1conv"])
def test_names_torch_cannot_use_are_refused(name):
    with pytest.raises(SpecError, match="name"):
        NetSpec.from_dict({"input": [1, 8, 8], "layers": [{"type": "relu", "name": name}]})


def test_a_type_is_registered_once():
    with pytest.raises(ValueError, match="twice"):
        L.register(type("Again", (L.LayerType,), {"name": "relu"}))


# ---- the three types added through the registry ------------------------------------------------
NEW = NetSpec.from_dict({"name": "new-types", "input": [3, 12, 12], "layers": [
    {"type": "conv", "out_channels": 8, "kernel": 3, "padding": 1, "padding_mode": "reflect"},
    {"type": "groupnorm", "groups": 4}, {"type": "hardswish"},
    {"type": "conv", "out_channels": 8, "kernel": 3, "stride": 2, "padding": "same", "padding_mode": "circular"},
    {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]})


def test_new_types_in_the_table():
    s = analyze(NEW)
    rows = {r.name: r for r in s.layers}
    assert rows["gn1"].params == 16 and rows["gn1"].out_shape == (8, 12, 12)
    assert rows["hardswish1"].params == 0
    assert rows["conv2"].out_shape == (8, 6, 6)
    import torchinfo

    info = torchinfo.summary(build_model(NEW), input_size=(1, 3, 12, 12), verbose=0)
    assert s.total_params == info.total_params and s.total_macs == info.total_mult_adds


def test_reflect_padding_wider_than_the_input_is_a_clear_error():
    spec = NetSpec.from_dict({"input": [1, 2, 2], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": 3, "padding": 2, "padding_mode": "reflect"}]})
    err = analyze(spec).errors[0]
    assert "padding_mode 'reflect'" in err and "2-wide input" in err
    with pytest.raises(RuntimeError):  # torch agrees it cannot
        nn.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_receptive_box_follows_the_padding_copies(mode):
    spec = NetSpec.from_dict({"input": [1, 9, 9], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": 3, "padding": 1, "padding_mode": mode},
        {"type": "conv", "out_channels": 1, "kernel": 3, "padding": 1, "padding_mode": mode}]})
    model = build_model(spec)
    for p in model.parameters():
        torch.nn.init.constant_(p, 1.0)
    info = analyze(spec).layers[1]
    for r, c in ((0, 0), (4, 4), (8, 0)):
        x = torch.rand(1, 1, 9, 9, requires_grad=True)
        model(x)[0, 0, r, c].backward()
        rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
        want = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
        assert receptive_box(info, r, c, 9, 9) == want, (mode, r, c)


def test_new_types_train_and_show_activations(runs_dir):
    from alexnet import activations as A
    from alexnet.runs import RunStore
    from alexnet.train import make_config, train

    store = RunStore(runs_dir)
    spec = NEW.with_input(channels=1, height=8, width=8)
    result = train(spec, make_config("quick", epochs=1, device="cpu", max_steps=5, train_subset=200), store=store)
    assert result["status"] == "completed", result
    acts = A.capture(build_model(spec), torch.zeros(1, 1, 8, 8))
    assert set(acts.names) >= {"conv1", "gn1", "hardswish1", "conv2"}


# ---- issue 14 escapes that live in spec validation (3 and 14 are above) ----------------------
@pytest.mark.parametrize("bad", [[], {}, 3, None])
def test_a_type_that_is_not_a_string_is_a_spec_error(bad):  # escape 15
    with pytest.raises(SpecError, match="field 'type'"):
        NetSpec.from_dict({"input": [1, 8, 8], "layers": [{"type": bad}]})


def test_huge_numbers_are_spec_errors():  # escape 5
    with pytest.raises(SpecError, match="alpha"):
        NetSpec.from_dict({"input": [3, 8, 8], "layers": [{"type": "lrn", "alpha": 10 ** 400}]})
    with pytest.raises(SpecError, match="not valid JSON"):
        NetSpec.from_json('{"input": [1, 8, 8], "layers": [{"type": "linear", "out_features": ' + "9" * 5000 + "}]}")


def test_a_run_id_with_a_trailing_newline_is_refused(tmp_path):  # escape 14
    from alexnet.runs import RunStore

    store = RunStore(tmp_path)
    with pytest.raises(ValueError):
        store.checkpoint_path("ok\n", "last")
