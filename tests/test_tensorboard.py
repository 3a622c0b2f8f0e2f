"""TensorBoard event files (issue 12 §6), read back with TensorBoard's own EventAccumulator:
a stored run's step and epoch metrics, its HPARAMS session with the final accuracy and its
network summary; `train --tensorboard DIR` writes the same while it trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet.runs import RunStore

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10, "layers": [
    {"type": "conv", "out_channels": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def read_back(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc, tag) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def hparams_of(acc) -> dict:
    """The session-start hyper-parameters in the folder's HPARAMS plugin data."""
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                    for k, v in data.session_start_info.hparams.items()}
    return {}


def metric_tags(acc) -> set[str]:
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("experiment"):
            return {m.name.tag for m in data.experiment.metric_infos}
    return set()


def fake_run(store: RunStore, name: str, lr: float, accs: list[float]) -> str:
    """A stored run with 5 steps per epoch (the numbers are the test's own)."""
    rid = store.create_run(name, TINY, {"lr": lr, "epochs": len(accs), "optimizer": "sgd", "max_steps": None})
    for e, acc in enumerate(accs, start=1):
        store.log_steps(rid, [{"step": 5 * (e - 1) + i, "epoch": e - 1 + i / 5, "loss": 2.0 / (5 * e + i),
                               "lr": lr, "images_per_sec": 100.0 + i, "time": 1000.0 + 5 * e + i} for i in range(1, 6)])
        store.log_epoch(rid, {"epoch": e, "train_loss": 1.0 / e, "train_acc": acc - 0.05, "test_loss": 1.5 / e,
                              "test_acc": acc, "epoch_seconds": 2.0, "time": 1000.0 + 5 * e + 5})
    store.set_status(rid, "completed")
    return rid


def test_export_round_trips_metrics_hparams_and_summary(runs_dir, tmp_path):
    store = RunStore()
    a = fake_run(store, "fast", 0.1, [0.5, 0.7, 0.65])
    b = fake_run(store, "slow", 0.01, [0.3, 0.4])
    out = tmp_path / "tb"
    r = subprocess.run([sys.executable, "-m", "alexnet", "runs", "--export-tensorboard", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "tensorboard --logdir" in r.stdout
    for rid, lr, accs in ((a, 0.1, [0.5, 0.7, 0.65]), (b, 0.01, [0.3, 0.4])):
        acc = read_back(out / rid)
        steps = store.step_metrics(rid)
        assert scalars(acc, "train/loss") == [(s["step"], pytest.approx(s["loss"])) for s in steps]
        assert [e.wall_time for e in acc.Scalars("train/loss")] == pytest.approx([s["time"] for s in steps])
        assert scalars(acc, "epoch/test_acc") == [(5 * i, pytest.approx(v)) for i, v in enumerate(accs, 1)]
        assert [v for _, v in scalars(acc, "epoch/epoch")] == list(range(1, len(accs) + 1))
        assert scalars(acc, "hparam/final_test_acc")[-1][1] == pytest.approx(accs[-1])
        assert scalars(acc, "hparam/best_test_acc")[-1][1] == pytest.approx(max(accs))
        hp = hparams_of(acc)
        assert hp["lr"] == pytest.approx(lr) and hp["optimizer"] == "sgd" and hp["network"] == "tiny"
        assert hp["params"] == 8 * 9 + 8 + 8 * 16 * 10 + 10  # conv 1→8 3×3, fc 128→10
        assert {"hparam/final_test_acc", "hparam/best_test_acc"} <= metric_tags(acc)
        text = acc.Tensors("network/summary/text_summary")[0].tensor_proto.string_val[0].decode()
        assert "| 0 | conv1 | conv | 8×8×8 |" in text and "Total params: 1,370" in text


def test_export_named_runs_again_replaces_and_unknown_run_is_an_error(runs_dir, tmp_path):
    store = RunStore()
    a = fake_run(store, "one", 0.1, [0.5])
    fake_run(store, "two", 0.1, [0.6])
    out = tmp_path / "tb"
    for _ in range(2):  # the second export replaces the first: no doubled points
        r = subprocess.run([sys.executable, "-m", "alexnet", "runs", "--export-tensorboard", str(out), a],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == [a]
    assert len(scalars(read_back(out / a), "train/loss")) == 5
    r = subprocess.run([sys.executable, "-m", "alexnet", "runs", "--export-tensorboard", str(out), "nope"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no run 'nope'" in r.stderr


def test_train_writes_tensorboard_live(runs_dir, tmp_path):
    out = tmp_path / "live"
    cfg = tmp_path / "net.json"
    cfg.write_text(json.dumps(TINY))
    r = subprocess.run([sys.executable, "-m", "alexnet", "train", "--config", str(cfg), "--dataset", "digits",
                        "--epochs", "2", "--batch-size", "128", "--cpu-threads", "1", "--log-every", "3",
                        "--no-progress", "--tensorboard", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout.strip().splitlines()[-1])["run_id"]
    store = RunStore()
    acc = read_back(out / rid)
    steps = store.step_metrics(rid)
    assert len(steps) == 2 * (1437 // 128)
    assert scalars(acc, "train/loss") == [(s["step"], pytest.approx(s["loss"])) for s in steps]
    epochs = store.epoch_metrics(rid)
    assert scalars(acc, "epoch/test_acc") == [(11, pytest.approx(epochs[0]["test_acc"])),
                                               (22, pytest.approx(epochs[1]["test_acc"]))]
    assert scalars(acc, "hparam/final_test_acc")[-1][1] == pytest.approx(store.get_run(rid)["last_test_acc"])
    assert hparams_of(acc)["batch_size"] == 128


def test_train_with_nproc_writes_tensorboard_from_rank_0(tmp_path):
    """--nproc 2 on the CPU (gloo): the launched processes get --tensorboard; rank 0 alone
    writes the events, each step once."""
    from tests.test_distributed import _launch, _only_run

    out = tmp_path / "tb"
    proc = _launch(tmp_path, "--epochs", "1", "--max-steps", "6", "--batch-size", "64", "--tensorboard", str(out))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    run = _only_run(tmp_path)
    acc = read_back(out / run["id"])
    steps = RunStore(tmp_path / "runs", reap=False).step_metrics(run["id"])
    assert len(steps) == 6
    assert scalars(acc, "train/loss") == [(s["step"], pytest.approx(s["loss"])) for s in steps]
    assert [p.name for p in out.iterdir()] == [run["id"]]
