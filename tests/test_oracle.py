"""The summary (shapes, parameters, multiply-adds, collapses) against an independent oracle:
tests/oracle.py translates the spec's JSON to plain torch.nn with its own code (no alexnet
import), and torchinfo counts its multiply-adds.  Every preset and 300 random specs with
non-square inputs, [h, w] kernels/strides/paddings, dilation, groups, ceil mode, 'same'/'valid'
and every padding mode; every registered layer type must be known to the oracle."""

from __future__ import annotations

import json
import random

import pytest

from alexnet import list_presets, summarize
from alexnet.presets import get_spec
from alexnet.spec import LAYER_TYPES, NetSpec, SpecError
from tests import oracle

N_RANDOM = 300


def test_oracle_knows_every_registered_layer_type():
    missing = sorted(set(LAYER_TYPES) - set(oracle.BUILDERS))
    assert not missing, f"tests/oracle.py has no translation for {missing}: add one (plain torch.nn)"


def compare(d: dict) -> tuple[int, bool]:
    """Check every computed row of the summary against the oracle; returns (rows checked,
    whether the network fails somewhere)."""
    s = summarize(d)
    steps = oracle.build(d)
    where = json.dumps(d)
    bad = next((r for r in s["layers"] if r["status"] == "error"), None)
    for row, step in zip(s["layers"], steps):
        if step.error is not None or row["status"] == "error":
            assert step.error is not None and row["status"] == "error", \
                (f"layer {step.index}: summary says {row['status']} ({row['message']}), torch says "
                 f"{step.error or tuple(step.out_shape)}; {where}")
            return step.index, True
        assert tuple(row["out_shape"]) == step.out_shape, (step.index, row["formula"], where)
        assert row["params"] == step.params, (step.index, where)
        assert row["macs"] == step.macs, (step.index, row["macs"], step.macs, where)
    assert bad is None and len(steps) == len(s["layers"]), where
    assert s["total_params"] == sum(st.params for st in steps)
    assert s["total_macs"] == sum(st.macs for st in steps)
    return len(steps), False


@pytest.mark.parametrize("name", list_presets())
def test_preset_matches_the_oracle(name):
    """Every computed row matches; a preset that collapses (paddle-cifar10-32, as published)
    collapses at the same layer in torch."""
    compare(get_spec(name).to_dict())


# ---- random specs ---------------------------------------------------------------------------
def _one_or_pair(rng, choices, pair_p=0.35):
    if rng.random() < pair_p:
        return [rng.choice(choices), rng.choice(choices)]
    return rng.choice(choices)


def _conv(rng, ch, side):
    groups = rng.choice([g for g in (1, 1, 2, 3, 4) if ch % g == 0])
    out = groups * rng.choice([1, 2, 3])
    pad = rng.choice([0, 1, 2, 3, "same", "valid", [0, 2], [2, 1], [3, 0]])
    mode = rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
    return {"type": "conv", "out_channels": out, "kernel": _one_or_pair(rng, [1, 2, 3, 4, 5, 7]),
            "stride": _one_or_pair(rng, [1, 1, 2, 3]), "padding": pad,
            "dilation": _one_or_pair(rng, [1, 1, 2, 3], 0.25), "groups": groups, "bias": rng.random() < 0.8,
            "padding_mode": mode}


def _pool(rng):
    k = _one_or_pair(rng, [1, 2, 3, 4, 5])
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = rng.choice([0, 0, "same", "valid", [kh // 2, kw // 2], [0, kw // 2], [kh // 2, 0]])
    if isinstance(pad, list) and pad[0] == pad[1]:
        pad = pad[0]
    return {"type": rng.choice(["maxpool", "avgpool"]), "kernel": k,
            "stride": rng.choice([None, None, 1, 2, 3, [1, 2], [2, 3]]), "padding": pad,
            "ceil_mode": rng.random() < 0.35}


def _pointwise(rng, ch):
    t = rng.choice(["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "hardswish", "elu", "batchnorm",
                    "groupnorm", "dropout", "lrn"])
    d = {"type": t}
    if t == "groupnorm":
        d["groups"] = rng.choice([g for g in range(1, ch + 1) if ch % g == 0])
    elif t == "lrn":
        d["size"] = rng.choice([1, 2, 3, 5])
    elif t == "leaky_relu":
        d["negative_slope"] = 0.2
    return d


def random_spec(rng: random.Random) -> dict:
    c = rng.choice([1, 2, 3, 4])
    h = rng.randint(3, 40)
    w = rng.randint(3, 40) if rng.random() < 0.7 else h
    layers, ch, side = [], c, min(h, w)
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.45:
            layers.append(_conv(rng, ch, side))
            ch = layers[-1]["out_channels"]
        elif r < 0.75:
            layers.append(_pool(rng))
        else:
            layers.append(_pointwise(rng, ch))
    if rng.random() < 0.35:
        layers.append({"type": rng.choice(["adaptive_avgpool", "adaptive_maxpool"]),
                       "output": _one_or_pair(rng, [1, 2, 3, 5, 6])})
        if rng.random() < 0.5:
            layers.append(_conv(rng, ch, 3))
    if rng.random() < 0.7:
        layers.append({"type": "flatten"})
        for _ in range(rng.randint(0, 2)):
            layers.append({"type": "linear", "out_features": rng.choice([1, 3, 10]), "bias": rng.random() < 0.8})
            if rng.random() < 0.5:
                layers.append(rng.choice([{"type": "relu"}, {"type": "batchnorm"}, {"type": "dropout"},
                                          {"type": "groupnorm", "groups": 1}]))
    return {"name": "random", "input": {"channels": c, "height": h, "width": w}, "layers": layers}


def random_specs(seed: int, n: int):
    """n valid random specs (as NetSpec.to_dict(): every field filled in)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        try:
            out.append(NetSpec.from_dict(random_spec(rng)).to_dict())
        except SpecError:
            continue
    return out


def test_random_specs_match_the_oracle():
    specs = random_specs(2026, N_RANDOM)
    ok = failed = 0
    for d in specs:
        _, fails = compare(d)
        failed += fails
        ok += not fails
    # both kinds are well represented: networks that compute, and networks torch refuses
    assert ok >= 150 and failed >= 30, (ok, failed)


def test_random_specs_cover_what_they_claim():
    """The generator reaches the cases the oracle test is for (otherwise it proves little)."""
    specs = random_specs(2026, N_RANDOM)
    layers = [x for d in specs for x in d["layers"]]
    windows = [x for x in layers if x["type"] in ("conv", "maxpool", "avgpool")]
    assert sum(d["input"]["height"] != d["input"]["width"] for d in specs) > 100
    for key in ("kernel", "stride", "padding"):
        assert sum(isinstance(x[key], list) and x[key][0] != x[key][1] for x in windows) > 30, key
    assert sum(isinstance(x.get("dilation"), list) for x in windows) > 10
    assert sum(x.get("dilation", 1) not in (1, [1, 1]) for x in windows) > 40
    assert sum(x.get("groups", 1) > 1 for x in windows) > 40
    assert sum(x.get("ceil_mode", False) for x in windows) > 40
    assert sum(x["padding"] == "same" for x in windows) > 40
    assert sum(x.get("padding_mode", "zeros") != "zeros" for x in windows) > 60
    assert sum(x["type"] in ("maxpool", "avgpool") and x["stride"] is None for x in windows) > 40
    assert set(LAYER_TYPES) <= {x["type"] for x in layers}


def test_replicate_padding_wider_than_the_input_is_allowed_as_in_torch():
    """Found by the oracle: torch repeats the edge pixel as often as asked (reflect and circular
    have limits, replicate none), but the summary refused a 'replicate' padding of 2 on a 1-wide input."""
    d = NetSpec.from_dict({"input": [1, 1, 4], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": [5, 3], "padding": [2, 1], "padding_mode": "replicate"}]}).to_dict()
    assert oracle.build(d)[0].out_shape == (1, 1, 4)
    rows, failed = compare(d)
    assert not failed
