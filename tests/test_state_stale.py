"""Issue 16, "State that goes stale": what a control shows is what the page shows.

Each test walks the steps of the report in AppTest and checks what a person would
read on the page afterwards."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "pages" / "train.py")


def _name_box(at):
    return at.text_input(key=at.session_state["tr_name_key"])


# ---- item 1: the Train run name follows network, dataset and recipe ----------------------------
def test_run_name_follows_a_chosen_preset_and_the_use_preset_button(runs_dir):
    at = AppTest.from_file(TRAIN, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert _name_box(at).value == "paper-2012 · digits · quick"
    at.radio(key="tr_source").set_value("preset").run()
    assert _name_box(at).value == "alexnet-cifar-32 · digits · quick"
    at.selectbox(key="tr_preset").set_value("lenet-5").run()
    assert _name_box(at).value == "lenet-5 · digits · quick"
    at.radio(key="tr_source").set_value("current").run()
    assert _name_box(at).value == "paper-2012 · digits · quick"
    at.number_input(key="tr_quick_epochs").set_value(60).run()  # long enough for the too-long warning
    at.button(key="tr_fix_preset").click().run()  # "Use alexnet-cifar-32" under the too-long warning
    assert not at.exception, at.exception
    assert _name_box(at).value == "alexnet-cifar-32 · digits · quick"



# ---- item 3: Runs — the overlay choice and the Run selector stay put -------------------------
RUNS = str(ROOT / "pages" / "runs.py")


def _runs_page() -> AppTest:
    at = AppTest.from_file(RUNS, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def test_runs_overlay_choice_stays_when_a_run_is_added(runs_dir):
    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run

    store = RunStore(runs_dir)
    a, b, c = (fake_run(store, n) for n in ("first", "second", "third"))
    at = _runs_page()
    at.multiselect(key=at.session_state["rn_compare__widget"]).set_value([a]).run()
    fake_run(store, "fourth")
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key=at.session_state["rn_compare__widget"]).value == [a]


def test_runs_selector_stays_on_a_renamed_run_and_opens_its_network(runs_dir):
    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run
    from tests.train_helpers import TINY

    store = RunStore(runs_dir)
    wide = TINY.with_layer(0, TINY.layers[0].replace(out_channels=16))
    old = fake_run(store, "old one", spec=wide)
    fake_run(store, "newest")
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("../pages/runs.py").run()
    at.selectbox(key=at.session_state["rn_run__widget"]).set_value(old).run()
    at.text_input(key=f"rn_name_{old}").set_value("wide conv1").run()
    at.button(key="rn_rename").click().run()
    assert not at.exception, at.exception
    assert store.get_run(old)["name"] == "wide conv1"
    sel = at.selectbox(key=at.session_state["rn_run__widget"])
    assert sel.value == old
    assert sel.format_func(sel.value) == f"wide conv1 ({old})"
    at.button(key="rn_open").click().run()
    assert at.session_state["net_spec"].to_dict() == store.get_run(old)["spec"]


# ---- item 6: the diff chart pairs layers by name and role ------------------------------------
def test_diff_pairs_layers_by_name_and_role_not_position():
    from alexnet import get_spec, summarize
    from explorer.figures import diff_rows

    paper, paddle = summarize(get_spec("paper-2012")), summarize(get_spec("paddle-cifar10-32"))
    rows = diff_rows(paper, paddle)  # the same 23 names and types; dropout sits elsewhere in the classifier
    assert not [r["name"] for r in rows if r["change"] in ("added", "removed")]
    assert all(r["base_name"] == r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    params = {s: {r["name"]: r["params"] for r in x["layers"]} for s, x in (("paper", paper), ("paddle", paddle))}
    for fc in ("fc1", "fc2", "fc3"):
        assert by_name[fc]["d_params"] == params["paddle"][fc] - params["paper"][fc]
    # an inserted layer is one 'added' row, and the layers after it still pair with themselves
    from alexnet.spec import layer_names
    from explorer.editor import default_layer

    s = get_spec("paddle-cifar10-32")
    i = layer_names(s).index("fc1")
    grown = summarize(s.insert_layer(i + 1, default_layer("linear", (4096,))))
    rows = diff_rows(paddle, grown)
    assert [r["change"] for r in rows] == ["added"] and all(r["base_name"] != "fc2" for r in rows)


# ---- item 7: the sidebar counts notes apart from warnings -----------------------------------
def test_sidebar_counts_ceil_mode_notes_as_notes_not_warnings():
    from alexnet import NetSpec, summarize

    spec = NetSpec.from_dict({
        "name": "ceil-notes", "input": {"channels": 1, "height": 7, "width": 7}, "num_classes": 10,
        "layers": [{"type": "maxpool", "kernel": 2, "stride": 2, "ceil_mode": True}, {"type": "flatten"},
                   {"type": "linear", "out_features": 10}]})
    s = summarize(spec)
    notes = [r for r in s["layers"] if r["message"] and r["status"] == "ok"]
    assert len(notes) == 1 and "ceil mode" in notes[0]["message"] and len(s["warnings"]) == 1  # the setting
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=90)
    at.session_state["net_spec"], at.session_state["net_base"], at.session_state["net_version"] = spec, "lenet-5", 0
    at.run()
    assert not at.exception, at.exception
    assert not [w.value for w in at.sidebar.warning]
    assert any("1 note" in c.value for c in at.sidebar.caption)


# ---- issue 14 leftover: the Experiments page and a damaged run store -------------------------
def test_experiments_page_says_what_is_wrong_with_a_damaged_run_store(runs_dir):
    from tests.test_escapes import _damage

    _damage(runs_dir, "random bytes")
    at = AppTest.from_file(str(ROOT / "pages" / "experiments.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("is damaged or not a run store" in e.value and "backup copy" in e.value for e in at.error)


# ---- item 4: Experiments — Results show the experiment just launched -------------------------
def test_experiments_results_show_the_experiment_just_launched(runs_dir, monkeypatch):
    from alexnet import jobs

    def submit(self, name, spec, config, meta=None, experiment_id=None):  # queued and at once stopped: no training
        rid = self.store().create_run(name, spec, config, experiment_id=experiment_id)
        self.store().set_status(rid, "stopped")
        return rid

    monkeypatch.setattr(jobs.JobManager, "submit", submit)
    at = AppTest.from_file(str(ROOT / "pages" / "experiments.py"), default_timeout=120)
    at.session_state["exp_builtin"] = "relu-vs-tanh"
    at.run()
    at.radio(key="exp_seeds_relu-vs-tanh").set_value(1)
    at.button(key="exp_launch").click().run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    first = at.selectbox(key=at.session_state["exp_pick__widget"]).value
    at.selectbox(key="exp_builtin").set_value("overlapping-pooling").run()
    at.radio(key="exp_seeds_overlapping-pooling").set_value(1)
    at.button(key="exp_launch").click().run()
    assert not at.exception, at.exception
    pick = at.selectbox(key=at.session_state["exp_pick__widget"])
    assert pick.value != first and pick.format_func(pick.value).startswith("overlapping-pooling")


# ---- item 5: an uploaded or pasted network is its own base ----------------------------------
def _arch_widget(at, kind: str, suffix: str):
    (w,) = [w for w in getattr(at, kind) if w.key and w.key.endswith(suffix)]
    return w


def _paste(at, text: str) -> None:
    at.text_area(key="arch_paste_text").set_value(text)
    at.button[[b.label for b in at.button].index("Load pasted JSON")].click()
    at.run()
    assert not at.exception, at.exception


def test_a_pasted_network_is_its_own_base_and_a_preset_can_be_chosen_again():
    from alexnet import get_spec

    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("../pages/architecture.py").run()
    mine = get_spec("paddle-cifar10-32").with_input(height=37, width=37).replace(name="my-paddle")
    _paste(at, mine.to_json())
    captions = " ".join(c.value for c in at.caption)
    assert "paper-2012" not in captions and "my-paddle" in captions
    assert _arch_widget(at, "selectbox", "_preset").value is None  # no preset claims it
    at.toggle(key="arch_charts").set_value(True).run()
    assert any("No changes against" in i.value and "my-paddle" in i.value for i in at.info)  # diff vs itself
    _arch_widget(at, "selectbox", "_preset").set_value("paper-2012").run()
    assert not at.exception, at.exception
    assert at.session_state["net_spec"] == get_spec("paper-2012")


def test_the_network_name_is_editable_and_names_the_download():
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("../pages/architecture.py").run()
    _arch_widget(at, "text_input", "_name").set_value("my-net").run()
    assert not at.exception, at.exception
    assert at.session_state["net_spec"].name == "my-net"
    assert "`my-net`" in " ".join(m.value for m in at.sidebar.markdown)  # download: file_name=f"{spec.name}.json"


# ---- item 7b: settings survive a visit to another page -----------------------------------------
def test_train_settings_and_activations_weights_survive_a_page_switch(runs_dir):
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("../pages/train.py").run()
    at.selectbox(key="tr_recipe").set_value("d2l").run()
    at.number_input(key="tr_d2l_epochs").set_value(7).run()
    at.switch_page("../pages/activations.py").run()
    at.radio(key="act_wsrc").set_value("Local .pth file").run()
    at.switch_page("../pages/home.py").run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="tr_recipe").value == "d2l" and at.number_input(key="tr_d2l_epochs").value == 7
    at.switch_page("../pages/activations.py").run()
    assert at.radio(key="act_wsrc").value == "Local .pth file"


# ---- item 7b: the Activations run picker and "Use this run's network" ----------------------------
def test_activations_run_picker_prefers_this_network_and_says_when_it_replaces_it(runs_dir):
    from alexnet.runs import RunStore
    from tests.test_runs_page import fake_run
    from tests.train_helpers import TINY

    store = RunStore(runs_dir)
    wide = TINY.with_layer(0, TINY.layers[0].replace(out_channels=16)).replace(name="tiny-wide")
    mine = fake_run(store, "this network")
    other = fake_run(store, "another network, still training", spec=wide, status="running")
    for rid in (mine, other):
        store.save_checkpoint(rid, "last", {"state_dict": {}, "epoch": 1})
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=120)
    at.session_state["net_spec"], at.session_state["net_base"], at.session_state["net_version"] = TINY, "lenet-5", 0
    at.run()
    at.switch_page("../pages/activations.py").run()
    at.radio(key="act_wsrc").set_value("Run checkpoint").run()
    assert not at.exception, at.exception
    run_box = at.selectbox(key=at.session_state["act_run__widget"])
    assert run_box.value == mine  # not the newest run, which trained another network
    store.rename(mine, "renamed")
    at.run()
    assert at.selectbox(key=at.session_state["act_run__widget"]).value == mine  # no jump on a rename
    at.selectbox(key=at.session_state["act_run_other__widget"]).set_value(other).run()
    at.button(key="act_use_run_net").click().run()
    assert not at.exception, at.exception
    assert at.session_state["net_spec"].name == "tiny-wide" and at.session_state["net_base"] == "tiny-wide"
    said = " ".join(str(e.value) for kind in ("success", "info", "toast") for e in getattr(at, kind, []))
    assert "tiny-wide" in said and "replaced" in said
