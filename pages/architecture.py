"""Architecture: pick a network, move any slider, and watch every layer's shape, formula,
parameters and warnings update.  Numbers come from ``alexnet.summarize`` (via
explorer.state), the same code path as ``python -m alexnet summary``; widgets and actions
live in explorer/editor.py, the table in explorer/arch_table.py, figures in
explorer/figures.py."""

import streamlit as st

from alexnet import SpecError, pytorch_code
from explorer import arch_table, editor, export_view, figures, share, verify_view
from explorer.state import base_preset, base_spec, current_spec, current_summary, summary_of

editor.css()
share.apply_network_link()  # a shared link's network, once per session
share.refused()
spec = current_spec()
editor.top_bar(spec)
spec, summary = current_spec(), current_summary()
sel = editor.selected(spec)

left, right = st.columns([0.7, 0.3], gap="medium")
with left:
    editor.table(summary, sel)
    editor.totals(summary)
with right:
    st.markdown("**Edit a layer** — yellow rows divide inexactly, red rows break the network.")
    editor.layer_panel(spec, summary)
    st.caption(editor.BUDGET_TEXT)

st.subheader("The network, drawn to scale")
# Drawing these three Plotly charts costs the browser several times what the table costs, on
# every edit (bench/browser_latency.py): they are drawn on request, so a slider answers at once.
# Constant keys: a redraw updates the charts in place instead of building new ones.
charts_on = st.toggle("Draw the network to scale and the params/MACs and diff charts", key="arch_charts",
                      value=st.session_state.get("arch_charts_on", False),
                      help="Off, a slider answers within a fraction of a second; on, the charts follow every "
                           "edit, and each edit takes the browser about a second longer to draw.")
st.session_state["arch_charts_on"] = charts_on  # kept when you leave the page and come back
if not charts_on:
    st.caption("Switch on to see the feature maps drawn to scale, each layer's share of the parameters and "
               "multiply-adds, and what changed against the preset.")
else:
    st.plotly_chart(figures.network_diagram(summary), key="arch_diagram", width="stretch",
                    config={"displayModeBar": False})
    a, b = st.columns(2, gap="medium")
    bars = figures.params_macs_bars(summary)
    if bars is not None:
        a.plotly_chart(bars, key="arch_bars", width="stretch", config={"displayModeBar": False})
    base = summary_of(base_spec())
    diff = figures.diff_figure(base, summary)
    if diff is None:
        b.info(f"No changes against **{base_preset()}** yet: edit a layer and this chart shows which "
               "rows' shapes and parameter counts moved, and by how much.")
    else:
        b.plotly_chart(diff, key="arch_diff", width="stretch", config={"displayModeBar": False})

st.subheader("PyTorch confirms the table")
verify_view.check_with_pytorch(spec, summary)

st.subheader("Save and share")
share.copy_link(share.network_params(spec))
editor.save_and_load(spec)
export_view.network_files(spec)
try:
    code = pytorch_code(spec)
except SpecError as e:
    st.info(f"PyTorch code appears once the network computes: {e}")
else:
    with st.expander("PyTorch code that builds this network (nn.Sequential; copy button at the top right)"):
        st.code(code, language="python")
with st.expander("The table as plain text (for pasting into a report)"):
    st.code(arch_table.plain_text(summary), language=None)
