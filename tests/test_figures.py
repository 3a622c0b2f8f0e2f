"""The architecture page's figures and table: pure functions of alexnet.summarize dicts."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from alexnet import get_spec, list_presets, summarize, textfmt
from alexnet.spec import layer_from_dict
from explorer import arch_table, figures


def validated(fig: go.Figure) -> go.Figure:
    """The page builds figures without plotly's validation (speed); validate them here."""
    return go.Figure(fig.to_dict())


@pytest.mark.parametrize("name", list_presets())
def test_figures_are_valid_for_every_preset(name):
    s = summarize(get_spec(name))
    validated(figures.network_diagram(s))
    bars = figures.params_macs_bars(s)
    assert bars is not None
    validated(bars)
    assert figures.diff_figure(s, s) is None and figures.diff_rows(s, s) == []


def test_diagram_is_to_scale():
    s = summarize(get_spec("paper-2012"))
    boxes = figures.diagram_boxes(s)
    assert [b["name"] for b in boxes] == ["input", "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5",
                                         "pool3", "fc1", "fc2", "fc3"]
    spatial = [b for b in boxes if not b["flat"]]
    for b in spatial:  # height and depth are the map's H and W in pixels
        assert (b["h"], b["w"]) == (b["shape"][1], b["shape"][2])
    # thickness is linear in channels: 384 channels are 4× as thick as 96
    t = {b["name"]: b["t"] for b in spatial}
    assert t["conv3"] == pytest.approx(4 * t["conv1"])
    assert t["conv3"] == pytest.approx(figures.THICK_FRACTION * 227)
    # FC bars: height linear in width; fc1 (4096) is 4.096× fc3 (1000)
    fc = {b["name"]: b["h"] for b in boxes if b["flat"]}
    assert fc["fc1"] == pytest.approx(4.096 * fc["fc3"])
    # boxes do not overlap along the network axis
    for a, b in zip(boxes, boxes[1:]):
        assert b["x"] >= a["x"] + a["t"] + a["w"] * figures.OBLIQUE
    # every box is labelled with its shape
    fig = figures.network_diagram(s)
    texts = " ".join(a.text for a in fig.layout.annotations)
    for b in boxes:
        assert "×".join(map(str, b["shape"])) in texts


def test_diagram_kernels_come_from_the_receptive_field():
    s = summarize(get_spec("paper-2012"))
    names = {r["name"]: r["index"] for r in s["layers"]}
    assert figures._kernel_side(s, names["conv1"]) == 11
    assert figures._kernel_side(s, names["conv2"]) == 5
    assert figures._kernel_side(s, names["conv3"]) == 3


def test_diagram_shows_the_collapse():
    s = summarize(get_spec("paddle-cifar10-32"))
    boxes = figures.diagram_boxes(s)
    assert boxes[-1]["name"] == "pool3" and boxes[-1]["error"]
    fig = validated(figures.network_diagram(s))
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "collapses" in texts and "not computed" in texts


def test_params_vs_macs_bars_match_the_summary():
    s = summarize(get_spec("paper-2012"))
    fig = figures.params_macs_bars(s)
    params, macs = fig.data
    rows = {r["name"]: r for r in s["layers"]}
    assert list(params.y) == [r["name"] for r in s["layers"] if r["params"]]
    for name, p, m in zip(params.y, params.x, macs.x):
        assert p == pytest.approx(rows[name]["params_pct"]) and m == pytest.approx(rows[name]["macs_pct"])
    assert sum(params.x) == pytest.approx(100) and sum(macs.x) == pytest.approx(100)
    # the point of the figure: FC layers hold most weights, convs do most compute
    fc = [p for n, p in zip(params.y, params.x) if n.startswith("fc")]
    conv = [m for n, m in zip(macs.y, macs.x) if n.startswith("conv")]
    assert sum(fc) > 90 and sum(conv) > 90


def test_diff_rows_change_added_removed():
    base_spec = get_spec("paper-2012")
    base = summarize(base_spec)
    # conv1 stride 2: conv1 and every later spatial row and fc1 change
    cur = summarize(base_spec.with_layer(0, base_spec.layers[0].replace(stride=2)))
    rows = {r["name"]: r for r in figures.diff_rows(base, cur)}
    assert rows["conv1"]["base_shape"] == "96×55×55" and rows["conv1"]["shape"] == "96×109×109"
    assert rows["conv1"]["d_params"] == 0
    fc1 = [r["index"] for r in base["layers"] if r["name"] == "fc1"][0]
    assert rows["fc1"]["d_params"] == cur["layers"][fc1]["params"] - base["layers"][fc1]["params"] > 0
    assert "fc2" not in rows
    validated(figures.diff_figure(base, cur))
    # inserting one layer is one 'added' row, not a renaming of everything after it
    ins = summarize(base_spec.insert_layer(1, layer_from_dict({"type": "batchnorm"})))
    d = figures.diff_rows(base, ins)
    assert [(r["change"], r["name"]) for r in d] == [("added", "bn1")]
    assert d[0]["d_params"] == 2 * 96
    # deleting one is one 'removed' row
    rem = summarize(base_spec.delete_layer(2))  # lrn1
    assert [(r["change"], r["name"]) for r in figures.diff_rows(base, rem)] == [("removed", "lrn1")]
    # an input change is listed
    inp = figures.diff_rows(base, summarize(base_spec.with_input(height=235, width=235)))
    assert inp[0]["change"] == "input" and inp[0]["shape"] == "3×235×235"


def test_table_rows_and_segments():
    s = summarize(get_spec("d2l-fashion-mnist-224"))
    segs = arch_table.table_segments(s, selected=3)
    inexact = [r for r in s["layers"] if r["status"] == "inexact"]
    # one segment per row with fixes, plus the last one with the totals
    assert len(segs) == len(inexact) + 1
    assert [seg.row["name"] for seg in segs[:-1]] == [r["name"] for r in inexact]
    assert "<tfoot>" in segs[-1].html and f"{s['total_params']:,}" in segs[-1].html
    html = "".join(seg.html for seg in segs)
    assert html.count("<thead>") == 1  # one header, the segments line up under it
    for r in s["layers"]:
        assert f'data-shape="{"×".join(map(str, r["out_shape"]))}"' in html
    assert '<tr class="sel" data-layer="3"' in html
    assert "54.25 → 54" in html and "213/4 is not whole" in html


def test_row_message_strips_prefix_and_fix_text():
    s = summarize(get_spec("d2l-fashion-mnist-224"))
    row = s["layers"][0]
    assert row["message"].startswith("layer 0 (conv) 'conv1': ") and "Fix:" in row["message"]
    msg = arch_table.row_message(row)
    assert msg.startswith("213/4 is not whole") and "Fix" not in msg
    err = next(r for r in summarize(get_spec("paddle-cifar10-32"))["layers"] if r["status"] == "error")
    assert arch_table.row_message(err).startswith("layer 14 (maxpool) 'pool3' collapses")


def test_plain_text_table_matches_summary():
    s = summarize(get_spec("paper-2012"))
    text = arch_table.plain_text(s)
    assert len(text.splitlines()) == len(s["layers"]) + 2
    assert "96×55×55" in text and f"{s['total_params']:,}" in text


def test_short_units():
    assert textfmt.short_bytes(273.38 * 1024) == "273 KB"
    assert textfmt.short_bytes(1.114 * 1024 * 1024) == "1.11 MB"
    assert textfmt.short_bytes(40) == "40 B"
    assert textfmt.short_count(105_705_600) == "106 M"
    assert textfmt.short_count(74_804_456) == "74.8 M"


def test_figures_and_table_never_raise_on_edited_networks():
    """Insert every layer type after every layer (where the spec allows it), and collapse
    networks in several places: every picture and the table still build."""
    from alexnet.spec import LAYER_TYPES, SpecError
    from explorer.editor import default_layer

    checked = 0
    for preset in ("lenet-5",):
        spec = get_spec(preset)
        base = summarize(spec)
        for i, row in enumerate(base["layers"]):
            for t in LAYER_TYPES:
                try:
                    new = spec.insert_layer(i + 1, default_layer(t, row["out_shape"]))
                except SpecError:
                    continue
                s = summarize(new)
                figs = [figures.network_diagram(s), figures.params_macs_bars(s), figures.diff_figure(base, s)]
                assert figs[2] is not None
                if checked % 16 == 0:  # plotly's validation is slow; a sample of them
                    for f in figs:
                        validated(f)
                arch_table.table_segments(s, i)
                checked += 1
    for side in (1, 5, 20, 40):  # small inputs collapse at different layers
        s = summarize(get_spec("paper-2012").with_input(height=side, width=side))
        validated(figures.network_diagram(s))
        arch_table.table_segments(s)
    flat = summarize({"input": [1, 4, 4], "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 3}]})
    validated(figures.network_diagram(flat))
    assert checked > 50


def test_json_round_trip_and_refusals():
    from alexnet.spec import SpecError
    from explorer.editor import MAX_UPLOAD_BYTES, parse_network_json

    for name in list_presets():
        spec = get_spec(name)
        assert parse_network_json(spec.to_json().encode()) == spec
    for bad in (b"", b"null", b"[[[[" * 10_000, b"{" + b" " * MAX_UPLOAD_BYTES + b"}", "ünïcode ☃".encode()):
        with pytest.raises(SpecError):
            parse_network_json(bad)
