"""AppTest of the architecture page through the real router (explorer/app.py).

Every number checked here is compared with ``alexnet.summarize`` of the spec the page
should now hold — the page must show what the CLI prints, row by row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alexnet import get_spec, list_presets, summarize
from alexnet.spec import NetSpec

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r'<tr class="([^"]*)" data-layer="(\d+)" data-name="([^"]*)" data-status="([^"]*)" '
                 r'data-shape="([^"]*)">')
MSG = re.compile(r'<tr class="msg (\w+)" data-msg-for="(\d+)"><td colspan="\d+">(.*?)</td></tr>')


def open_page(preset: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("../pages/architecture.py")
    at.run()
    assert not at.exception, at.exception
    if preset and preset != "paper-2012":
        widget(at, "selectbox", "_preset").set_value(preset)
        at.run()
        assert not at.exception, at.exception
    return at


def widget(at: AppTest, kind: str, suffix: str):
    """The widget whose key ends with ``suffix`` (keys carry the spec version)."""
    found = [w for w in getattr(at, kind) if w.key and w.key.endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[w.key for w in getattr(at, kind)]}"
    return found[0]


def table_html(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html") if 'class="arch"' in h.proto.body)


def shown_rows(at: AppTest) -> list[dict]:
    return [{"cls": c, "index": int(i), "name": n, "status": s, "shape": sh}
            for c, i, n, s, sh in ROW.findall(table_html(at))]


def shown_messages(at: AppTest) -> dict[int, tuple[str, str]]:
    return {int(i): (kind, text) for kind, i, text in MSG.findall(table_html(at))}


def spec_in_session(at: AppTest) -> NetSpec:
    return at.session_state["net_spec"]


def assert_matches_summary(at: AppTest, spec: NetSpec) -> dict:
    """Every row's shown name, status and output shape equals alexnet.summarize(spec)."""
    s = summarize(spec)
    rows = shown_rows(at)
    assert [r["name"] for r in rows] == [x["name"] for x in s["layers"]]
    for r, x in zip(rows, s["layers"]):
        assert r["status"] == x["status"], (r, x)
        want = "" if x["status"] in ("error", "not_computed") else "×".join(map(str, x["out_shape"]))
        assert r["shape"] == want, (r["name"], r["shape"], want)
    html = table_html(at)
    total = "Partial total" if s["errors"] else "Total"  # a collapsed network counts the layers before it
    assert f"{total}: {s['total_params']:,} parameters" in html
    return s


def test_page_renders_every_preset():
    at = open_page()
    assert_matches_summary(at, get_spec("paper-2012"))
    for name in list_presets():
        widget(at, "selectbox", "_preset").set_value(name)
        at.run()
        assert not at.exception, (name, at.exception)
        assert spec_in_session(at) == get_spec(name)
        s = assert_matches_summary(at, get_spec(name))
        # the formula is on screen with the user's numbers
        for row in s["layers"]:
            if row["formula"] and row["status"] != "not_computed":
                assert row["formula"].replace("·", "·") in table_html(at).replace("&gt;", ">").replace("&lt;", "<")
        # the preset's note is shown
        assert any(name in c.value for c in at.caption)


def test_conv1_stride_changes_every_later_shape():
    at = open_page()
    before = shown_rows(at)
    widget(at, "slider", "_L0_stride").set_value(2)
    at.run()
    assert not at.exception
    spec = spec_in_session(at)
    assert spec.layers[0].stride == 2
    expected = get_spec("paper-2012").with_layer(0, get_spec("paper-2012").layers[0].replace(stride=2))
    assert spec == expected
    s = assert_matches_summary(at, expected)
    after = shown_rows(at)
    # every spatial row after conv1 changed its shape (109 instead of 55, 54 instead of 27, …)
    for b, a, x in zip(before, after, s["layers"]):
        if x["type"] not in ("linear", "relu", "dropout") or x["index"] < 15:
            assert a["shape"] != b["shape"], (a, b)
    assert after[0]["shape"] == "96×109×109"
    # the sidebar totals follow
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert f"{s['total_params']:,}" in side


def test_inexact_row_warns_and_input_fix_makes_it_exact():
    at = open_page("d2l-fashion-mnist-224")
    rows = {r["name"]: r for r in shown_rows(at)}
    assert rows["conv1"]["status"] == "inexact" and "inexact" in rows["conv1"]["cls"]
    kind, text = shown_messages(at)[0]
    assert kind == "inexact" and "213/4 is not whole" in text and "never covered" in text
    fix = widget(at, "button", "_fix_0_0")
    assert fix.label == "use input 227×227"
    fix.click()
    at.run()
    assert not at.exception
    spec = spec_in_session(at)
    assert spec.input.shape == (1, 227, 227)
    s = assert_matches_summary(at, spec)
    assert s["warnings"] == [] and all(r["status"] == "ok" for r in shown_rows(at))
    assert not [b for b in at.button if b.key and "_fix_" in b.key]


def test_padding_fix_button():
    at = open_page("cifar10-227")
    fix = widget(at, "button", "_fix_0_0")
    assert fix.label == "set padding = 2"
    fix.click()
    at.run()
    spec = spec_in_session(at)
    assert spec.layers[0].padding == 2 and spec.input.shape == (3, 227, 227)
    assert_matches_summary(at, spec)
    assert shown_rows(at)[0]["status"] == "ok" and shown_rows(at)[0]["shape"] == "96×56×56"


def test_collapse_is_an_error_row_not_a_traceback():
    at = open_page("paddle-cifar10-32")
    s = assert_matches_summary(at, get_spec("paddle-cifar10-32"))
    rows = shown_rows(at)
    bad = [r for r in rows if r["status"] == "error"]
    assert [r["name"] for r in bad] == ["pool3"] and "error" in bad[0]["cls"]
    kind, text = shown_messages(at)[bad[0]["index"]]
    assert kind == "error" and "pool3" in text and "collapses" in text
    after = rows[bad[0]["index"] + 1:]
    assert after and all(r["status"] == "not_computed" for r in after)
    assert "not computed" in table_html(at)
    assert any("does not compute" in e.value for e in at.sidebar.error)
    # the collapse's fixes are buttons on that row; removing the pool makes it compute
    labels = [b.label for b in at.button if b.key and f"_fix_{bad[0]['index']}_" in b.key]
    assert labels == [f["label"] for f in s["layers"][bad[0]["index"]]["fixes"]]
    widget(at, "button", f"_fix_{bad[0]['index']}_0").click()
    at.run()
    assert not at.exception
    s2 = assert_matches_summary(at, spec_in_session(at))
    assert s2["errors"] == []


def test_editing_into_a_collapse_shows_the_error_row():
    at = open_page()
    widget(at, "slider", "_L0_stride").set_value(16)
    at.run()
    assert not at.exception
    s = assert_matches_summary(at, spec_in_session(at))
    assert s["errors"] and any(r["status"] == "error" for r in shown_rows(at))
    assert any(b.key and "_fix_" in b.key for b in at.button)


def test_budget_refuses_a_huge_edit_and_leaves_the_network():
    at = open_page()
    before = spec_in_session(at)
    widget(at, "selectbox", "_sel").set_value(12)  # conv5
    at.run()
    # 4096 channels × 6 × 6 into fc1 would be 604 M weights in fc1 alone: over 1 GiB
    widget(at, "slider", "_L12_out_channels").set_value(4096)
    at.run()
    assert not at.exception
    assert spec_in_session(at) == before
    assert any("too big" in e.value and "budget" in e.value for e in at.error)
    # the widget shows the real value again
    assert widget(at, "slider", "_L12_out_channels").value == 256


@pytest.mark.parametrize("payload, words", [
    (b"this is not json {", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not a text file"),
    (json.dumps({"input": {"channels": "three", "height": 32, "width": 32},
                 "layers": [{"type": "flatten"}]}).encode(), "channels"),
    (json.dumps({"input": [3, 32, 32], "layers": [{"type": "conv", "kernel": 0}]}).encode(), "kernel"),
    (json.dumps({"input": [3, 32, 32], "layers": [{"type": "warp_drive"}]}).encode(), "unknown"),
    (json.dumps([1, 2, 3]).encode(), "must be a JSON object"),
    (b" " * (2**20 + 1), "at most"),  # over editor.MAX_UPLOAD_BYTES (the uploader says 1MB)
    (json.dumps({"input": [3, 1024, 1024], "layers": [{"type": "flatten"}, {"type": "linear",
                 "out_features": 4096}]}).encode(), "too big"),
])
def test_bad_upload_leaves_network_unchanged(payload, words):
    at = open_page()
    before = spec_in_session(at)
    version = at.session_state["net_version"]
    widget(at, "file_uploader", "").set_value(("net.json", payload, "application/json"))
    at.run()
    assert not at.exception
    assert spec_in_session(at) == before and at.session_state["net_version"] == version
    errors = [e.value for e in at.error]
    assert any("refused" in e and "unchanged" in e and words in e for e in errors), errors
    assert_matches_summary(at, before)


def test_good_upload_and_paste_replace_the_network():
    at = open_page()
    spec = get_spec("lenet-5").with_input(height=32, width=32)
    widget(at, "file_uploader", "").set_value(("lenet.json", spec.to_json().encode(), "application/json"))
    at.run()
    assert spec_in_session(at) == spec
    assert_matches_summary(at, spec)
    # paste: garbage is refused, a spec is loaded
    at.text_area(key="arch_paste_text").set_value("{oops")
    at.button[[b.label for b in at.button].index("Load pasted JSON")].click()
    at.run()
    assert spec_in_session(at) == spec and any("refused" in e.value for e in at.error)
    tv = get_spec("torchvision")
    at.text_area(key="arch_paste_text").set_value(tv.to_json())
    at.button[[b.label for b in at.button].index("Load pasted JSON")].click()
    at.run()
    assert spec_in_session(at) == tv
    assert_matches_summary(at, tv)


def test_insert_move_delete_and_reset():
    at = open_page()
    p0 = get_spec("paper-2012")
    widget(at, "selectbox", "_newtype").set_value("conv")
    widget(at, "button", "_ins").click()  # after conv1
    at.run()
    spec = spec_in_session(at)
    assert len(spec.layers) == len(p0.layers) + 1 and spec.layers[1].type == "conv"
    assert_matches_summary(at, spec)
    assert shown_rows(at)[1]["shape"] == "96×55×55"  # a 3×3 'same' conv keeps the shape
    assert "sel" in shown_rows(at)[1]["cls"]  # the new layer is selected
    widget(at, "button", "_down").click()
    at.run()
    assert spec_in_session(at).layers[2].type == "conv"
    widget(at, "button", "_del").click()
    at.run()
    assert spec_in_session(at) == p0
    widget(at, "selectbox", "_sel").set_value(0)
    at.run()
    widget(at, "slider", "_L0_kernel").set_value(7)
    at.run()
    assert spec_in_session(at).layers[0].kernel == 7
    widget(at, "button", "_reset").click()
    at.run()
    assert spec_in_session(at) == p0
    assert widget(at, "slider", "_L0_kernel").value == 11


def test_every_field_of_every_layer_type_is_editable():
    at = open_page("tf-benchmark-224")
    # tf-benchmark conv1 has 'same' padding: the mode box shows it, switching to a number works
    assert widget(at, "selectbox", "_L0_padmode").value == "same"
    widget(at, "selectbox", "_L0_padmode").set_value("number")
    at.run()
    assert spec_in_session(at).layers[0].padding == 0
    widget(at, "slider", "_L0_padding").set_value(2)
    at.run()
    assert spec_in_session(at).layers[0].padding == 2
    widget(at, "selectbox", "_preset").set_value("paper-2012")
    at.run()
    for i, typ, suffix, kind, value, field in [
        (2, "lrn", "_L2_size", "slider", 3, "size"),
        (2, "lrn", "_L2_alpha", "number_input", 1e-4, "alpha"),
        (3, "maxpool", "_L3_ceil_mode", "checkbox", True, "ceil_mode"),
        (3, "maxpool", "_L3_type", "selectbox", "avgpool", None),
        (4, "conv", "_L4_groups", "selectbox", 1, "groups"),
        (1, "relu", "_L1_type", "selectbox", "tanh", None),
        (16, "dropout", "_L16_p", "slider", 0.25, "p"),
        (17, "linear", "_L17_out_features", "slider", 2048, "out_features"),
    ]:
        widget(at, "selectbox", "_sel").set_value(i)
        at.run()
        assert spec_in_session(at).layers[i].type == typ
        w = widget(at, kind, suffix)
        (w.check() if kind == "checkbox" else w.set_value(value))
        at.run()
        assert not at.exception, (suffix, at.exception)
        layer = spec_in_session(at).layers[i]
        if field:
            assert getattr(layer, field) == value, (suffix, layer)
        else:
            assert layer.type == value
    assert_matches_summary(at, spec_in_session(at))


def test_generated_pytorch_code_builds_the_same_network():
    torch = pytest.importorskip("torch")
    for preset in ("paper-2012", "tf-benchmark-224"):
        at = open_page(preset)
        code = next(c.value for c in at.code if "nn.Sequential" in c.value)
        ns: dict = {}
        with torch.no_grad():
            exec(compile(code, "<generated>", "exec"), ns)  # noqa: S102 - our own generated code
        model, s = ns["model"], summarize(get_spec(preset))
        assert sum(p.numel() for p in model.parameters()) == s["total_params"]
        shapes = []
        hooks = [m.register_forward_hook(lambda _m, _i, o, acc=shapes: acc.append(tuple(o.shape[1:])))
                 for m in model.children()]
        try:
            with torch.no_grad():
                model.eval()(torch.zeros(1, *s["input"]))
        finally:
            for h in hooks:
                h.remove()
        assert shapes == [tuple(r["out_shape"]) for r in s["layers"]]


def test_typing_mode_and_h_w_pairs():
    at = open_page()
    at.toggle(key="arch_typed").set_value(True)
    at.run()
    assert not [s for s in at.slider if s.key.endswith("_L0_stride")]
    widget(at, "number_input", "_L0_stride").set_value(3)
    at.run()
    assert spec_in_session(at).layers[0].stride == 3
    # a layer with different H and W values gets one box per side
    d = get_spec("lenet-5").to_dict()
    d["layers"][0]["kernel"] = [5, 3]
    at.text_area(key="arch_paste_text").set_value(json.dumps(d))
    at.button[[b.label for b in at.button].index("Load pasted JSON")].click()
    at.run()
    assert spec_in_session(at).layers[0].kernel == (5, 3)
    widget(at, "number_input", "_L0_kernel_w").set_value(5)
    at.run()
    spec = spec_in_session(at)
    assert spec.layers[0].kernel == 5  # [5, 5] is normalised to 5
    assert_matches_summary(at, spec)
