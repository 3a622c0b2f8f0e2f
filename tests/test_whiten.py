"""``--init whiten``: the first conv decorrelates the training images' patches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alexnet.whiten import patch_covariance, whiten_first_conv


def smooth_images(n=64, c=3, size=16, seed=0) -> torch.Tensor:
    """Images whose neighbouring pixels are strongly correlated, like photographs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, size + 4, size + 4, generator=g)
    x = F.avg_pool2d(x, 5, stride=1)  # box blur: neighbours share most of their inputs
    return x + 0.3 * torch.randn(n, 1, size, size, generator=g)  # a little shared-across-channel signal


def test_patch_covariance_equals_the_covariance_of_every_patch_cut_out_by_hand():
    x = smooth_images(n=3, size=6)
    k = 3
    patches = [x[i, :, r:r + k, c:c + k].reshape(-1) for i in range(3) for r in range(6 - k + 1)
               for c in range(6 - k + 1)]
    want = torch.cov(torch.stack(patches).T.double())
    assert torch.allclose(patch_covariance(x, k).double(), want, atol=1e-5)


def test_the_whitened_first_conv_outputs_uncorrelated_unit_variance_channels():
    torch.manual_seed(0)  # the default init below is random: the same one whatever ran before
    x = smooth_images()
    net = nn.Sequential(nn.Conv2d(3, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 3))
    before = net[0](x).detach()
    assert whiten_first_conv(net, x)
    out = F.conv2d(x, net[0].weight, net[0].bias)  # the patches the statistics came from (no padding)
    half = out[:, :8].permute(1, 0, 2, 3).reshape(8, -1)
    cov = torch.cov(half.double())
    assert torch.allclose(cov, torch.eye(8, dtype=torch.float64), atol=0.02), cov  # white: identity
    assert torch.allclose(out[:, 8:], -out[:, :8])  # each filter with its negative
    b = before.permute(1, 0, 2, 3).reshape(16, -1)
    raw = torch.corrcoef(b.double()).abs().fill_diagonal_(0).max()
    assert raw > 0.5, "the default init's channels were correlated: the test would show no change"
    assert torch.count_nonzero(net[0].bias) == 0


def test_only_a_plain_first_conv_is_whitened():
    x = smooth_images()
    grouped = nn.Sequential(nn.Conv2d(3, 6, 3, groups=3))
    w = grouped[0].weight.clone()
    assert not whiten_first_conv(grouped, x)
    assert torch.equal(grouped[0].weight, w)
    assert not whiten_first_conv(nn.Sequential(nn.Flatten(), nn.Linear(768, 10)), x)


def test_a_run_with_init_whiten_trains_and_a_grouped_first_conv_says_why_not(capsys):
    from alexnet.data import load_dataset
    from alexnet.train import make_config, train
    from tests.train_helpers import TINY

    ds = load_dataset("digits")
    r = train(TINY, make_config("quick", epochs=1, init="whiten", cpu_threads=1), progress=False, dataset=ds)
    assert r["status"] == "completed", r
    grouped = TINY.with_input(channels=3)  # digits drawn as RGB, so conv1 can have 3 groups
    grouped = grouped.with_layer(0, grouped.layers[0].replace(out_channels=6, groups=3))
    r = train(grouped, make_config("quick", epochs=1, init="whiten", cpu_threads=1), progress=False, dataset=ds)
    assert r["status"] == "completed", r.get("error")
    assert "--init whiten" in capsys.readouterr().err
