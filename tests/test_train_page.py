"""AppTest of pages/train.py with the real engine: a tiny network on digits, on CPU.

AppTest never fires ``run_every``, so the tests call ``run()`` again while the run
trains in its own process, as a browser's fragment refresh would."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from alexnet import estimate, jobs
from alexnet.runs import FINISHED
from alexnet.train import make_config
from tests.slow_steps import slow_training_steps
from tests.train_helpers import TINY, use_tiny, wait_status

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")


def chart_points(chart) -> dict[str, int]:
    """Points per trace of an AppTest plotly_chart element (plotly 6 sends numpy
    arrays as {'dtype', 'bdata'})."""
    fig = json.loads(chart.proto.spec)
    out = {}
    for i, tr in enumerate(fig["data"]):
        x = tr.get("x")
        if isinstance(x, dict) and "bdata" in x:
            n = len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"])))
        else:
            n = len(x or [])
        out[tr.get("name", str(i))] = n
    return out


def charts(at) -> dict[str, dict[str, int]]:
    """{chart key suffix: points per trace} of the live panel."""
    out = {}
    for c in at.get("plotly_chart"):
        fig = json.loads(c.proto.spec)
        title = fig["layout"].get("title", {}).get("text", "?")
        out[title] = chart_points(c)
    return out


@pytest.fixture
def page(train_page):
    """The Train page (conftest's ``train_page``: tiny network, private store, runs stopped after)."""
    return train_page


def launch(at, epochs: int, **settings) -> str:
    at.number_input(key="tr_quick_epochs").set_value(epochs)
    for k, v in settings.items():
        at.number_input(key=f"tr_quick_{k}").set_value(v)
    at.button(key="tr_launch").click()
    at.run()
    assert not at.exception, at.exception
    return at.selectbox(key="tr_watch_sel").value


def rerun_until(at, store, rid, statuses, timeout=120):
    statuses = (statuses,) if isinstance(statuses, str) else statuses
    deadline = time.time() + timeout
    while store.get_run(rid)["status"] not in statuses:
        assert time.time() < deadline, store.get_run(rid)
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    at.run()  # the page after the run ended
    return store.get_run(rid)


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("success", "info", "warning", "error") for e in getattr(at, kind))


def test_before_launch_shows_device_time_and_memory(page):
    labels = {m.label: m.value for m in page.metric}
    assert labels["Device"] == "cpu"
    assert labels["Time per epoch (est.)"].endswith("s")
    assert "KB" in labels["Training memory (est.)"] or "MB" in labels["Training memory (est.)"]
    assert "No runs yet" in " ".join(c.value for c in page.caption)


def test_launch_tiny_run_until_complete_with_charts(page, runs_dir):
    rid = launch(page, epochs=2)
    store = jobs.get_manager(runs_dir).store()
    assert store.get_run(rid)["status"] in ("queued", "running")
    seen_running = False
    deadline = time.time() + 120
    while store.get_run(rid)["status"] in jobs.ACTIVE:
        assert time.time() < deadline
        time.sleep(0.5)
        page.run()
        assert not page.exception, page.exception
        seen_running |= "Running on" in texts(page)
    page.run()
    run = store.get_run(rid)
    assert run["status"] == "completed", run["error"]
    assert seen_running
    assert "Completed" in texts(page)
    c = charts(page)
    loss = c["Training loss per step"]
    assert loss["loss (raw)"] == len(store.step_metrics(rid)) == 44  # 2 epochs × 1437 // 64 steps
    assert c["Accuracy per epoch"] == {"train": 2, "test": 2}
    assert c["Learning rate"]["learning rate"] == 44
    assert run["best_test_acc"] > 0.5
    # the estimate stands next to the measurement
    table = page.dataframe[-1].value
    assert list(table["measured"])[0].endswith("s") and list(table["estimated"])[0].endswith("s")
    assert page.progress[-1].value == 100


def test_stop_a_running_run(page, runs_dir, monkeypatch):
    slow_training_steps(monkeypatch, runs_dir.parent)  # ≥ 0.05 s a step: 72,000 steps outlast Stop on any machine
    rid = launch(page, epochs=200, batch=4)
    m = jobs.get_manager(runs_dir)
    wait_status(m.store(), rid, "running", timeout=60)
    deadline = time.time() + 60
    while not m.store().step_metrics(rid):
        assert time.time() < deadline
        time.sleep(0.3)
    key = f"train_stop_{rid}"
    for _ in range(40):  # the live panel may still be drawing the queued state: rerun until it shows Stop
        page.run()
        if any(b.key == key for b in page.button):
            break
        time.sleep(0.25)
    else:
        raise AssertionError(f"no Stop button while running: {texts(page)[:500]}")
    page.button(key=key).click()
    page.run()
    run = rerun_until(page, m.store(), rid, FINISHED, timeout=60)
    assert run["status"] == "stopped", run
    assert m.store().checkpoint_path(rid, "last") is not None
    assert "Stopped" in texts(page)


def test_two_launches_queue_then_both_complete(page, runs_dir):
    a = launch(page, epochs=1)
    b = launch(page, epochs=1)
    m = jobs.get_manager(runs_dir)
    assert a != b and page.selectbox(key="tr_watch_sel").value == b
    assert m.store().get_run(b)["status"] == "queued"
    assert m.position(b) == 1
    assert "number 1 in line for cpu" in texts(page)
    run_b = rerun_until(page, m.store(), b, FINISHED, timeout=180)
    run_a = m.store().get_run(a)
    assert run_a["status"] == run_b["status"] == "completed"
    assert run_b["started"] >= run_a["finished"] - 0.5  # one at a time on the CPU


def test_a_fresh_session_finds_the_running_job(page, runs_dir, monkeypatch):
    slow_training_steps(monkeypatch, runs_dir.parent)  # ≥ 0.05 s a step: still running when the new session looks
    rid = launch(page, epochs=200, batch=4)
    other = AppTest.from_file(PAGE, default_timeout=60)  # a refreshed tab: new session state
    use_tiny(other)
    other.run()
    assert other.selectbox(key="tr_watch_sel").value == rid
    jobs.get_manager(runs_dir).stop(rid)


def test_failure_reason_in_plain_words(page, runs_dir):
    m = jobs.get_manager(runs_dir)
    cfg = make_config("quick", dataset=str(runs_dir / "no-such-folder"), epochs=1, device="cpu").to_dict()
    rid = m.submit("bad data", TINY.to_dict(), cfg)
    run = wait_status(m.store(), rid, FINISHED, timeout=60, tick=m.tick)
    assert run["status"] == "failed"
    page.run()
    page.selectbox(key="tr_watch_sel").set_value(rid)
    page.run()
    errors = " ".join(e.value for e in page.error)
    assert "Failed:" in errors and "no-such-folder" in errors and "Traceback" not in errors


def test_too_slow_run_warns_and_suggests(page, monkeypatch):
    # paper-2012 on a CPU: a fixed 50 GFLOP/s keeps the verdict independent of this machine
    monkeypatch.setattr(estimate, "cpu_flops_per_second", lambda: 50e9)
    monkeypatch.setenv("ALEXNET_AUTO_TIMING", "0")  # the model's verdict: no timing that may end during the test
    page.radio(key="tr_source").set_value("preset")
    page.run()
    page.selectbox(key="tr_preset").set_value("paper-2012")
    page.number_input(key="tr_quick_epochs").set_value(10)  # ~2 min an epoch at 50 GFLOP/s: 20 min in all
    page.run()
    warn = " ".join(w.value for w in page.warning)
    assert "too long" in warn and "alexnet-cifar-32" in warn
    page.button(key="tr_fix_preset").click()
    page.run()
    assert page.selectbox(key="tr_preset").value == "alexnet-cifar-32"


def test_time_budget_is_the_simplest_launch(page, runs_dir):
    """Issue 15: 'train for 1 / 3 / 10 minutes' — the budget replaces the Epochs box, the run
    is stored with max_seconds (the schedule anneals to it) and enough epochs that the
    budget ends it, and the whole-run estimate is at most the budget."""
    from alexnet.config import BUDGET_EPOCHS
    from alexnet.textfmt import fmt_seconds

    budget = page.radio(key="tr_quick_budget")
    assert budget.value is None and list(budget.options) == ["the epochs below", "1 minute", "3 minutes", "10 minutes"]
    assert page.number_input(key="tr_quick_epochs").value == make_config("quick").epochs
    budget.set_value(60.0)
    page.run()
    assert not page.exception, page.exception
    assert not [w for w in page.number_input if w.key == "tr_quick_epochs"]  # no Epochs box with a budget
    whole = next(m for m in page.metric if m.label == "Whole run (est.)").value
    assert whole == fmt_seconds(60.0)  # 200 epochs would take longer than a minute: the budget ends it
    page.button(key="tr_launch").click()
    page.run()
    rid = page.selectbox(key="tr_watch_sel").value
    cfg = jobs.get_manager(runs_dir).store().get_run(rid)["config"]
    assert cfg["max_seconds"] == 60.0 and cfg["epochs"] == BUDGET_EPOCHS and cfg["schedule"] == "onecycle"
