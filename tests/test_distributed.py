"""Training past one process (issue 11): ``python -m alexnet train --nproc 2`` on the CPU
with gloo, through torch.distributed.run, as a user would start it.

* a 2-process run completes with one run row and each step logged once, and 2 ranks ×
  32 images give the weights 1 process × 64 images gives (same seed, no dropout or
  augmentation) — checked against a plain single-process torch loop written here;
* a stop request reaches both ranks: the run ends 'stopped' with one checkpoint, and
  the launcher exits (a rank that missed the stop would wait in its next collective);
* killing one rank ends the run 'failed' (or 'interrupted') within a bounded time, with
  no process left behind.
Each launch starts three Python processes with torch: the tests keep to a few steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet.data import load_dataset
from alexnet.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
TINY = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10, "layers": [
    {"type": "conv", "out_channels": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
# plain SGD at a constant rate, no augmentation or label smoothing: the arithmetic is the batch's mean gradient
PLAIN = ["--dataset", "digits", "--optimizer", "sgd", "--momentum", "0", "--weight-decay", "0", "--lr", "0.1",
         "--schedule", "constant", "--warmup-epochs", "0", "--no-flip", "--translate", "0", "--color-jitter", "0",
         "--label-smoothing", "0", "--precision", "fp32", "--init", "default", "--seed", "3", "--device", "cpu",
         "--log-every", "1", "--no-progress"]
TIMEOUT_ENV = {"ALEXNET_DIST_TIMEOUT": "60", "OMP_NUM_THREADS": "1"}


def _launch(tmp_path, *args) -> subprocess.Popen:
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    env = dict(os.environ, PYTHONPATH=str(ROOT), **TIMEOUT_ENV)
    return subprocess.Popen([sys.executable, "-m", "alexnet", "train", "--nproc", "2", "--config", str(spec),
                             "--runs-dir", str(tmp_path / "runs"), *PLAIN, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _only_run(tmp_path) -> dict:
    runs = RunStore(tmp_path / "runs", reap=False).list_runs()
    assert len(runs) == 1, f"expected one run row, got {[(r['id'], r['status']) for r in runs]}"
    return runs[0]


def _wait_steps(store: RunStore, proc: subprocess.Popen, n: int, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = store.list_runs()
        if runs and len(store.step_metrics(runs[0]["id"])) >= n:
            return runs[0]["id"]
        if proc.poll() is not None:
            raise AssertionError(f"the launcher ended early: {proc.communicate()}")
        time.sleep(0.2)
    raise AssertionError("no step metrics appeared")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    found = [e[5:] for e in env if e.startswith(b"RANK=")]
    return int(found[0]) if found else None


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _single_process_weights(steps: int, batch: int) -> dict[str, torch.Tensor]:
    """The TINY network trained by a plain torch loop: the engine's data order (randperm
    from a generator seeded like the run), its normalisation, PyTorch's default init."""
    ds = load_dataset("digits")
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0)
    perm = torch.randperm(len(ds.y_train), generator=torch.Generator().manual_seed(3))
    mean, std = ds.mean[0], ds.std[0]
    for i in range(steps):
        idx = perm[i * batch:(i + 1) * batch]
        x = (ds.x_train[idx].float() / 255 - mean) / std
        loss = F.cross_entropy(model(x), ds.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    names = ["conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias"]  # the engine's layer names
    return dict(zip(names, (p.detach() for p in model.parameters())))


def test_two_processes_train_like_one_with_one_run_row_and_each_step_once(tmp_path):
    proc = _launch(tmp_path, "--batch-size", "64", "--epochs", "1", "--max-steps", "5")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    run = _only_run(tmp_path)
    assert result["status"] == run["status"] == "completed", run["error"]
    assert "2 processes" in run["device"]
    store = RunStore(tmp_path / "runs", reap=False)
    steps = [r["step"] for r in store.step_metrics(run["id"])]
    assert steps == [1, 2, 3, 4, 5]  # each step once (rank 0 alone writes)
    assert len(store.epoch_metrics(run["id"])) == 1
    ckpt = torch.load(store.checkpoint_path(run["id"], "last"), weights_only=True)
    want = _single_process_weights(steps=5, batch=64)
    got = {k: v.float() for k, v in ckpt["model"].items()}
    assert sorted(got) == sorted(want)
    for k in want:  # 2 ranks × 32 = 1 process × 64: the same global batches, gradients averaged
        torch.testing.assert_close(got[k].contiguous(), want[k], rtol=1e-4, atol=1e-5, msg=k)
    # and not trivially: the weights moved from where the seed put them
    torch.manual_seed(3)
    init = nn.Conv2d(1, 8, 3, padding=1).weight
    assert (got["conv1.weight"] - init).abs().max() > 1e-3


@pytest.mark.parametrize("how, reason", [("store", "stop requested"), ("sigterm", "stopped by SIGTERM")])
def test_a_stop_reaches_both_ranks_and_one_checkpoint_is_written(tmp_path, how, reason):
    """The app stops a run both ways: the store's stop flag (read by rank 0) and SIGTERM to
    the launcher (torchrun passes it on to every rank)."""
    proc = _launch(tmp_path, "--batch-size", "32", "--epochs", "200")
    store = RunStore(tmp_path / "runs", reap=False)
    try:
        rid = _wait_steps(store, proc, 3)
        if how == "store":
            store.request_stop(rid)
        else:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # both ranks left their loop: a rank that missed the stop would wait in its next collective
    # until the 60 s timeout and the launcher would report it failed (exit 1, run 'failed')
    assert proc.returncode == 0, err[-3000:]
    run = _only_run(tmp_path)
    assert run["status"] == "stopped" and run["error"] == reason
    assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped"
    steps = [r["step"] for r in store.step_metrics(rid)]
    assert steps == list(range(1, len(steps) + 1))
    files = sorted(p.name for p in store.run_dir(rid).iterdir() if p.suffix == ".pt")
    assert "last.pt" in files and len([f for f in files if f.startswith("last")]) == 1, files
    ckpt = torch.load(store.checkpoint_path(rid, "last"), weights_only=True)
    assert 0 < ckpt["epochs_float"] < 200


def test_a_killed_rank_ends_the_run_failed_without_a_hung_process(tmp_path):
    proc = _launch(tmp_path, "--batch-size", "32", "--epochs", "200")
    store = RunStore(tmp_path / "runs", reap=False)
    workers: list[int] = []
    try:
        _wait_steps(store, proc, 3)
        workers = _children(proc.pid)
        victim = [p for p in workers if _rank_of(p) == 1]
        assert victim, f"no rank-1 process among {workers}"
        os.kill(victim[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=90)  # bounded: the launcher ends, it does not hang
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    run = _only_run(tmp_path)
    assert run["status"] in ("failed", "interrupted")
    assert "rank 1" in run["error"] and "SIGKILL" in run["error"], run["error"]
    assert json.loads(out.strip().splitlines()[-1])["status"] == run["status"]
    deadline = time.time() + 10
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "a training process outlived the run"


def test_a_global_batch_that_does_not_split_is_refused_before_launching(tmp_path, capsys):
    from alexnet.cli import main

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    rc = main(["train", "--nproc", "2", "--config", str(spec), "--runs-dir", str(tmp_path / "runs"), *PLAIN,
               "--batch-size", "33"])
    assert rc == 2 and "multiple of 2" in capsys.readouterr().err
    assert RunStore(tmp_path / "runs", reap=False).list_runs() == []
