"""Issue 15's recipe pieces: the weight EMA (alexnet/ema.py), test-time flips in
``evaluate`` and the engine using both.  Every expected number is computed here with
plain torch, not through the engine's own arithmetic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from alexnet.ema import WeightEMA, evaluated_model, make_ema
from alexnet.runs import RunStore, load_checkpoint
from alexnet.train import evaluate, make_config, train
from tests.train_helpers import TINY


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 3))


def test_ema_follows_the_formula_with_warm_up_and_averages_batchnorm_statistics():
    net = _net()
    ema = WeightEMA(net, decay=0.9)
    expected = {k: v.detach().clone().float() for k, v in net.state_dict().items()}
    for n in range(6):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(5, 1, 6, 6))  # moves BatchNorm's running statistics
        ema.update(net)
        # the first update copies; then, with n updates done, the decay is min(decay, (1 + n) / (10 + n))
        d = 0.0 if n == 0 else min(0.9, (1 + n) / (10 + n))
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                expected[k] = d * expected[k] + (1 - d) * v.float()
    got = ema.module.state_dict()
    for k, v in expected.items():
        if got[k].is_floating_point():
            assert torch.allclose(got[k], v, atol=1e-5), k
    assert not torch.equal(got["1.running_mean"], net.state_dict()["1.running_mean"])


def test_no_ema_means_the_model_itself():
    net = _net()
    assert make_ema(net, 0.0) is None and evaluated_model(net, None) is net
    ema = make_ema(net, 0.5)
    assert evaluated_model(net, ema) is ema.module and ema.module is not net


def test_flip_test_time_augmentation_averages_an_image_and_its_mirror():
    torch.manual_seed(1)
    x = torch.randint(0, 256, (40, 1, 6, 6), dtype=torch.uint8)
    y = torch.randint(0, 3, (40,))
    net = _net().eval()
    spec = SimpleNamespace(input=(1, 6, 6))
    xf = (x.float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        plain = net(xf)
        both = (net(xf) + net(xf.flip(3))) / 2
    want_plain = (plain.argmax(1) == y).float().mean().item()
    want_both = (both.argmax(1) == y).float().mean().item()
    assert want_plain != want_both  # this net is not mirror-symmetric: the test can tell them apart
    loss, acc = evaluate(net, x, y, spec, [0.5], [0.25], torch.device("cpu"), batch_size=16)
    assert acc == pytest.approx(want_plain)
    loss_t, acc_t = evaluate(net, x, y, spec, [0.5], [0.25], torch.device("cpu"), batch_size=16, tta_flip=True)
    assert acc_t == pytest.approx(want_both)
    assert loss_t == pytest.approx(nn.functional.cross_entropy(both, y).item(), rel=1e-5)


def test_engine_evaluates_and_saves_the_average(tmp_path):
    """With ``ema`` the checkpoint holds the averaged weights, and its recorded test accuracy is
    what those weights score (recomputed here with plain torch)."""
    store = RunStore(tmp_path)
    runs = {}
    for decay in (0.0, 0.9):
        cfg = make_config("quick", epochs=1, max_steps=12, ema=decay, tta_flip=decay > 0, cpu_threads=1)
        r = train(TINY, cfg, store=store, progress=False)
        assert r["status"] == "completed", r.get("error")
        runs[decay] = load_checkpoint(store.checkpoint_path(r["run_id"], "last"))
    plain, averaged = runs[0.0]["model"], runs[0.9]["model"]
    assert any(not torch.equal(plain[k], averaged[k]) for k in plain)
    from alexnet.build import build_model
    from alexnet.data import load_digits

    ds = load_digits()
    net = build_model(TINY)
    net.load_state_dict(averaged)
    net.eval()
    x = (ds.x_test.float() / 255 - torch.tensor(ds.mean).view(1, -1, 1, 1)) / torch.tensor(ds.std).view(1, -1, 1, 1)
    with torch.no_grad():
        out = (net(x) + net(x.flip(3))) / 2
    assert runs[0.9]["test_acc"] == pytest.approx((out.argmax(1) == ds.y_test).float().mean().item(), abs=1e-6)
