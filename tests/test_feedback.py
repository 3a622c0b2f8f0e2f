"""Issue 16, "Feedback within a second" (items 8–11): what the faster pages must still get right.

Speeds are measured by bench/browser_latency.py, not here; these tests check that what was
cut to gain speed shows the same numbers as before.
"""

from __future__ import annotations

from test_arch_page import open_page, shown_rows, spec_in_session, widget

from alexnet import get_spec


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
