"""Issue 16, "Feedback within a second" (items 8–11): what the faster pages must still get right.

Speeds are measured by bench/browser_latency.py, not here; these tests check that what was
cut to gain speed shows the same numbers as before.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_arch_page import open_page, shown_rows, spec_in_session, widget

from alexnet import get_spec

ROOT = Path(__file__).resolve().parent.parent


def _slider_value(at, suffix: str):
    return widget(at, "slider", suffix).value


def test_a_slider_that_keeps_its_key_still_follows_changes_made_elsewhere():
    """The Architecture page keeps a slider's widget across its own edit (item 8); a reset, a
    fix or another page's change must still redraw it with the network's value."""
    at = open_page()
    widget(at, "slider", "_L0_stride").set_value(3)
    at.run()
    assert spec_in_session(at).layers[0].stride == 3 and _slider_value(at, "_L0_stride") == 3
    widget(at, "slider", "_L0_out_channels").set_value(80)
    at.run()
    assert shown_rows(at)[0]["shape"] == "80×73×73"
    widget(at, "button", "_reset").click()  # back to paper-2012: stride 4, 96 channels
    at.run()
    assert not at.exception, at.exception
    assert _slider_value(at, "_L0_stride") == 4 and _slider_value(at, "_L0_out_channels") == 96
    assert shown_rows(at)[0]["shape"] == "96×55×55"


def test_a_change_from_outside_the_editor_redraws_the_sliders():
    at = open_page()
    widget(at, "slider", "_L0_out_channels").set_value(70)
    at.run()
    spec = get_spec("paper-2012")
    at.session_state["net_spec"] = spec.with_layer(0, spec.layers[0].replace(out_channels=50))
    at.session_state["net_version"] = at.session_state["net_version"] + 1  # as explorer.state.set_spec does
    at.run()
    assert _slider_value(at, "_L0_out_channels") == 50
    assert shown_rows(at)[0]["shape"] == "50×55×55"


def test_charts_are_drawn_on_request_and_follow_edits():
    at = open_page()
    assert not at.get("plotly_chart"), "charts are off until asked for"
    widget(at, "toggle", "arch_charts").set_value(True)
    at.run()
    assert len(at.get("plotly_chart")) == 2  # the diagram and the params/MACs bars; no diff yet
    widget(at, "slider", "_L0_out_channels").set_value(64)
    at.run()
    charts = at.get("plotly_chart")
    assert len(charts) == 3 and "conv1" in charts[2].proto.spec  # the diff chart names the edited layer


def test_runs_downloads_are_ready_when_the_buttons_are_drawn(runs_dir):
    """Item 11: a download whose data is made on click waits for a server round trip (it once
    timed out after 60 s): the Runs page's CSV and checkpoint carry their data already."""
    from streamlit.testing.v1 import AppTest
    from test_runs_page import PAGE, fake_run

    from alexnet.runs import RunStore

    store = RunStore(runs_dir)
    rid = fake_run(store, "baseline")
    store.save_checkpoint(rid, "best", {"state_dict": {}, "epoch": 3})
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    for label in ("Metrics (CSV)", "Checkpoint (best.pt)"):
        proto = buttons[label]
        assert not proto.HasField("deferred_file_id"), f"{label}: made on click"
        assert proto.url, f"{label}: no data"


def test_big_checkpoints_stay_on_disk_until_asked_for(tmp_path):
    from explorer import downloads

    small, big = tmp_path / "small.pt", tmp_path / "big.pt"
    small.write_bytes(b"x" * 10)
    big.write_bytes(b"")
    with open(big, "r+b") as f:
        f.truncate(downloads.INLINE_BYTES + 1)  # sparse: no disk used
    assert downloads.file_data(small) == b"x" * 10
    assert callable(downloads.file_data(big))


@pytest.fixture
def sleeper():
    """A live process to stand for a training process that is busy in a step (Stop sends SIGTERM;
    it ignores it, as the engine finishes its step first)."""
    p = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                          "signal.SIG_IGN); time.sleep(120)"])
    time.sleep(0.5)  # the handler is installed
    yield p
    p.kill()
    p.wait()


def _running_run_without_steps(runs_dir, pid):
    from alexnet.runs import RunStore
    from tests.train_helpers import TINY

    store = RunStore(runs_dir)
    rid = store.create_run("starting", TINY.to_dict(), {"dataset": "digits", "epochs": 1, "device": "cpu"})
    store.mark_running(rid, device="cpu (2 threads)", pid=pid)  # a live pid: not reaped
    return store, rid


def _status_texts(at) -> str:
    return " ".join(e.value for kind in ("success", "warning", "info") for e in getattr(at, kind))


def test_a_started_run_says_what_it_is_doing_before_its_first_step(runs_dir, sleeper):
    """Item 9: ~25 s at 'step 0/110' with no word: the Train page shows the engine's stage."""
    from streamlit.testing.v1 import AppTest

    from alexnet import jobs

    store, rid = _running_run_without_steps(runs_dir, sleeper.pid)
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert "starting Python and loading PyTorch" in _status_texts(at)
    log = jobs.get_manager(runs_dir).log_path(rid)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("stage: loading data\n")
    at.run()
    assert "loading data" in _status_texts(at)
    store.log_steps(rid, [{"step": 1, "epoch": 0.1, "loss": 2.0, "lr": 0.1, "images_per_sec": 10.0, "time": 1.0}])
    at.run()
    assert "loading data" not in _status_texts(at)


def test_stop_is_acknowledged_at_once(runs_dir, sleeper):
    from streamlit.testing.v1 import AppTest

    store, rid = _running_run_without_steps(runs_dir, sleeper.pid)
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    at.run()
    stop = next(b for b in at.button if b.key and b.key.endswith(f"_stop_{rid}"))
    stop.click()
    at.run()
    assert not at.exception, at.exception
    assert "Stopping…" in _status_texts(at), _status_texts(at)
    assert store.stop_requested(rid)
