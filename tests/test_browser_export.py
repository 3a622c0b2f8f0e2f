"""ONNX download and the Runs page's step comparison in headless Chromium (issue 12 §4, §5):
the Architecture page's ONNX button gives a file that onnx's checker accepts and onnxruntime
runs like torch; the Runs page draws the runs' step-level loss with its TensorBoard controls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import screenshot, wait_for_app

from alexnet import get_spec
from alexnet.export import export_model
from alexnet.runs import RunStore

pytestmark = pytest.mark.browser
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_architecture_onnx_download_runs_in_onnxruntime(page, app_server, tmp_path):
    pg = page
    pg.goto(f"{app_server.url}/architecture?preset=alexnet-mini-15")
    pg.wait_for_selector("table.arch", timeout=90_000)
    wait_for_app(pg, 60_000)
    button = pg.get_by_role("button", name="ONNX file (random weights)")
    button.scroll_into_view_if_needed()
    with pg.expect_download(timeout=120_000) as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "alexnet-mini-15.onnx"
    model_proto = onnx.load(str(path))
    onnx.checker.check_model(model_proto)
    spec = get_spec("alexnet-mini-15")
    _, model = export_model(spec)  # seed 0, as the page's file
    x = torch.randn(1, *spec.input.shape)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_runs_page_step_comparison(page, app_server):
    store = RunStore(app_server.runs_dir)
    spec = get_spec("alexnet-mini-15").to_dict()
    for name, lr, speed in (("lr 0.05", 0.05, 1.0), ("lr 0.2", 0.2, 1.6)):
        rid = store.create_run(name, spec, {"dataset": "digits", "epochs": 3, "lr": lr})
        store.mark_running(rid, device="cpu")
        t0 = store.get_run(rid)["started"]  # the metrics' clock starts with the run
        rng = np.random.default_rng(int(lr * 100))
        store.log_steps(rid, [{"step": s, "epoch": s / 100, "loss": 2.3 * np.exp(-speed * s / 120) + 0.05
                               + 0.15 * rng.random(), "lr": lr, "images_per_sec": 900.0, "time": t0 + 0.8 * s / speed}
                              for s in range(1, 301)])
        for e in (1, 2, 3):
            store.log_epoch(rid, {"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + 0.1 * e, "test_loss": 1.1 / e,
                                  "test_acc": 0.45 + 0.1 * e, "epoch_seconds": 80 / speed, "time": t0 + 80 * e / speed})
        store.set_status(rid, "completed")
    pg = page
    pg.goto(f"{app_server.url}/runs")
    pg.get_by_text("Training loss per step").first.wait_for(timeout=90_000)
    wait_for_app(pg, 60_000)
    pg.get_by_text("Training loss per step").first.scroll_into_view_if_needed()
    screenshot(pg, "runs_step_compare")
    pg.get_by_text("log-scale loss").click()
    pg.locator('[data-testid="stRadio"]', has_text="x axis").get_by_text("wall-clock time (s)").click()
    pg.get_by_text("log scale").first.wait_for(timeout=30_000)
    wait_for_app(pg, 60_000)
    pg.get_by_text("Training loss per step").first.scroll_into_view_if_needed()
    screenshot(pg, "runs_step_compare_log_time")
    assert pg.get_by_role("button", name="TensorBoard files of 2 run(s) (zip)").count() == 1
