"""Several GPUs from the app (issue 11): on a machine with more than one GPU the Train page
offers "GPUs: 1 … N", the estimate accounts for it, the queue reserves those devices and
the job launcher starts the run through torchrun (``--nproc``) on them.  There is no GPU
here: the device count is faked (``alexnet.devices.gpu_count``) and no process is started
(a launcher double records what it was asked).  On a CPU-only machine nothing changes."""

from __future__ import annotations

import pytest

from alexnet import devices, jobs
from tests.test_jobs import FakeProc
from tests.train_helpers import TINY


class MultiLauncher:
    """Records each launch and the devices it was given (none: a one-device run)."""

    def __init__(self):
        self.calls: dict[str, tuple[str, ...]] = {}
        self.procs: dict[str, FakeProc] = {}

    def __call__(self, run_id, root, log, devices=()):
        self.calls[run_id] = tuple(devices)
        p = self.procs[run_id] = FakeProc()
        return p


@pytest.fixture
def mgr(runs_dir):
    m = jobs.JobManager(runs_dir, launcher=MultiLauncher(), poll_seconds=0.05)
    m.ensure_running = lambda: None  # ticks are driven by the test
    yield m
    m.close()


def _submit(m, device, gpus=1):
    return m.submit("r", TINY.to_dict(), {"dataset": "digits", "epochs": 1, "device": device},
                    meta={"recipe": "quick", "gpus": gpus})


def test_a_two_gpu_run_holds_both_gpus_until_it_ends(mgr):
    both = _submit(mgr, "cuda", gpus=2)
    second = _submit(mgr, "cuda:1")  # wants a GPU the first run holds
    assert mgr.launcher.calls == {both: ("cuda:0", "cuda:1")}  # launched once, on both GPUs
    assert mgr.position(second) == 1  # waits
    third = _submit(mgr, "cuda:2")  # a GPU nobody holds: starts at once
    assert mgr.launcher.calls[third] == ()
    mgr.store().set_status(both, "completed")
    mgr.launcher.procs[both].rc = 0
    mgr.tick()
    assert second in mgr.launcher.calls and mgr.launcher.calls[second] == ()


def test_the_launcher_starts_torchrun_on_the_reserved_gpus(tmp_path, monkeypatch):
    seen = {}

    def fake_popen(cmd, **kw):
        seen.update(cmd=cmd, env=kw["env"])
        return FakeProc()

    monkeypatch.setattr(jobs.subprocess, "Popen", fake_popen)
    jobs.default_launcher("r1", tmp_path, tmp_path / "r1.log", devices=("cuda:2", "cuda:3"))
    assert seen["cmd"][-2:] == ["--nproc", "2"] and "--run-id" in seen["cmd"]
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "2,3"  # rank i trains on the i-th of these
    jobs.default_launcher("r2", tmp_path, tmp_path / "r2.log")
    assert "--nproc" not in seen["cmd"]  # one device: one process, as before


def _gpus_box(at):
    return [s for s in at.selectbox if s.label == "GPUs"]


def test_the_train_page_offers_gpus_1_to_n_and_queues_the_choice(train_page, runs_dir, monkeypatch):
    monkeypatch.setattr(devices, "gpu_count", lambda: 4)
    at = train_page
    at.run()
    box = _gpus_box(at)
    assert box and list(box[0].options) == ["1", "2", "3", "4"] and box[0].value == 4  # default: all free
    one_gpu = {m.label: m.value for m in at.metric}
    box[0].set_value(2)
    at.run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Device"].endswith("× 2")
    if one_gpu["Whole run (est.)"] != "—":  # the estimate assumes the 2 GPUs share the work
        assert shown["Whole run (est.)"] != one_gpu["Whole run (est.)"]
    m = jobs.get_manager(runs_dir)
    m.launcher = MultiLauncher()
    at.button(key="tr_launch").click()
    at.run()
    assert not at.exception, at.exception
    (run,) = m.store().list_runs()
    rid = run["id"]
    assert m.meta(rid)["gpus"] == 2 and m.meta(rid)["device_keys"] == ["cuda:0", "cuda:1"]
    m.tick()
    assert m.launcher.calls.get(rid) == ("cuda:0", "cuda:1")
    m.store().set_status(rid, "completed")
    m.launcher.procs[rid].rc = 0
    m.tick()


def test_a_cpu_only_machine_has_no_gpu_choice(train_page, monkeypatch):
    monkeypatch.setattr(devices, "gpu_count", lambda: 0)
    train_page.run()
    assert not _gpus_box(train_page)
    assert not train_page.exception
