"""AppTest of pages/runs.py on a run store the tests fill directly (no training)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alexnet.runs import RunStore
from tests.test_train_page import chart_points
from tests.train_helpers import TINY

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "runs.py")


def fake_run(store: RunStore, name: str, spec=TINY, lr=0.05, epochs=3, status="completed", pid=None,
             images_per_sec: float = 1000.0) -> str:
    rid = store.create_run(name, spec.to_dict(), {"dataset": "digits", "epochs": epochs, "lr": lr, "device": "cpu",
                                                  "recipe": "quick"})
    store.mark_running(rid, device="cpu (2 threads)", pid=pid)
    t0 = time.time()
    store.log_steps(rid, [{"step": s, "epoch": s / 10, "loss": 2.0 / s, "lr": lr, "images_per_sec": images_per_sec,
                           "time": t0 + s} for s in range(1, 10 * epochs + 1)])
    for e in range(1, epochs + 1):
        store.log_epoch(rid, {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + 0.1 * e, "test_loss": 1.1 / e,
                              "test_acc": 0.4 + 0.1 * e, "epoch_seconds": 1.5, "time": t0 + 10 * e})
    if status != "running":
        store.set_status(rid, status)
    return rid


@pytest.fixture
def filled(runs_dir):
    store = RunStore(runs_dir)
    wide = TINY.with_layer(0, TINY.layers[0].replace(out_channels=16))
    a = fake_run(store, "baseline")
    b = fake_run(store, "wider conv1", spec=wide, lr=0.1)
    store.save_checkpoint(b, "best", {"state_dict": {}, "epoch": 3})
    return store, a, b


def open_page(**kw) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_table_lists_every_run_with_its_columns(filled):
    store, a, b = filled
    at = open_page()
    df = at.dataframe[0].value
    assert set(df["name"]) == {"baseline", "wider conv1"}
    for col in ("network", "dataset", "recipe", "status", "best test acc (%)", "epochs", "wall time (s)", "device",
                "created"):
        assert col in df.columns
    row = df[df["name"] == "baseline"].iloc[0]
    assert row["best test acc (%)"] == pytest.approx(70.0) and row["epochs"] == "3/3" and row["recipe"] == "quick"


def test_compare_overlays_and_diffs(filled):
    store, a, b = filled
    at = open_page()
    assert set(at.multiselect(key=at.session_state["rn_compare__widget"]).value) == {a, b}
    overlays = [c for c in at.get("plotly_chart") if "rn_overlay" in c.proto.id]
    assert [sum(chart_points(c).values()) for c in overlays] == [6, 6]  # 2 runs × 3 epochs, vs epoch and vs time
    texts = [df.value for df in at.dataframe]
    arch = [t for t in texts if "field" in t.columns]
    assert arch and list(arch[0]["field"]) == ["out_channels"]
    cfg = [t for t in texts if "setting" in t.columns]
    assert cfg and list(cfg[0]["setting"]) == ["lr"]


def test_rename_and_delete_with_confirmation(filled):
    store, a, b = filled
    at = open_page()
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(a).run()
    at.text_input(key=f"rn_name_{a}").set_value("renamed run").run()
    at.button(key="rn_rename").click().run()
    assert store.get_run(a)["name"] == "renamed run"
    at.button(key="rn_delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert store.get_run(a) is not None  # nothing deleted before the confirmation
    at.button(key="rn_delete_yes").click().run()
    assert not at.exception
    assert store.get_run(a) is None and store.get_run(b) is not None


def test_downloads_offered(filled):
    store, a, b = filled
    at = open_page()
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(b).run()
    keys = [d.proto.id for d in at.get("download_button")]
    assert any("rn_csv" in k for k in keys) and any("rn_ckpt" in k for k in keys)


def test_killed_run_shows_interrupted_with_its_metrics(runs_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: a training process killed with its server
    store = RunStore(runs_dir, reap=False)
    rid = fake_run(store, "was running", status="running", pid=dead.pid)
    at = open_page()  # the page after a server restart
    assert store.get_run(rid)["status"] == "interrupted"
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(rid).run()
    assert any("Interrupted" in w.value for w in at.warning)
    live = {c.proto.id: chart_points(c) for c in at.get("plotly_chart")}
    loss = [v for k, v in live.items() if "runs_loss" in k]
    assert loss and loss[0]["loss (raw)"] == 30


def test_open_run_network_in_architecture(filled):
    store, a, b = filled
    if not (ROOT / "pages" / "architecture.py").exists():
        pytest.skip("the architecture page is not there")
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("../pages/runs.py").run()
    assert not at.exception, at.exception
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(b).run()
    at.button(key="rn_open").click().run()
    assert not at.exception, at.exception
    spec = at.session_state["net_spec"]
    assert spec.to_dict() == store.get_run(b)["spec"]
    assert not [c for c in at.get("plotly_chart") if "rn_overlay" in c.proto.id]  # now on another page
