"""The run store: rows, metrics, stop flags, liveness (dead pid, reused pid), atomic
checkpoints, and a reader in one process while another process writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from alexnet.runs import RunStore, RunStoreError, load_checkpoint, process_start_token

SPEC = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "layers": [
    {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def test_create_get_list_rename_delete(runs_dir):
    store = RunStore()  # ALEXNET_RUNS_DIR from the fixture
    assert store.root == runs_dir and (runs_dir / "runs.sqlite").exists()
    mode = store._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"
    a = store.create_run("first", SPEC, {"epochs": 1})
    time.sleep(0.01)
    b = store.create_run("second", SPEC, {"epochs": 2}, experiment_id="exp1")
    r = store.get_run(a)
    assert r["name"] == "first" and r["status"] == "queued" and r["spec"] == SPEC and r["config"] == {"epochs": 1}
    for key in ("id", "name", "created", "status", "spec", "config", "device", "error", "pid", "started",
                "finished", "best_test_acc", "last_test_acc", "epochs_done", "experiment_id"):
        assert key in r
    assert [x["id"] for x in store.list_runs()] == [b, a]  # newest first
    assert store.get_run(b)["experiment_id"] == "exp1"
    store.rename(a, "renamed")
    assert store.get_run(a)["name"] == "renamed"
    store.set_status(a, "failed", "boom")
    r = store.get_run(a)
    assert r["status"] == "failed" and r["error"] == "boom" and r["finished"] is not None
    with pytest.raises(RunStoreError):
        store.set_status(a, "exploded")
    store.log_steps(a, [{"step": 1, "epoch": 0.1, "loss": 2.0, "lr": 0.1, "images_per_sec": 10.0}])
    store.save_checkpoint(a, "last", {"x": torch.ones(2)})
    store.delete(a)
    assert store.get_run(a) is None and store.step_metrics(a) == [] and not (runs_dir / a).exists()
    assert store.get_run("nope") is None
    with pytest.raises(RunStoreError):
        store.checkpoint_path("../etc", "best")


def test_metrics_and_accuracies(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run("m", SPEC, {})
    store.log_steps(rid, [{"step": s, "epoch": s / 10, "loss": 1.0 / s, "lr": 0.1, "images_per_sec": 100.0}
                          for s in range(1, 21)])
    assert len(store.step_metrics(rid)) == 20
    since = store.step_metrics(rid, since_step=15)
    assert [m["step"] for m in since] == [16, 17, 18, 19, 20]
    assert set(since[0]) == {"step", "epoch", "loss", "lr", "images_per_sec", "time"}
    for e, acc in ((1, 0.5), (2, 0.7), (3, 0.6)):
        store.log_epoch(rid, {"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1, "test_acc": acc,
                              "epoch_seconds": 2.0, "peak_mem_bytes": None})
    em = store.epoch_metrics(rid)
    assert [m["epoch"] for m in em] == [1, 2, 3]
    assert set(em[0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "epoch_seconds",
                          "peak_mem_bytes", "time"}
    r = store.get_run(rid)
    assert r["best_test_acc"] == 0.7 and r["last_test_acc"] == 0.6 and r["epochs_done"] == 3


def test_stop_request(tmp_path):
    store = RunStore(tmp_path)
    q = store.create_run("queued", SPEC, {})
    store.request_stop(q)
    assert store.stop_requested(q) and store.get_run(q)["status"] == "stopped"
    r = store.create_run("running", SPEC, {})
    store.mark_running(r, "cpu")
    assert not store.stop_requested(r)
    store.request_stop(r)
    assert store.stop_requested(r) and store.get_run(r)["status"] == "running"  # the trainer ends it
    assert store.stop_requested("deleted-run")  # a trainer whose row vanished stops too


def test_dead_and_reused_pids_become_interrupted(tmp_path):
    store = RunStore(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    a = store.create_run("dead", SPEC, {})
    store.mark_running(a, "cpu", pid=dead.pid)
    store.log_steps(a, [{"step": 1, "loss": 1.0}])
    alive = store.create_run("alive", SPEC, {})
    store.mark_running(alive, "cpu")  # this process
    reused = store.create_run("reused", SPEC, {})
    store.mark_running(reused, "cpu")
    # same pid, but a different process start time: the pid was reused
    store.write("UPDATE runs SET proc_start = '1' WHERE id = ?", (reused,))
    if process_start_token(os.getpid()) is None:
        pytest.skip("no /proc: cannot tell reused pids apart")
    RunStore(tmp_path)  # opening the store reaps
    assert store.get_run(a)["status"] == "interrupted" and "pid" in store.get_run(a)["error"]
    assert store.step_metrics(a)[0]["loss"] == 1.0  # metrics kept
    assert store.get_run(alive)["status"] == "running"
    assert store.get_run(reused)["status"] == "interrupted"


def test_checkpoint_is_atomic_and_loads_with_weights_only(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run("c", SPEC, {})
    assert store.checkpoint_path(rid, "best") is None
    payload = {"model": {"w": torch.randn(3, 3)}, "spec": SPEC, "config": {"lr": 0.1}, "classes": ["a", "b"],
               "epoch": 2, "test_acc": 0.5, "input_mean": [0.5], "input_std": [0.25]}
    store.save_checkpoint(rid, "best", payload)
    p = store.checkpoint_path(rid, "best")
    assert p is not None and p.name == "best.pt"
    assert [x.name for x in p.parent.iterdir()] == ["best.pt"]  # no temp file left behind
    back = torch.load(p, weights_only=True, map_location="cpu")
    assert torch.equal(back["model"]["w"], payload["model"]["w"]) and back["classes"] == ["a", "b"]
    assert load_checkpoint(p)["epoch"] == 2


WRITER = textwrap.dedent("""
    import sys, time
    from alexnet.runs import RunStore
    store = RunStore(sys.argv[1])
    rid = sys.argv[2]
    store.mark_running(rid, "cpu")
    for s in range(1, 301):
        store.log_steps(rid, [{"step": s, "epoch": s / 100, "loss": 1.0, "lr": 0.1, "images_per_sec": 1.0}])
        if s % 100 == 0:
            store.log_epoch(rid, {"epoch": s // 100, "test_acc": s / 1000})
        time.sleep(0.002)
    store.set_status(rid, "completed")
""")


def test_reading_while_another_process_writes(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run("w", SPEC, {})
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), rid],
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))
    counts = []
    deadline = time.time() + 120
    while time.time() < deadline:
        rows = store.step_metrics(rid)
        counts.append(len(rows))
        assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))  # a consistent prefix
        store.list_runs()
        store.epoch_metrics(rid)
        if store.get_run(rid)["status"] == "completed":
            break
        time.sleep(0.005)
    assert proc.wait(timeout=60) == 0
    assert counts == sorted(counts)  # never goes backwards
    assert any(0 < c < 300 for c in counts), "the reader never saw a partial run"
    assert len(store.step_metrics(rid)) == 300 and store.get_run(rid)["best_test_acc"] == 0.3
