"""The summary's receptive field, jump and start of every layer against the gradient support of
units in torch: the independent oracle network (tests/oracle.py, max-pools as average pools of
the same geometry, positive weights) is backpropagated from one output unit, and the input
pixels with non-zero gradient are compared with the box the three numbers describe,

    centre = start + u·jump,   box = centre ± (receptive_field − 1)/2     (per axis, unit u).

A unit whose box lies inside the image reads no padding at any layer, so its gradient box must
equal that box exactly (this pins the receptive field, the jump and the start); a unit at the
border must have its gradient inside the box clipped to the image (zero padding)."""

from __future__ import annotations

import json
import random

import torch

from alexnet import summarize
from alexnet.spec import NetSpec, SpecError
from tests import oracle

N_SPECS = 80


def _hw(v):
    return (v[0], v[1]) if isinstance(v, list) else (v, v)


def theory_box(row: dict, r: int, c: int) -> tuple[float, float, float, float]:
    """(top, left, bottom, right) of unit (r, c) from the row's receptive_field, jump and start."""
    (rh, rw), (jh, jw), (sh, sw) = _hw(row["receptive_field"]), _hw(row["jump"]), _hw(row["start"])
    ch, cw = sh + r * jh, sw + c * jw
    return ch - (rh - 1) / 2, cw - (rw - 1) / 2, ch + (rh - 1) / 2, cw + (rw - 1) / 2


def gradient_box(net, shape, r: int, c: int):
    """Bounding box of the input pixels whose gradient from unit (0, r, c) is non-zero."""
    torch.manual_seed(r * 1000 + c)
    x = (torch.rand(1, *shape, dtype=torch.float64) + 0.5).requires_grad_()
    net(x)[0, 0, r, c].backward()
    nz = x.grad[0].abs().sum(0) > 0
    if not nz.any():
        return None
    rows, cols = nz.any(1).nonzero().flatten(), nz.any(0).nonzero().flatten()
    return rows.min().item(), cols.min().item(), rows.max().item(), cols.max().item()


def _units(rng, oh, ow):
    """Two corners, the middle and two random units (one backward pass each)."""
    return {(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 2)} | {(rng.randrange(oh), rng.randrange(ow)) for _ in range(2)}


def check_layer(net, d: dict, row: dict, rng) -> int:
    """Compare every chosen unit of one layer; returns how many interior units matched exactly."""
    shape = (d["input"]["channels"], d["input"]["height"], d["input"]["width"])
    h, w = shape[1:]
    zeros = all(x.get("padding_mode", "zeros") == "zeros" for x in d["layers"][: row["index"] + 1])
    exact = 0
    for r, c in _units(rng, *row["out_shape"][1:]):
        got = gradient_box(net, shape, r, c)
        where = f"layer {row['index']} unit ({r}, {c}): {json.dumps(d)}"
        if row["jump"] is None or row["start"] is None or None in _hw(row["jump"]) + _hw(row["start"]):
            # after an adaptive pool with unequal windows: no uniform jump; the field is the largest unit's
            rh, rw = _hw(row["receptive_field"])
            assert not zeros or got is None or (got[2] - got[0] < rh and got[3] - got[1] < rw), (got, rh, rw, where)
            continue
        want = theory_box(row, r, c)
        if want[0] >= 0 and want[1] >= 0 and want[2] <= h - 1 and want[3] <= w - 1:
            assert got == want, (got, want, row["receptive_field"], row["jump"], row["start"], where)
            exact += 1
        elif zeros and got is not None:
            clipped = (max(want[0], 0), max(want[1], 0), min(want[2], h - 1), min(want[3], w - 1))
            assert clipped[0] <= got[0] and clipped[1] <= got[1] and got[2] <= clipped[2] and got[3] <= clipped[3], \
                (got, clipped, where)
    return exact


def _window(rng):
    if rng.random() < 0.6:
        return {"type": "conv", "out_channels": rng.choice([1, 2]), "kernel": rng.choice([1, 2, 3, 5, [3, 5], [2, 1]]),
                "stride": rng.choice([1, 1, 2, 3, [1, 2], [3, 1], [2, 3]]),
                "padding": rng.choice([0, 1, 2, "same", "valid", [0, 2], [2, 0], [1, 3]]),
                "dilation": rng.choice([1, 1, 2, 3, [2, 1], [1, 3]]),
                "padding_mode": rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])}
    k = rng.choice([2, 3, [2, 3], [3, 1]])
    kh, kw = (k, k) if isinstance(k, int) else k
    return {"type": rng.choice(["maxpool", "avgpool"]), "kernel": k,
            "stride": rng.choice([None, 1, 2, [1, 2], [2, 1]]),
            "padding": rng.choice([0, [kh // 2, kw // 2], [0, kw // 2], "same"]), "ceil_mode": rng.random() < 0.3}


def random_rf_spec(rng) -> dict:
    layers = []
    for _ in range(rng.randint(1, 4)):
        layers.append(_window(rng))
        if rng.random() < 0.4:
            layers.append({"type": rng.choice(["relu", "leaky_relu", "gelu", "softplus", "batchnorm", "lrn",
                                               "dropout"])})
    if rng.random() < 0.35:
        at = rng.randint(0, len(layers))
        layers[at:at] = [{"type": rng.choice(["adaptive_avgpool", "adaptive_maxpool"]),
                          "output": rng.choice([1, 3, 4, 5, 6, [3, 5], [6, 4]])}, _window(rng)]
    return {"name": "rf", "input": {"channels": rng.choice([1, 2]), "height": rng.randint(12, 40),
                                    "width": rng.randint(12, 40)}, "layers": layers}


def test_receptive_field_jump_and_start_match_the_gradient_support():
    rng = random.Random(13)
    specs = exact = layers_checked = 0
    while specs < N_SPECS:
        try:
            d = NetSpec.from_dict(random_rf_spec(rng)).to_dict()
        except SpecError:
            continue
        s = summarize(d)
        if s["errors"]:
            continue
        steps = oracle.build(d, support=True, macs=False)
        for row in s["layers"]:
            if row["type"] not in ("conv", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool") and row["index"] != len(s["layers"]) - 1:
                continue  # a pointwise layer: the same numbers as the window before it, checked at the end
            net = oracle.network(steps[: row["index"] + 1])
            exact += check_layer(net, d, row, rng)
            layers_checked += 1
        specs += 1
    assert exact >= 300 and layers_checked >= 150, (exact, layers_checked)


def test_hand_checked_numbers():
    """AlexNet's first layers, worked by hand: conv 11/4 pad 2 → r 11, j 4, start 3; pool 3/2 →
    r 11 + 2·4 = 19, j 8, start 3 + 1·4 = 7; a [h, w] case: conv [3, 5] stride [1, 2] dilation [2, 1],
    padding [2, 0] → r 5 (both axes), j [1, 2], start [0, 2]."""
    rows = summarize({"input": [3, 224, 224], "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 11, "stride": 4, "padding": 2},
        {"type": "maxpool", "kernel": 3, "stride": 2}]})["layers"]
    assert [(x["receptive_field"], x["jump"], x["start"]) for x in rows] == [(11, 4, 3), (19, 8, 7)]
    row = summarize({"input": [1, 20, 30], "layers": [
        {"type": "conv", "out_channels": 1, "kernel": [3, 5], "stride": [1, 2], "dilation": [2, 1],
         "padding": [2, 0]}]})["layers"][0]
    assert (row["receptive_field"], row["jump"], row["start"]) == (5, [1, 2], [0, 2])


def _conv_after_adaptive(side: int, out: int) -> dict:
    return {"name": "adaptive", "input": {"channels": 1, "height": side, "width": side}, "layers": [
        {"type": "adaptive_avgpool", "output": out}, {"type": "conv", "out_channels": 1, "kernel": 3}]}


def test_receptive_field_after_an_adaptive_pool_is_whole_and_matches_the_gradient():
    """13 → 6 adaptive then a 3×3 conv: the recurrence's fractional stride gave 7.333, every unit
    reads 7 pixels (windows 0–2, 2–4, 4–6, …: size 3, step 2); 7 → 3 then 3×3: 7.667, true 7."""
    for side, out in ((13, 6), (7, 3)):
        d = NetSpec.from_dict(_conv_after_adaptive(side, out)).to_dict()
        row = summarize(d)["layers"][1]
        assert row["receptive_field"] == 7, row
        net = oracle.network(oracle.build(d, support=True, macs=False))
        oh = row["out_shape"][1]
        boxes = [gradient_box(net, (1, side, side), r, r) for r in range(oh)]
        assert all(b[2] - b[0] + 1 == 7 and b[3] - b[1] + 1 == 7 for b in boxes), boxes
        if oh > 1:
            assert row["jump"] == 2 and [b[0] for b in boxes] == [row["start"] - 3 + 2 * r for r in range(oh)]


def test_unequal_adaptive_windows_have_no_jump():
    """10 → 4: windows 0–2, 2–4, 5–7, 7–9 (steps 2, 3, 2): no single jump, and the table says so
    (None) instead of a fraction; the field is still the largest window's, 3."""
    row = summarize({"input": [1, 10, 10], "layers": [{"type": "adaptive_avgpool", "output": 4}]})["layers"][0]
    assert (row["receptive_field"], row["jump"], row["start"]) == (3, None, None)
