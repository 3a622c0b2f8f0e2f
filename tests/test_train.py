"""The training engine on tiny networks and the embedded digits: configs and recipes,
a real run whose checkpoint reproduces its reported accuracy, failures recorded as
data (divergence, bad data, bad network), stop requests, SIGTERM and SIGKILL of a
training subprocess, and the CLI (``--run-id`` as the web UI uses it, ``runs --json``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from alexnet.build import build_model
from alexnet.data import load_dataset
from alexnet.presets import get_spec
from alexnet.runs import RunStore
from alexnet.train import RECIPES, ConfigError, TrainConfig, adapt_spec, evaluate, make_config, make_scheduler, train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10, "layers": [
    {"type": "conv", "out_channels": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
# one CPU thread: tiny ops on a busy 2-core machine run far faster without OpenMP barriers
FAST = dict(cpu_threads=1, log_every=2)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ---- config --------------------------------------------------------------------------------
def test_config_round_trip_and_validation():
    cfg = make_config("keras-sgd-steps", epochs=3, lr=0.2)
    assert cfg.recipe == "keras-sgd-steps" and cfg.nesterov and cfg.flip and cfg.translate == 0.125
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for name in RECIPES:
        assert make_config(name).recipe == name
    for required in ("quick", "d2l", "seed-001-adam", "paddle-momentum", "keras-sgd-steps"):
        assert required in RECIPES
    assert make_config("seed-001-adam").optimizer == "adam" and make_config("d2l").init == "xavier"
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="'lr'"):
        make_config("quick", lr=-1)
    with pytest.raises(ConfigError, match="'optimizer'"):
        make_config("quick", optimizer="lbfgs")
    with pytest.raises(ConfigError, match="unknown recipe"):
        make_config("nope")


def test_schedules_follow_their_recipes():
    model = torch.nn.Linear(2, 2)
    cfg = make_config("keras-sgd-steps", epochs=30)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    sched = make_scheduler(opt, cfg, steps_per_epoch=10)
    lrs = []
    for _ in range(300):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[150] == pytest.approx(0.01) and lrs[299] == pytest.approx(0.001)
    cfg = make_config("quick", epochs=4, lr=0.1)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    sched = make_scheduler(opt, cfg, steps_per_epoch=25)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(lrs) == pytest.approx(0.1, rel=1e-3) and lrs[0] < 0.02 and lrs[-1] < 0.01  # one cycle
    cfg = make_config("quick", schedule="cosine", warmup_epochs=1, epochs=4)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    sched = make_scheduler(opt, cfg, steps_per_epoch=10)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(cfg.lr / 10) and max(lrs) == pytest.approx(cfg.lr) and lrs[-1] < cfg.lr / 10


def test_adapt_spec_resizes_the_classifier():
    spec, note = adapt_spec(get_spec("torchvision"), 10)
    assert spec.layers[-1].out_features == 10 and spec.num_classes == 10 and "1000 to 10" in note
    same, note = adapt_spec(spec, 10)
    assert same is spec and note is None


# ---- a real run ---------------------------------------------------------------------------------
def test_train_records_metrics_and_checkpoints_that_reproduce_the_accuracy(tmp_path, digits, capsys):
    store = RunStore(tmp_path)
    cfg = make_config("quick", epochs=2, batch_size=64, lr=0.1, flip=True, translate=0.125, **FAST)
    r = train(TINY, cfg, store=store, progress=False, dataset=digits)
    assert r["status"] == "completed", r
    assert "step/s" not in capsys.readouterr().err  # progress=False: no bar
    assert set(r) >= {"run_id", "status", "epochs", "test_acc", "train_loss", "images_per_sec", "seconds", "device"}
    assert r["epochs"] == 2 and r["test_acc"] > 0.6 and r["device"].startswith("cpu")
    run = store.get_run(r["run_id"])
    assert run["status"] == "completed" and run["epochs_done"] == 2 and run["best_test_acc"] >= run["last_test_acc"]
    steps = store.step_metrics(r["run_id"])
    assert [s["step"] for s in steps] == list(range(1, 2 * (1437 // 64) + 1))
    assert all(s["loss"] > 0 and s["lr"] > 0 and s["images_per_sec"] > 0 for s in steps)
    epochs = store.epoch_metrics(r["run_id"])
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[-1]["test_acc"] == pytest.approx(r["test_acc"], abs=1e-4)
    for which in ("best", "last"):
        ckpt = torch.load(store.checkpoint_path(r["run_id"], which), weights_only=True, map_location="cpu")
        assert set(ckpt) >= {"model", "spec", "config", "classes", "epoch", "test_acc", "input_mean", "input_std"}
        model = build_model(ckpt["spec"])
        model.load_state_dict(ckpt["model"])
        from alexnet.spec import as_spec

        _, acc = evaluate(model, digits.x_test, digits.y_test, as_spec(ckpt["spec"]), ckpt["input_mean"],
                          ckpt["input_std"], torch.device("cpu"))
        assert acc == pytest.approx(ckpt["test_acc"], abs=1e-9)  # the checkpoint is the model that scored
    assert ckpt["classes"] == digits.classes and ckpt["config"]["epochs"] == 2


def test_gray_data_on_an_rgb_network_with_resize(tmp_path, digits):
    spec = {"name": "rgb16", "input": {"channels": 3, "height": 16, "width": 16}, "layers": [
        {"type": "conv", "out_channels": 4, "kernel": 3, "stride": 2}, {"type": "relu"}, {"type": "flatten"},
        {"type": "linear", "out_features": 1000}]}
    r = train(spec, make_config("quick", epochs=1, max_steps=3, **FAST), store=RunStore(tmp_path), progress=False,
              dataset=digits)
    assert r["status"] == "completed" and r["epochs"] == pytest.approx(3 / 22, abs=1e-3)
    ckpt = torch.load(RunStore(tmp_path).checkpoint_path(r["run_id"], "last"), weights_only=True)
    assert ckpt["input_mean"] == [digits.mean[0]] * 3  # the stats the 3-channel input was normalised with
    assert ckpt["spec"]["layers"][-1]["out_features"] == 10  # classifier resized for the 10 digits


# ---- failures are data ----------------------------------------------------------------------
def test_divergence_is_a_failed_run(tmp_path, digits):
    store = RunStore(tmp_path)
    cfg = make_config("quick", lr=100.0, schedule="constant", label_smoothing=0.0, epochs=3, **FAST)
    r = train(TINY, cfg, store=store, progress=False, dataset=digits)
    assert r["status"] == "failed" and "diverged at step" in r["error"] and "learning rate too high?" in r["error"]
    run = store.get_run(r["run_id"])
    assert run["status"] == "failed" and run["error"].startswith("diverged at step")
    n = int(run["error"].split("step ")[1].split(" ")[0])
    assert all(s["step"] < n for s in store.step_metrics(r["run_id"]))


def test_bad_dataset_network_and_config_are_failed_runs(tmp_path):
    store = RunStore(tmp_path)
    r = train(TINY, make_config("quick", dataset=str(tmp_path / "missing"), **FAST), store=store, progress=False)
    assert r["status"] == "failed" and r["error"].startswith("dataset: unknown dataset")
    bad = dict(TINY, layers=[{"type": "conv", "out_channels": 4, "kernel": 20}, {"type": "flatten"},
                             {"type": "linear", "out_features": 10}])
    r = train(bad, make_config("quick", **FAST), store=store, progress=False)
    assert r["status"] == "failed" and "invalid network" in r["error"]
    r = train(TINY, {"epochs": 0}, store=store, progress=False)
    assert r["status"] == "failed" and "'epochs'" in r["error"]
    assert {x["status"] for x in store.list_runs()} == {"failed"} and len(store.list_runs()) == 3


def test_stop_request_ends_stopped_with_a_checkpoint(tmp_path, digits):
    store = RunStore(tmp_path)
    rid = store.create_run("to stop", TINY, {})

    def stopper():
        deadline = time.time() + 60
        while time.time() < deadline and not store.step_metrics(rid):
            time.sleep(0.05)
        store.request_stop(rid)

    t = threading.Thread(target=stopper)
    t.start()
    r = train(TINY, make_config("quick", epochs=500, **FAST), store=store, run_id=rid, progress=False,
              dataset=digits)
    t.join()
    assert r["status"] == "stopped" and r["epochs"] < 500
    assert store.get_run(rid)["status"] == "stopped"
    ckpt = torch.load(store.checkpoint_path(rid, "last"), weights_only=True, map_location="cpu")
    assert ckpt["epochs_float"] == r["epochs"] and ckpt["epoch"] == int(r["epochs"])
    assert store.epoch_metrics(rid)[-1]["test_acc"] == pytest.approx(ckpt["test_acc"])


# ---- subprocesses: the CLI as the web UI runs it ------------------------------------------------
def _cli(*args, env_extra=None, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "alexnet", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_steps(store, rid, proc, n=2, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(store.step_metrics(rid)) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("no step metrics appeared")


def _queued(store, epochs=500):
    return store.create_run("cli run", TINY, make_config("quick", epochs=epochs, **FAST).to_dict())


def test_cli_run_id_trains_the_stored_run(runs_dir):
    store = RunStore(runs_dir)
    rid = store.create_run("ui run", TINY, make_config("quick", epochs=1, max_steps=4, **FAST).to_dict())
    proc = _cli("train", "--run-id", rid, "--runs-dir", str(runs_dir))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = json.loads(out.strip().splitlines()[-1])
    assert final["run_id"] == rid and final["status"] == "completed"
    assert "step" in err  # the tqdm bar is on stderr
    assert store.get_run(rid)["status"] == "completed" and len(store.step_metrics(rid)) == 4
    again = _cli("train", "--run-id", rid, "--runs-dir", str(runs_dir))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 2 and "not queued" in err
    listing = _cli("runs", "--json", "--runs-dir", str(runs_dir))
    out, _ = listing.communicate(timeout=300)
    assert json.loads(out)[0]["id"] == rid and json.loads(out)[0]["status"] == "completed"


def test_sigterm_stops_with_a_checkpoint(runs_dir):
    store = RunStore(runs_dir)
    rid = _queued(store)
    proc = _cli("train", "--run-id", rid, "--runs-dir", str(runs_dir), "--no-progress")
    _wait_for_steps(store, rid, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped"
    run = store.get_run(rid)
    assert run["status"] == "stopped" and "SIGTERM" in run["error"]
    assert store.checkpoint_path(rid, "last") is not None


def test_sigkill_leaves_an_interrupted_run_with_its_metrics(runs_dir):
    store = RunStore(runs_dir)
    rid = _queued(store)
    proc = _cli("train", "--run-id", rid, "--runs-dir", str(runs_dir), "--no-progress")
    _wait_for_steps(store, rid, proc, n=4)
    before = store.step_metrics(rid)
    assert store.get_run(rid)["status"] == "running"
    proc.kill()
    proc.wait(timeout=30)
    after_open = RunStore(runs_dir)  # opening the store notices the dead process
    run = after_open.get_run(rid)
    assert run["status"] == "interrupted" and run["finished"] is not None
    kept = after_open.step_metrics(rid)
    assert len(kept) >= len(before) and kept[:len(before)] == before


def test_cli_options_and_errors(runs_dir):
    proc = _cli("train", "--preset", "nope")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "unknown preset" in err and "Traceback" not in err
    proc = _cli("train", "--config", str(runs_dir / "missing.json"), "--epochs", "1")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "cannot read --config" in err
    spec_file = runs_dir / "tiny.json"
    spec_file.write_text(json.dumps(TINY))
    proc = _cli("train", "--config", str(spec_file), "--dataset", "digits", "--epochs", "1", "--max-steps", "3",
                "--batch-size", "32", "--lr", "0.05", "--seed", "3", "--cpu-threads", "1", "--name", "from file",
                "--no-progress")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = json.loads(out.strip().splitlines()[-1])
    run = RunStore(runs_dir).get_run(final["run_id"])
    assert run["name"] == "from file" and run["config"]["batch_size"] == 32 and run["config"]["seed"] == 3


def test_out_of_memory_is_a_failed_run_with_a_batch_size_that_fits(tmp_path, digits, monkeypatch):
    """A model that 'runs out of memory' above 16 images per batch, as CUDA would."""
    import alexnet.train as T

    class Hungry(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if x.shape[0] > 16:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(x)

    real_build = T.build_model
    monkeypatch.setattr(T, "build_model", lambda spec: Hungry(real_build(spec)))
    store = RunStore(tmp_path)
    r = train(TINY, make_config("quick", batch_size=64, **FAST), store=store, progress=False, dataset=digits)
    assert r["status"] == "failed" and "at batch size 64" in r["error"] and "try --batch-size 16" in r["error"]
    assert store.get_run(r["run_id"])["error"] == r["error"]


def test_time_budget_anneals_the_learning_rate_and_stops(tmp_path, digits):
    from alexnet.train import timed_lr_factor

    assert timed_lr_factor("onecycle", 0) == pytest.approx(0.1) and timed_lr_factor("onecycle", 0.25) == 1.0
    assert timed_lr_factor("onecycle", 1.0) == pytest.approx(1e-3) and timed_lr_factor("cosine", 1.0) == 1e-3
    store = RunStore(tmp_path)
    cfg = make_config("quick", epochs=1000, max_seconds=4.0, **FAST)
    r = train(TINY, cfg, store=store, progress=False, dataset=digits)
    assert r["status"] == "completed" and 0 < r["epochs"] < 1000
    lrs = [s["lr"] for s in store.step_metrics(r["run_id"])]
    assert max(lrs) > 5 * lrs[0] and lrs[-1] < max(lrs) / 3  # warmed up, then annealed before the end


def test_a_run_cancelled_while_its_process_starts_is_not_trained(runs_dir):
    """The UI cancels a queued run (stop flag) just as its training process starts:
    train() must not mark it running and train it anyway."""
    from alexnet import get_spec
    from alexnet.runs import RunStore
    from alexnet.train import make_config, train

    store = RunStore(runs_dir)
    cfg = make_config("quick", dataset="digits", epochs=1, train_subset=100, device="cpu").to_dict()
    rid = store.create_run("x", get_spec("alexnet-mini-15").to_dict(), cfg)
    store.request_stop(rid)
    out = train(store.get_run(rid)["spec"], cfg, store=store, run_id=rid, progress=False)
    assert out["status"] == "stopped"
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["started"] is None  # never marked running
    assert store.epoch_metrics(rid) == [] and store.step_metrics(rid) == []
    assert store.checkpoint_path(rid, "last") is None
