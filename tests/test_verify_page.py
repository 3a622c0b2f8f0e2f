"""AppTest of the Architecture page's "Check with PyTorch": a green tick per agreeing row,
a table value that is off shown in red with both values, a huge network refused."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest
from test_arch_page import open_page, widget

from alexnet import layers as L
from alexnet import summarize
from alexnet.spec import NetSpec

ROW = re.compile(r'<tr class="(ok|bad)" data-name="([^"]*)">(.*?)</tr>')
BAD = re.compile(r'<td class="bad" data-field="(\w+)">table ([^<]*) · torch ([^<]*)</td>')


def verify_rows(at: AppTest) -> dict[str, tuple[str, str]]:
    body = "".join(h.proto.body for h in at.get("html") if 'class="verify"' in h.proto.body)
    return {name: (cls, cells) for cls, name, cells in ROW.findall(body)}


def press_check(at: AppTest) -> AppTest:
    """Press the button, then rerun (as the page's poll does) until torch's side is in."""
    import time

    at.button(key="arch_verify").click()
    at.run()
    for _ in range(240):
        assert not at.exception, at.exception
        if not any("in the background" in i.value for i in at.info):
            break
        assert widget(at, "selectbox", "_preset")  # the page is usable while torch works
        time.sleep(0.25)
        at.run()
    assert not at.exception, at.exception
    return at


def test_check_with_pytorch_ticks_every_row():
    at = press_check(open_page("lenet-5"))
    rows = verify_rows(at)
    assert list(rows) == [r["name"] for r in summarize(at.session_state["net_spec"])["layers"]]
    assert all(cls == "ok" and cells.count("✓") == 3 for cls, cells in rows.values())
    assert any("PyTorch agrees with every row: all 12 layers" in s.value for s in at.success)
    at.run()  # the result stays on screen across reruns (cached for this network)
    assert len(verify_rows(at)) == 12


def test_a_table_value_that_is_off_is_shown_in_red_with_both_values(monkeypatch):
    count = L.Conv.count

    def off_by_one(self, layer, info, a, b):
        count(self, layer, info, a, b)
        info.params += 1

    monkeypatch.setattr(L.Conv, "count", off_by_one)
    at = press_check(open_page("lenet-5"))
    rows = verify_rows(at)
    assert {n for n, (cls, _) in rows.items() if cls == "bad"} == {"conv1", "conv2"}
    assert BAD.findall(rows["conv1"][1]) == [("params", "157", "156")]
    assert BAD.findall(rows["conv2"][1]) == [("params", "2,417", "2,416")]
    assert rows["conv1"][1].count("✓") == 2  # shape and multiply-adds still agree
    assert any("2 of 12 layers differ from PyTorch (conv1, conv2)" in e.value for e in at.error)


def test_a_network_too_big_for_memory_is_not_built(monkeypatch):
    import alexnet.build

    monkeypatch.setattr(alexnet.build, "build_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built")))
    at = open_page("lenet-5")
    huge = NetSpec.from_dict({"input": [3, 224, 224], "layers": [{"type": "flatten"},
                                                                 {"type": "linear", "out_features": 8192}]})
    at.session_state["net_spec"] = huge
    at.run()
    press_check(at)
    assert not verify_rows(at)
    assert any("too large to build on this machine" in w.value for w in at.warning)
    assert widget(at, "selectbox", "_preset")  # the page is still there
