"""A network that collapses adds up only the layers before the collapse: every place that shows
its totals (summary table and CLI, the Architecture table's footer and text copy, the preset
list) says they are partial; a network that computes says nothing of the kind."""

from __future__ import annotations

import json

from alexnet import analyze, summarize
from alexnet.cli import main
from explorer.arch_table import plain_text, totals_html

COLLAPSED = {"name": "collapsed", "input": [1, 8, 8], "layers": [
    {"type": "conv", "out_channels": 4, "kernel": 3},
    {"type": "maxpool", "kernel": 7},
    {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
WHOLE = {**COLLAPSED, "layers": [COLLAPSED["layers"][0], {"type": "maxpool", "kernel": 2}, *COLLAPSED["layers"][2:]]}


def test_summary_says_which_layers_the_totals_cover():
    s = summarize(COLLAPSED)
    assert s["total_params"] == 4 * 9 + 4  # the conv only: the linear after the collapse is not counted
    assert s["partial"].startswith("partial: layers 0–0 only; layer 1 'pool1' fails")
    assert summarize(WHOLE)["partial"] == ""
    first = {**COLLAPSED, "layers": [{"type": "maxpool", "kernel": 9}]}
    assert summarize(first)["partial"].startswith("partial: no layer computes")


def test_cli_summary_marks_the_totals(tmp_path, capsys):
    for spec, partial in ((COLLAPSED, True), (WHOLE, False)):
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec))
        main(["summary", "--config", str(path)])
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith("Total params:"))
        assert ("partial" in line) == partial, line


def test_cli_preset_list_marks_a_collapsing_preset(capsys):
    assert main(["presets"]) == 0
    lines = {x.split()[0]: x for x in capsys.readouterr().out.splitlines() if x.strip()}
    assert "params (partial)" in lines["paddle-cifar10-32"] and "collapse" in lines["paddle-cifar10-32"]
    assert "partial" not in lines["paper-2012"]
    main(["presets", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["paddle-cifar10-32"]["params_partial"] and not rows["torchvision"]["params_partial"]


def test_architecture_footer_and_text_copy_say_partial():
    s = summarize(COLLAPSED)
    assert "Partial total: 40 parameters" in totals_html(s) and "layers 0–0 only" in totals_html(s)
    assert "totals below are partial" in plain_text(s)
    w = summarize(WHOLE)
    assert "Total: " in totals_html(w) and "artial" not in totals_html(w) + plain_text(w)
    assert analyze(WHOLE).total_params == w["total_params"] == 40 + (4 * 3 * 3 * 10 + 10)
