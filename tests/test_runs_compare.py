"""Runs page, compare like TensorBoard (issue 12 §5): step-level loss of several runs on one
chart with TensorBoard's smoothing, log-scale y and step / epoch / wall-clock x axes; the
runs table's torchinfo columns (trainable / non-trainable split, estimated total size);
the page's TensorBoard and ONNX downloads."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
import torchinfo
from streamlit.testing.v1 import AppTest
from torch import nn

from alexnet.netstats import torchinfo_totals
from alexnet.runs import RunStore
from alexnet.spec import layer_from_dict
from explorer import run_figures as rf
from tests.test_runs_page import PAGE, fake_run
from tests.train_helpers import TINY


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing, written out as its scalar dashboard does it (debiased EMA)."""
    out, last, n = [], 0.0, 0
    for v in values:
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight ** n))
    return out


def trace_xy(trace) -> tuple[np.ndarray, np.ndarray]:
    def arr(v):
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return np.asarray(v, dtype=float)
    return arr(trace["x"]), arr(trace["y"])


def rows(n, t0=100.0, epoch_len=4):
    return [{"step": s, "epoch": s / epoch_len, "loss": 3.0 / s + 0.1 * (s % 3), "lr": 0.1, "images_per_sec": 10.0,
             "time": t0 + 2.0 * s} for s in range(1, n + 1)]


def test_step_overlay_smoothing_axes_and_log_scale():
    runs = [{"label": "a", "steps": rows(12), "started": 100.0}, {"label": "b", "steps": rows(8, t0=50.0), "started": None}]
    fig = json.loads(rf.step_overlay_figure(runs, smoothing=0.6, x="step").to_json())
    smooth = [t for t in fig["data"] if t.get("showlegend") is not False]
    raw = [t for t in fig["data"] if t.get("showlegend") is False]
    assert [t["name"] for t in smooth] == ["a", "b"] and len(raw) == 2
    for tr, n in zip(smooth, (12, 8)):
        x, y = trace_xy(tr)
        loss = [r["loss"] for r in rows(n)]
        assert list(x) == list(range(1, n + 1))
        assert y == pytest.approx(tensorboard_ema(loss, 0.6))
    assert trace_xy(raw[0])[1] == pytest.approx([r["loss"] for r in rows(12)])
    assert smooth[0]["line"]["color"] == raw[0]["line"]["color"] != smooth[1]["line"]["color"]
    assert fig["layout"]["yaxis"].get("type") != "log"

    fig = json.loads(rf.step_overlay_figure(runs, smoothing=0.0, x="epoch", log_y=True).to_json())
    x, y = trace_xy(fig["data"][1])
    assert x == pytest.approx([s / 4 for s in range(1, 13)]) and y == pytest.approx([r["loss"] for r in rows(12)])
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["xaxis"]["title"]["text"] == "epoch"

    fig = json.loads(rf.step_overlay_figure(runs, x="time").to_json())
    assert trace_xy(fig["data"][1])[0] == pytest.approx([2.0 * s for s in range(1, 13)])  # since the start
    assert trace_xy(fig["data"][3])[0] == pytest.approx([2.0 * s - 2.0 for s in range(1, 9)])  # since step 1
    assert "no logged steps" in rf.step_overlay_figure([{"label": "x", "steps": [], "started": None}]).to_json()


def test_torchinfo_totals_equal_torchinfo_on_plain_torch():
    """The same network written in plain torch, summarised by torchinfo on the CPU."""
    plain = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(128, 10))
    want = torchinfo.summary(plain, input_size=(1, 1, 8, 8), verbose=0, device="cpu")
    got = torchinfo_totals(TINY)
    assert got["trainable_params"] == want.trainable_params == 1370 and got["non_trainable_params"] == 0
    total = want.total_input + want.total_output_bytes + want.total_param_bytes
    assert got["total_bytes"] == total
    assert f"Estimated Total Size (MB): {total / 1e6:0.2f}" in str(want)  # the line torchinfo prints
    bn = TINY.insert_layer(1, layer_from_dict({"type": "batchnorm"}))  # conv1 → bn → …
    plain_bn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2, 2),
                             nn.Flatten(), nn.Linear(128, 10))
    want = torchinfo.summary(plain_bn, input_size=(1, 1, 8, 8), verbose=0, device="cpu")
    got = torchinfo_totals(bn)
    assert got["trainable_params"] == want.trainable_params == 1386
    assert got["total_bytes"] == want.total_input + want.total_output_bytes + want.total_param_bytes


@pytest.fixture
def two_runs(runs_dir):
    store = RunStore(runs_dir)
    a = fake_run(store, "baseline")
    b = fake_run(store, "wider", spec=TINY.with_layer(0, TINY.layers[0].replace(out_channels=16)), lr=0.1)
    return store, a, b


def step_chart(at):
    return json.loads(next(c for c in at.get("plotly_chart") if "rn_step_overlay" in c.proto.id).proto.spec)


def test_runs_page_compares_steps_and_shows_torchinfo(two_runs):
    store, a, b = two_runs
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    base = df[df["name"] == "baseline"].iloc[0]
    want = torchinfo_totals(TINY)
    assert base["trainable params"] == 1370 and base["non-trainable params"] == 0
    assert base["est. total size (MB)"] == pytest.approx(want["total_bytes"] / 1e6, abs=0.005)
    fig = step_chart(at)
    assert sum(1 for t in fig["data"] if t.get("showlegend") is not False) == 2  # both runs, step by step
    x, _ = trace_xy(fig["data"][1])
    assert len(x) == 30 and x[0] == 1
    at.radio(key="rn_step_x").set_value("epoch").run()
    at.toggle(key="rn_log_y").set_value(True).run()
    at.slider(key="rn_smooth").set_value(0.0).run()
    assert not at.exception, at.exception
    fig = step_chart(at)
    x, y = trace_xy(fig["data"][1])
    assert x[0] == pytest.approx(0.1) and fig["layout"]["yaxis"]["type"] == "log"
    assert y == pytest.approx([r["loss"] for r in store.step_metrics(b if "wider" in fig["data"][1]["name"] else a)])
    labels = [btn.proto.label for btn in at.get("download_button")]
    assert any(lbl.startswith("TensorBoard files of 2 run(s)") for lbl in labels)


def test_tensorboard_zip_holds_each_runs_events(two_runs):
    from alexnet.tensorboard import export_zip

    store, a, b = two_runs
    with zipfile.ZipFile(io.BytesIO(export_zip(store, [a, b]))) as z:
        folders = {n.split("/")[1] for n in z.namelist()}
        assert folders == {a, b} and all("events.out.tfevents" in n for n in z.namelist())


def test_runs_page_offers_onnx_of_a_trained_run(two_runs):
    from alexnet.export import export_model

    store, a, _ = two_runs
    _, model = export_model(TINY, seed=3)
    store.save_checkpoint(a, "best", {"model": model.state_dict(), "spec": TINY.to_dict()})
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(a).run()
    assert not at.exception, at.exception
    labels = [btn.proto.label for btn in at.get("download_button")]
    assert "ONNX (trained weights)" in labels and "TorchScript (trained weights)" in labels
