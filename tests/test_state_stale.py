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
    at.button(key="tr_fix_preset").click().run()  # "Use alexnet-cifar-32" under the too-long warning
    assert not at.exception, at.exception
    assert _name_box(at).value == "alexnet-cifar-32 · digits · quick"
