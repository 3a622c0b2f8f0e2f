"""AppTest of pages/activations.py: every image source and weights source renders without an
exception; the forward pass is cached; run checkpoints, torchvision weights (cached file and
offline download), local files and a collapsing network each give what the page promises."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from alexnet import activations as A
from alexnet import get_spec

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "activations.py")
SMALL = "alexnet-cifar-32"  # 32×32 input: fast on a CPU


def _app(preset: str = SMALL) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["net_spec"] = get_spec(preset)
    at.session_state["net_base"] = preset
    at.session_state["net_version"] = 0
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _chart_text(at: AppTest) -> str:
    """Every plotly figure on the page as JSON text (non-ASCII unescaped)."""
    return " ".join(json.dumps(json.loads(el.proto.spec), ensure_ascii=False) for el in at.get("plotly_chart"))


def _write_mnist(root: Path, n: int = 4) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("t10k", n)):
        imgs = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) + imgs.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) + bytes(range(count)))


@pytest.mark.parametrize("source", ["Photograph", "Handwritten digit", "Dataset test image", "Upload"])
def test_page_renders_for_every_image_source(source, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path / "data"))
    if source == "Dataset test image":
        _write_mnist(tmp_path / "data")
    at = _app()
    at.run()
    _ok(at)
    at.radio(key="act_src").set_value(source).run()
    _ok(at)
    assert not at.error
    if source == "Upload":  # AppTest cannot upload: the page asks for a file and stops cleanly
        assert any("Choose an image" in i.value for i in at.info)
        return
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # input, top-5, feature maps, filters, per-layer stats
    if source == "Dataset test image":
        assert any("label: 0" in c.value for c in at.caption)
        at.number_input(key="act_ds_i").set_value(3).run()
        _ok(at)
        assert any("label: 3" in c.value for c in at.caption)
    if source == "Photograph":
        at.selectbox(key="act_photo").set_value("flower.jpg").run()
        _ok(at)


def test_dataset_source_without_data_says_where_it_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path / "none"))
    at = _app()
    at.run()
    at.radio(key="act_src").set_value("Dataset test image").run()
    _ok(at)
    assert any("No dataset on disk yet" in i.value and "none" in i.value for i in at.info)


def test_default_network_paper_2012_and_layer_switches_reuse_the_forward_pass(monkeypatch):
    calls = []
    real = A.capture
    monkeypatch.setattr(A, "capture", lambda m, x: calls.append(1) or real(m, x))
    at = _app("paper-2012")
    at.run()
    _ok(at)
    assert len(calls) == 1
    assert "conv1: maps 48 of 96 (55×55)" in _chart_text(at)
    assert "conv1 filters: 96 of 11×11 RGB" in _chart_text(at)
    at.selectbox(key="act_layer").set_value("conv2").run()
    _ok(at)
    at.selectbox(key="act_sort").set_value("mean").run()
    at.selectbox(key="act_per_page").set_value(96).run()
    at.number_input(key="act_page_conv2_96").set_value(3).run()
    _ok(at)
    assert "conv2: maps 64 of 256 (27×27)" in _chart_text(at)
    at.selectbox(key="act_layer").set_value("fc3").run()
    _ok(at)
    assert len(calls) == 1  # only redraws


def test_unit_box_and_gradient_check():
    at = _app()
    at.run()
    at.selectbox(key="act_layer").set_value("conv2").run()
    at.number_input(key="act_ch_conv2").set_value(5).run()
    at.slider(key="act_row_conv2_5").set_value(0).run()
    at.slider(key="act_col_conv2_5").set_value(0).run()
    _ok(at)
    # conv2 of alexnet-cifar-32: rf 5 + 2·(3−1) + 4·2 … clipped to the corner of the image
    box = A.unit_box(get_spec(SMALL), "conv2", 0, 0)
    assert box[0] == 0 and box[1] == 0
    assert any(f"rows {box[0]}–{box[2]}, columns {box[1]}–{box[3]}" in c.value for c in at.caption)
    at.checkbox(key="act_grad").check().run()
    _ok(at)
    assert any("Non-zero gradient" in c.value and "inside the box" in c.value for c in at.caption)


def _checkpoint(spec, classes=None):
    model = A.random_model(spec, seed=11)
    return {"model": model.state_dict(), "spec": spec.to_dict(), "config": {"epochs": 1},
            "classes": classes or [f"kind{i}" for i in range(spec.num_classes)], "epoch": 1, "test_acc": 0.4,
            "input_mean": [0.49, 0.48, 0.45], "input_std": [0.25, 0.24, 0.26]}


def test_run_checkpoints_fit_or_name_the_layers(runs_dir):
    from alexnet.runs import RunStore

    store = RunStore(runs_dir)
    same = get_spec(SMALL)
    other = get_spec("keras-cifar10-32")
    rid_other = store.create_run("keras run", other.to_dict(), {"epochs": 1})
    store.save_checkpoint(rid_other, "last", _checkpoint(other))
    rid = store.create_run("small run", same.to_dict(), {"epochs": 1})
    store.save_checkpoint(rid, "last", _checkpoint(same))
    store.save_checkpoint(rid, "best", _checkpoint(same))
    at = _app()
    at.run()
    at.radio(key="act_wsrc").set_value("Run checkpoint").run()
    _ok(at)
    at.selectbox(key=at.session_state["act_run__widget"]).set_value(rid).run()
    _ok(at)
    assert not at.error
    assert "kind" in _chart_text(at)  # top-5 with the checkpoint's class names
    # a run of another network is not offered as weights (they cannot fit): it is counted, and its
    # network can be taken instead (issue 16 §17)
    offered = at.selectbox(key=at.session_state["act_run__widget"]).options
    assert len(offered) == 1 and "small run" in offered[0], offered
    assert any("1 run with a checkpoint trained other networks" in c.value for c in at.caption)
    assert "keras run" in at.selectbox(key=at.session_state["act_run_other__widget"]).options[0]
    at.button(key="act_use_run_net").click().run()
    _ok(at)
    assert at.session_state["net_spec"].name == "keras-cifar10-32"
    assert not at.error


def test_run_source_without_runs(runs_dir):
    at = _app()
    at.run()
    at.radio(key="act_wsrc").set_value("Run checkpoint").run()
    _ok(at)
    assert any("has a checkpoint yet" in i.value for i in at.info)


def test_local_pth_file_by_path(runs_dir):  # a path box only opens files under the runs, data or home folder
    tmp_path = runs_dir
    p = tmp_path / "net.pth"
    buf = io.BytesIO()
    torch.save(_checkpoint(get_spec(SMALL), classes=[f"thing{i}" for i in range(10)]), buf)
    p.write_bytes(buf.getvalue())
    at = _app()
    at.run()
    at.radio(key="act_wsrc").set_value("Local .pth file").run()
    at.text_input(key="act_pth_path").input(str(p)).run()
    _ok(at)
    assert not at.error and "thing" in _chart_text(at)
    at.text_input(key="act_pth_path").input(str(tmp_path / "missing.pth")).run()
    _ok(at)
    assert any("no such file" in e.value for e in at.error)
    assert any("random weights" in c.value for c in at.caption)


def test_torchvision_weights_cached_and_offline(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(A, "TORCHVISION_WEIGHTS_URL", "http://127.0.0.1:9/alexnet-owt-7be5be79.pth")
    at = _app("torchvision")
    at.run()
    at.radio(key="act_wsrc").set_value("torchvision ImageNet").run()
    _ok(at)
    assert any("are not in" in i.value for i in at.info)
    at.button(key="act_tv_dl").click().run()
    _ok(at)
    assert any("no internet connection" in e.value for e in at.error)
    # a file already in torch.hub's cache is used, with ImageNet's class names
    dest = A.torchvision_weights_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), dest)
    at.run()
    _ok(at)
    assert not at.error
    names = A.torchvision_categories()
    text = _chart_text(at)
    assert sum(n in text for n in names) >= 5


def test_collapsing_network_shows_the_message():
    at = _app("paddle-cifar10-32")
    at.run()
    _ok(at)
    assert any("collapses" in e.value and "Architecture page" in e.value for e in at.error)


@pytest.mark.browser
def test_browser_shows_conv1_maps_of_a_photograph(page, app_server):
    """The real app in Chromium: the default network (paper-2012) with random weights on
    china.jpg shows the input, predictions, conv1's maps and filters without an exception."""
    from conftest import screenshot, wait_for_app

    page.goto(app_server.url + "/activations")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=120_000)
    wait_for_app(page, 120_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    body = page.inner_text("body")
    assert "conv1: maps 48 of 96 (55×55)" in body and "conv1 filters: 96 of 11×11 RGB" in body
    assert "Input as the network sees it (3×227×227)" in body
    screenshot(page, "activations-paper-2012-random")


def test_the_box_caption_says_clipped_only_when_the_field_leaves_the_image():
    """conv1 of paper-2012 at unit (17, 25) sees rows 68–78 whole; a corner unit of a padded conv does not."""
    import torch

    from explorer import act_views as av

    unit = av.Unit("conv1", torch.zeros(96, 55, 55), {}, 0, 17, 25)
    inside = av.box_caption(unit, (68, 100, 78, 110), None, {"receptive_field": 11, "jump": 4})
    assert "rows 68–78" in inside and "clipped" not in inside
    corner = av.box_caption(unit, (0, 0, 3, 3), None, {"receptive_field": 5, "jump": 1})
    assert "clipped at the image border" in corner
    assert "clipped" in av.box_caption(unit, (0, 0, 2, 3), None, {"receptive_field": [3, 5], "jump": 1})


def test_top5_names_every_class_even_when_the_names_are_numbers():
    """Digit classes are named "1", "6", …: plotly took them for numbers, spaced the bars by value
    and labelled only every other one (the winner's name was missing)."""
    from explorer import act_figures as F

    preds = [{"index": i, "label": str(i), "prob": p} for i, p in ((1, 0.83), (4, 0.044), (0, 0.031),
                                                                       (2, 0.02), (6, 0.016))]
    fig = F.topk_figure(preds, title="Top-5 predictions")
    assert fig.layout.yaxis.type == "category"
    assert list(fig.data[0].y) == ["6", "2", "0", "4", "1"]  # most probable on top
