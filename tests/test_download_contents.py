"""The Runs page's downloads by content: the metrics CSV holds every stored step and epoch row
with their values, and the checkpoint file, loaded into a plain torch.nn network built by the
independent oracle (tests/oracle.py) with the checkpoint's own weights and input normalisation,
scores the digits test set exactly as the run recorded for its last epoch."""

from __future__ import annotations

import csv
import io

import pytest
import torch

from alexnet.data import load_dataset
from alexnet.runs import RunStore
from alexnet.train import make_config, train
from explorer import downloads
from explorer.run_views import metrics_csv
from tests import oracle
from tests.train_helpers import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = train(TINY, make_config("quick", epochs=2, device="cpu", train_subset=300, dataset="digits"), store=store)
    assert result["status"] == "completed", result
    return store, result["run_id"]


def test_metrics_csv_holds_every_stored_row(trained):
    store, rid = trained
    steps, epochs = store.step_metrics(rid), store.epoch_metrics(rid)
    rows = list(csv.DictReader(io.StringIO(metrics_csv(steps, epochs))))
    assert [r["kind"] for r in rows] == ["step"] * len(steps) + ["epoch"] * len(epochs) and len(epochs) == 2
    for r, s in zip(rows, steps):
        assert int(r["step"]) == s["step"] and float(r["loss"]) == pytest.approx(s["loss"], rel=1e-12)
        assert float(r["lr"]) == pytest.approx(s["lr"], rel=1e-12)
    for r, e in zip(rows[len(steps):], epochs):
        assert float(r["test_acc"]) == pytest.approx(e["test_acc"], rel=1e-12)
        assert float(r["train_loss"]) == pytest.approx(e["train_loss"], rel=1e-12)


def test_checkpoint_download_scores_as_the_run_recorded(trained):
    store, rid = trained
    path = store.checkpoint_path(rid, "last")
    data = downloads.file_data(path)
    data = data() if callable(data) else data
    assert data == path.read_bytes()
    ckpt = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    steps = [s for s in oracle.build(ckpt["spec"], macs=False)]
    assert all(s.error is None for s in steps)
    net = oracle.network(steps)
    tensors = [t for s in steps for t in s.module.state_dict().values()]
    assert [tuple(t.shape) for t in tensors] == [tuple(t.shape) for t in ckpt["model"].values()]
    with torch.no_grad():  # the checkpoint's weights, in order, into the oracle's modules
        for mine, theirs in zip(tensors, ckpt["model"].values()):
            mine.copy_(theirs)
    ds = load_dataset("digits")
    mean = torch.tensor(ckpt["input_mean"]).view(1, -1, 1, 1)
    std = torch.tensor(ckpt["input_std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = net.eval()((ds.x_test.float() / 255 - mean) / std).argmax(1)  # mean/std in 0–1 units
    acc = (pred == ds.y_test).float().mean().item()
    assert acc == pytest.approx(store.epoch_metrics(rid)[-1]["test_acc"], abs=1.5 / len(ds.y_test))
    assert ckpt["test_acc"] == pytest.approx(store.epoch_metrics(rid)[-1]["test_acc"])
