"""Landing page: what this is and what to do first."""

from pathlib import Path

import streamlit as st

from alexnet import get_preset, list_presets

st.title("AlexNet Explorer")
st.markdown(
    "1. **Architecture** — pick a network from the AlexNet tutorials and move any slider: every "
    "layer's output shape, its formula N = ⌊(W − F + 2P)/S⌋ + 1 with your numbers, parameters and "
    "multiply-adds update at once.\n"
    "2. **Train** — train the network on real data (embedded handwritten digits, or CIFAR-10 / "
    "(Fashion-)MNIST / your image folder) and watch the curves live; **Runs** compares them.\n"
    "3. **Activations** and **Experiments** — see what each layer responds to, and test the "
    "tutorials' claims (ReLU vs tanh, overlapping pooling, LRN, dropout) yourself."
)
if st.button("Open the Architecture page →", type="primary", key="home_go"):
    st.switch_page(Path(__file__).parent / "architecture.py")
st.subheader("The networks in the tutorials")
rows = []
for name in list_presets():
    p = get_preset(name)
    c, h, w = p.spec.input.shape
    rows.append({"preset": name, "input": f"{c}×{h}×{w}", "where it comes from": p.source})
st.table(rows)  # a static table: every row in view, long names wrap (a data grid scrolls past ~10 rows)
