"""torchinfo's totals from a "meta"-device build (no memory) equal torchinfo's on a real CPU
build, for every preset that computes (the Runs table shows them)."""

from __future__ import annotations

import pytest
import torch
import torchinfo

from alexnet import analyze, get_preset, list_presets
from alexnet.netstats import torchinfo_totals

COMPUTING = [n for n in list_presets() if not analyze(get_preset(n).spec).errors]


@pytest.mark.parametrize("name", COMPUTING)
def test_meta_build_gives_torchinfos_cpu_figures(name):
    from alexnet.build import build_model

    spec = get_preset(name).spec
    with torch.no_grad():
        real = torchinfo.summary(build_model(spec), input_size=(1, *spec.input.shape), verbose=0, device="cpu")
    got = torchinfo_totals(spec)
    assert got["total_params"] == real.total_params and got["trainable_params"] == real.trainable_params
    assert got["non_trainable_params"] == real.total_params - real.trainable_params
    assert got["total_bytes"] == real.total_input + real.total_output_bytes + real.total_param_bytes


def test_a_network_that_collapses_has_no_totals():
    bad = [n for n in list_presets() if n not in COMPUTING]
    assert bad and torchinfo_totals(get_preset(bad[0]).spec) is None
    assert torchinfo_totals({"layers": "nope"}) is None
