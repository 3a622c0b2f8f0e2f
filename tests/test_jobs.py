"""The job manager (alexnet/jobs.py), the estimates (alexnet/estimate.py) and the run figures (explorer/run_figures.py).

Scheduling logic runs against a real RunStore with fake processes (fast, exact);
two tests spawn the real engine: a tiny run that completes, and one killed with
SIGKILL mid-run that must end 'interrupted' with its metrics kept."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from alexnet import estimate, jobs
from alexnet.runs import FINISHED, RunStore
from alexnet.textfmt import fmt_seconds
from explorer import run_figures as rf
from explorer import run_views as rv
from tests.train_helpers import TINY, wait_status


class FakeProc:
    """Stands in for a Popen: the test decides when it ends and with which code."""

    _next_pid = 900000

    def __init__(self):
        FakeProc._next_pid += 1
        self.pid = FakeProc._next_pid
        self.rc = None
        self.signals = []

    def poll(self):
        return self.rc

    def send_signal(self, sig):
        self.signals.append(sig)

    def wait(self, timeout=None):
        return self.rc


class FakeLauncher:
    def __init__(self):
        self.procs: dict[str, FakeProc] = {}
        self.order: list[str] = []

    def __call__(self, run_id, root, log):
        p = self.procs[run_id] = FakeProc()
        self.order.append(run_id)
        return p


@pytest.fixture
def mgr(runs_dir):
    launcher = FakeLauncher()
    m = jobs.JobManager(runs_dir, launcher=launcher, poll_seconds=0.05)
    m.launcher_fake = launcher
    m.ensure_running = lambda: None  # ticks are driven by the test
    yield m
    m.close()


CFG = {"dataset": "digits", "epochs": 1, "device": "cpu"}


def submit(m, name, device="cpu"):
    return m.submit(name, TINY.to_dict(), dict(CFG, device=device), meta={"recipe": "quick"})


def finish(m, rid, status="completed", rc=0):
    if status:
        m.store().set_status(rid, status)
    m.launcher_fake.procs[rid].rc = rc


def test_one_job_per_device_in_order_with_positions(mgr):
    a, b, c = submit(mgr, "a"), submit(mgr, "b"), submit(mgr, "c")
    assert mgr.launcher_fake.order == [a]
    assert [(q["id"], q["position"]) for q in mgr.queue()] == [(a, 0), (b, 1), (c, 2)]
    assert mgr.position(c) == 2
    finish(mgr, a)
    mgr.tick()
    assert mgr.launcher_fake.order == [a, b]
    assert mgr.position(c) == 1
    finish(mgr, b)
    mgr.tick()
    finish(mgr, c)
    assert mgr.tick() is False  # nothing left to do
    assert mgr.launcher_fake.order == [a, b, c]
    assert not mgr.jobs


def test_different_devices_run_side_by_side(mgr):
    a, b = submit(mgr, "cpu"), submit(mgr, "gpu", device="cuda")
    assert set(mgr.launcher_fake.order) == {a, b}
    assert mgr.meta(b)["device_key"] == "cuda:0"


def test_crash_becomes_failed_with_the_reason_in_plain_words(mgr):
    rid = submit(mgr, "boom")
    mgr.store().mark_running(rid, device="cpu", pid=mgr.launcher_fake.procs[rid].pid)
    mgr.log_path(rid).parent.mkdir(parents=True, exist_ok=True)
    mgr.log_path(rid).write_text("Traceback (most recent call last):\n  ...\nValueError: something broke\n")
    finish(mgr, rid, status=None, rc=1)
    mgr.tick()
    run = mgr.store().get_run(rid)
    assert run["status"] == "failed"
    assert "exited with code 1" in run["error"] and "ValueError: something broke" in run["error"]


def test_killed_process_becomes_interrupted(mgr):
    rid = submit(mgr, "killed")
    finish(mgr, rid, status=None, rc=-9)
    mgr.tick()
    run = mgr.store().get_run(rid)
    assert run["status"] == "interrupted" and "SIGKILL" in run["error"]


def test_launcher_error_is_a_failed_run_not_an_exception(runs_dir):
    def broken(run_id, root, log):
        raise OSError("no such interpreter")

    m = jobs.JobManager(runs_dir, launcher=broken)
    rid = m.submit("x", TINY.to_dict(), CFG)
    run = m.store().get_run(rid)
    assert run["status"] == "failed" and "no such interpreter" in run["error"]
    m.close()


def test_stop_cancels_queued_and_signals_running(mgr):
    a, b = submit(mgr, "a"), submit(mgr, "b")
    assert mgr.stop(b) == "cancelled"
    assert mgr.store().get_run(b)["status"] == "stopped"
    mgr.store().mark_running(a, device="cpu", pid=mgr.launcher_fake.procs[a].pid)
    assert mgr.stop(a) == "stop requested"
    assert mgr.store().stop_requested(a)
    assert mgr.launcher_fake.procs[a].signals == [signal.SIGTERM]


def test_a_second_scheduler_on_the_same_folder_does_not_launch(mgr, runs_dir):
    a = submit(mgr, "a")  # mgr holds the scheduler lock while its job lives
    mgr.store().mark_running(a, device="cpu", pid=os.getpid())  # as the engine does when it starts
    other_launcher = FakeLauncher()
    other = jobs.JobManager(runs_dir, launcher=other_launcher, per_device=5)
    b = other.submit("b", TINY.to_dict(), CFG)
    assert other_launcher.order == []  # it only watches
    assert other.position(b) == 1
    finish(mgr, a)
    mgr.tick()  # the lock holder launches the other server's queued run
    assert mgr.launcher_fake.order == [a, b]
    other.close()


def test_manager_registry_is_process_wide(runs_dir):
    assert jobs.get_manager() is jobs.get_manager(runs_dir)


def test_delete_removes_run_meta_and_log(mgr):
    rid = submit(mgr, "gone")
    finish(mgr, rid)
    mgr.tick()
    mgr.log_path(rid).parent.mkdir(exist_ok=True)
    mgr.log_path(rid).write_text("log")
    mgr.delete(rid)
    assert mgr.store().get_run(rid) is None
    assert not mgr.meta_path(rid).exists() and not mgr.log_path(rid).exists()


def test_explain_exit_and_progress():
    assert "killed by SIGKILL" in jobs.explain_exit(-9, "")
    assert jobs.explain_exit(2, "junk\nerror: dataset 'x' not found\n").endswith("error: dataset 'x' not found")
    run = {"status": "running", "config": {"epochs": 4}, "started": time.time() - 10}
    steps = [{"step": s, "epoch": s / 10, "loss": 1.0} for s in range(1, 16)]  # 10 steps per epoch
    p = estimate.progress(run, steps, [{"epoch": 1}])
    assert p["epoch"] == 2 and p["step"] == 15 and p["steps_total"] == 40
    assert 0.3 < p["fraction"] < 0.4 and p["eta"] > 0
    assert fmt_seconds(75) == "1 min 15 s"


def test_estimate_uses_macs_and_memory(monkeypatch):
    # a fixed CPU rate: the measured one depends on how busy and how fast the machine is
    monkeypatch.setattr(estimate, "cpu_flops_per_second", lambda: 50e9)
    e1 = estimate.estimate(TINY, dataset="digits", batch_size=64, epochs=2, device="cpu")
    assert e1["steps_per_epoch"] == 22 and e1["train_images"] == 1437
    assert e1["seconds_total"] == pytest.approx(2 * e1["seconds_per_epoch"])
    from alexnet import get_spec

    big = estimate.estimate(get_spec("paper-2012"), dataset="digits", batch_size=64, epochs=2, device="cpu")
    assert big["seconds_per_epoch"] > 100 * e1["seconds_per_epoch"]
    assert big["memory_bytes"] > 60_000_000 * 4 * 3  # weights + grads + momentum


# ---- figures --------------------------------------------------------------------------------
def _steps(n):
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(n) / (n / 4)) + 0.1 * rng.random(n)
    loss[n // 3] = 50.0  # a spike must survive downsampling
    return [{"step": i + 1, "epoch": 1, "loss": float(v), "lr": 0.01, "images_per_sec": 1000.0, "time": i}
            for i, v in enumerate(loss)]


def test_downsample_keeps_the_envelope_and_caps_points():
    steps = _steps(20_000)
    fig = rf.loss_figure(steps)
    assert rf.point_count(fig) <= 2 * (rf.MAX_POINTS + 1)
    raw = fig.data[0]
    assert max(raw.y) == 50.0 and min(raw.y) == pytest.approx(min(s["loss"] for s in steps))
    assert raw.x[0] == 1 and list(raw.x) == sorted(raw.x)
    small = rf.loss_figure(_steps(50))
    assert len(small.data[0].x) == 50


def test_ema_is_bias_corrected():
    y = np.full(5, 3.0)
    assert np.allclose(rf.ema(y, 0.9), 3.0)
    assert np.isnan(rf.ema(np.array([np.nan, 1.0]))[0])


def test_overlay_vs_epoch_and_time():
    ep = [{"epoch": 1, "test_acc": 0.5, "time": 110.0, "epoch_seconds": 10},
          {"epoch": 2, "test_acc": 0.7, "time": 120.0, "epoch_seconds": 10}]
    runs = [{"label": "a", "epochs": ep, "started": 100.0}, {"label": "b", "epochs": ep[:1], "started": 100.0}]
    f = rf.overlay_figure(runs, "test_acc", "epoch")
    assert len(f.data) == 2 and list(f.data[0].y) == [50.0, 70.0]
    t = rf.overlay_figure(runs, "test_acc", "time")
    assert list(t.data[0].x) == [10.0, 20.0]


def test_spec_and_config_diff():
    a = TINY.to_dict()
    b = TINY.with_layer(0, TINY.layers[0].replace(out_channels=16)).to_dict()
    d = rv.spec_diff(a, b)
    assert d == [{"where": "layer 0 (conv)", "field": "out_channels", "from": "8", "to": "16"}]
    assert rv.spec_diff(a, a) == []
    c = rv.config_diff([{"lr": 0.1, "epochs": 2}, {"lr": 0.2, "epochs": 2}])
    assert c == [{"setting": "lr", "run 1": "0.1", "run 2": "0.2"}]
    csv = rv.metrics_csv([{"step": 1, "loss": 2.0}], [{"epoch": 1, "test_acc": 0.5}])
    assert csv.splitlines()[1].startswith("step,1,") and csv.splitlines()[2].startswith("epoch,")


def test_step_cache_reads_only_new_rows(runs_dir):
    store = RunStore(runs_dir)
    rid = store.create_run("x", TINY.to_dict(), CFG)
    store.log_steps(rid, [{"step": i, "epoch": 1, "loss": 1.0} for i in range(1, 4)])
    cache = rv.StepCache(rid)
    assert len(cache.update(store)) == 3
    store.log_steps(rid, [{"step": 4, "epoch": 1, "loss": 0.5}])
    assert [r["step"] for r in cache.update(store)] == [1, 2, 3, 4]


# ---- the real engine ----------------------------------------------------------------------
def _real_cfg(**kw):
    from alexnet.train import make_config

    return make_config("quick", dataset="digits", device="cpu", **kw).to_dict()


def test_real_tiny_run_completes(runs_dir):
    m = jobs.JobManager(runs_dir)
    rid = m.submit("tiny", TINY.to_dict(), _real_cfg(epochs=2), meta={"recipe": "quick"})
    run = wait_status(m.store(), rid, FINISHED, timeout=120, tick=m.tick)
    assert run["status"] == "completed", run["error"]
    assert run["best_test_acc"] > 0.5
    assert len(m.store().epoch_metrics(rid)) == 2 and m.store().step_metrics(rid)
    m.close()


def test_sigkill_mid_run_is_interrupted_with_metrics_kept(runs_dir):
    m = jobs.JobManager(runs_dir)
    rid = m.submit("doomed", TINY.to_dict(), _real_cfg(epochs=200, log_every=1), meta={"recipe": "quick"})
    store = m.store()
    deadline = time.time() + 90
    while len(store.epoch_metrics(rid)) < 1:
        m.tick()
        assert time.time() < deadline, store.get_run(rid)
        time.sleep(0.2)
    os.kill(m.jobs[rid].popen.pid, signal.SIGKILL)
    run = wait_status(store, rid, "interrupted", timeout=30, tick=m.tick)
    assert "SIGKILL" in run["error"] or "killed" in run["error"]
    n_steps = len(store.step_metrics(rid))
    assert n_steps >= 1 and len(store.epoch_metrics(rid)) >= 1
    # a fresh store (a restarted server) still has every metric
    assert len(RunStore(runs_dir).step_metrics(rid)) == n_steps
    m.close()


def test_runs_queued_before_a_restart_are_launched_by_the_new_server(runs_dir):
    store = RunStore(runs_dir)
    a = store.create_run("queued before restart", TINY.to_dict(), CFG)  # nobody launched it
    launcher = FakeLauncher()
    fresh = jobs.JobManager(runs_dir, launcher=launcher)  # the restarted server's manager
    assert fresh.tick() is True
    assert launcher.order == [a]
    fresh.close()
