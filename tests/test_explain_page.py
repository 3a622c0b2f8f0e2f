"""The Activations page explains the chosen unit: the number it shows is the model's
activation for that unit (computed here with plain capture), the recomputation agrees,
and the parts (per-channel waterfall, window drill-down, sliding kernel, winner, top
inputs) are drawn."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from test_activations_page import SMALL, _app, _ok

from alexnet import activations as A
from alexnet import get_spec


def _figure(at: AppTest, key_part: str) -> dict:
    found = [json.loads(el.proto.spec) for el in at.get("plotly_chart") if key_part in el.proto.id]
    assert len(found) == 1, [el.proto.id[-60:] for el in at.get("plotly_chart")]
    return found[0]


def _model_value(layer: str, unit: tuple) -> float:
    """The activation of the unit for the page's default image (china.jpg) and weights (seed 0)."""
    spec = get_spec(SMALL)
    arr = A.to_network_input(A.sample_photo("china.jpg"), *spec.input.shape)
    acts = A.capture(A.random_model(spec, seed=0), A.normalise(arr))
    return float(acts.outputs[layer][unit])


def _headline(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "the value the model computed" in m.value)


def _pick(at: AppTest, layer: str, ch: int | None = None, row: int | None = None, col: int | None = None):
    at.run()
    _ok(at)
    at.selectbox(key="act_layer").set_value(layer).run()
    if ch is not None:
        at.number_input(key=f"act_ch_{layer}").set_value(ch).run()
        at.slider(key=f"act_row_{layer}_{ch}").set_value(row).run()
        at.slider(key=f"act_col_{layer}_{ch}").set_value(col).run()
    _ok(at)
    return at


def test_conv_unit_is_explained_with_the_models_number():
    at = _pick(_app(), "conv2", 5, 0, 1)
    head = _headline(at)
    assert head.startswith("**conv2[5, 0, 1]** = **" + f"{_model_value('conv2', (5, 0, 1)):.5g}" + "**")
    assert "equal to float precision" in head
    conv = A.random_model(get_spec(SMALL), seed=0).conv2
    cin, (kh, kw), (ph, _) = conv.in_channels, conv.kernel_size, conv.padding
    assert f"Σ over {cin} input channels × {kh}×{kw} taps of input·weight" in at.code[0].value
    sums = _figure(at, "act_explain_sums")
    assert sums["data"][0]["type"] == "waterfall" and sums["data"][0]["x"][-2:] == ["bias", "= value"]
    assert f"{cin - 12} other channels" in sums["data"][0]["x"]
    window = _figure(at, "act_explain_window")
    assert [d["type"] for d in window["data"]] == ["heatmap"] * 3  # input window, kernel, products
    assert window["data"][0]["y"] == [str(r) for r in range(-ph, kh - ph)]  # row 0: the top rows are padding
    slide = _figure(at, "act_explain_slide")
    out_h, out_w = A.capture(A.random_model(get_spec(SMALL)), A.normalise(
        A.to_network_input(A.sample_photo("china.jpg"), 3, 32, 32))).outputs["conv2"].shape[1:]
    assert len(slide["frames"]) in (out_h * out_w, out_w)  # every position, or the unit's row of a large map
    assert [b["label"] for b in slide["layout"]["updatemenus"][0]["buttons"]] == ["Play", "Pause"]


def test_conv_followed_by_an_activation_explains_it_too():
    at = _pick(_app("lenet-5"), "conv2", 3, 2, 2)
    assert "\nthen sigmoid2: Sigmoid(" in at.code[0].value


def test_drill_down_to_another_input_channel():
    at = _pick(_app(), "conv2", 5, 0, 1)
    box = next(s for s in at.selectbox if s.key and s.key.startswith("act_explain_ch_"))
    other = box.options[3]
    box.select(other).run()
    _ok(at)
    assert f"input {other.split(':')[0]}" in _figure(at, "act_explain_window")["layout"]["title"]["text"]


def test_max_pool_unit_shows_its_winner_and_no_slide():
    at = _pick(_app(), "pool1", 0, 2, 3)
    assert f"{_model_value('pool1', (0, 2, 3)):.5g}" in _headline(at)
    assert "max over the 9 input values" in at.code[0].value  # 3×3, no padding
    window = _figure(at, "act_explain_window")
    assert len(window["layout"]["shapes"]) == 1  # the winner's outline
    assert not [el for el in at.get("plotly_chart") if "act_explain_slide" in el.proto.id]


@pytest.mark.parametrize("layer", ["fc1", "fc3"])
def test_linear_unit_lists_its_top_inputs(layer):
    at = _pick(_app(), layer)
    unit = at.number_input(key=f"act_unit_{layer}").value
    assert f"{_model_value(layer, (unit,)):.5g}" in _headline(at)
    x = _figure(at, "act_explain_sums")["data"][0]["x"]
    assert x[-3:] == [x[-3], "bias", "= value"] and x[-3].endswith("other inputs")
    if layer == "fc1":  # through the flatten: inputs named by the pooled map's channel, row, column
        assert x[0].startswith("pool3[")
