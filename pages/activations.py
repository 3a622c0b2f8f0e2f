"""Activations: what each layer of the current network sees for a real image."""

from __future__ import annotations

import streamlit as st

from explorer import preload
from explorer.state import current_spec, current_summary, remember

st.title("Activations")
# PyTorch takes seconds to load on the first visit after the app starts (unless the preload got
# there first): the title shows at once and the spinner says why the rest waits.
with st.spinner("Loading the engine (PyTorch) — only on the first visit after the app starts…"):
    preload.wait()
    from alexnet import activations as A  # noqa: E402
    from explorer import act_figures as fig  # noqa: E402
    from explorer import act_views as av  # noqa: E402
remember(av.KEPT_KEYS, av.KEPT_PREFIXES)  # choices survive an image-less run and a visit to another page
spec, summary = current_spec(), current_summary()
c, h, w = spec.input.shape
st.caption(f"Network **{spec.name}**, input {c}×{h}×{w}. Pick an image and weights; the forward pass runs "
           "once per (network, weights, image) and is cached, so choosing layers and units only redraws.")
if summary["errors"]:
    st.error("This network does not compute, so there is nothing to look at: " + summary["errors"][0]
             + " Fix it on the Architecture page.")
    st.stop()
spec_json = spec.to_json(indent=None)

left, right = st.columns(2)
with left:
    picked = av.image_picker()
with right:
    kind, ref, blob = av.weights_picker(spec)
model, weights, model_key = av.model_with_weights(spec_json, kind, ref, blob)
if picked.img is None:
    st.info("Choose an image to see the activations.")
    st.stop()
mean, std = (weights.mean, weights.std) if weights is not None and weights.mean else (A.PLAIN_MEAN, A.PLAIN_STD)
arr = A.to_network_input(picked.img, c, h, w)
if note := av.size_note(picked.img, h, w):
    st.caption(note)
acts = av.forward(model_key, f"{picked.key}|{mean}|{std}", model, A.normalise(arr, mean, std))

# ---- layer and unit ----------------------------------------------------------------------
layers = {row["name"]: row for row in summary["layers"]}
conv1 = A.first_conv(model)
unit = av.unit_picker(acts, layers, conv1[0] if conv1 else None)
layer, out, stats, spatial = unit.layer, unit.out, unit.stats, unit.spatial
box = A.unit_box(spec, layer, unit.row, unit.col)
check = st.checkbox("Check the box with a gradient on this image (dashed: the pixels whose gradient is not zero)",
                    key="act_grad")
grad_box = A.mask_box(A.influence_mask(model, layer, unit.ch, unit.row, unit.col,
                                       image=A.normalise(arr, mean, std))) if check else None

# ---- input and predictions ---------------------------------------------------------------
i1, i2 = st.columns(2)
i1.plotly_chart(fig.input_figure(arr, title=f"Input as the network sees it ({c}×{h}×{w})", box=box,
                                 box_label=unit.name, grad_box=grad_box), key="act_input_fig")
i1.caption(av.box_caption(unit, box, grad_box, layers[layer]))
preds = A.top_k(acts.logits, 5, weights.classes if weights is not None else None)
if preds is None:
    i2.info("This network does not end in class scores, so there are no predictions.")
else:
    i2.plotly_chart(fig.topk_figure(preds, title="Top-5 predictions"), key="act_topk_fig")
    if weights is None:
        i2.caption("Random weights: these predictions mean nothing, and have no class names.")
    elif not weights.classes:
        i2.caption("These weights came without class names.")

# ---- explain the chosen unit (alexnet.explain) ----------------------------------------------
st.subheader(f"How {unit.name} got its value")
av.explain_section(model, spec, A.normalise(arr, mean, std), acts, unit)

# ---- the chosen layer --------------------------------------------------------------------
lo, hi = float(out.min()), float(out.max())
if spatial:
    shown = unit.order[(unit.page - 1) * unit.per_page: unit.page * unit.per_page]
    st.plotly_chart(fig.feature_grid_figure(out[shown].numpy(), shown, zmin=lo, zmax=hi,
                                            title=f"{layer}: maps {len(shown)} of {out.shape[0]} "
                                            f"({out.shape[1]}×{out.shape[2]}), one colour scale {lo:.3g} … {hi:.3g}"),
                    key="act_maps_fig")
else:
    st.plotly_chart(fig.vector_figure(out.numpy(), title=f"{layer}: {out.shape[0]} units"), key="act_vec_fig")
table = {k: v for k, v in stats.items() if spatial or not k.startswith("argmax")}
table["zeros"] = 100 * table["zeros"]
st.dataframe({k: table[k][unit.order] if spatial else table[k] for k in table}, hide_index=True, height=240,
             column_config={"zeros": st.column_config.NumberColumn("zeros (%)", format="%.1f")})
st.caption(f"{layer}: mean {float(out.mean()):.4g}, max {hi:.4g}, zeros {100 * float((out == 0).float().mean()):.1f} %"
           f" · forward pass {1000 * acts.seconds:.0f} ms (cached)")

# ---- conv1 filters and the whole network ------------------------------------------------
if conv1 is not None:
    filt = A.conv1_filters(model)
    scale = st.radio("Filter colours", ["shared", "per-filter"], horizontal=True, key="act_filter_scale",
                     help="shared: one scale for all filters, 0 = grey; per-filter: each stretched to its own range")
    st.plotly_chart(fig.filter_grid_figure(filt, scale=scale, title=f"{conv1[0]} filters: {filt.shape[0]} of "
                                           f"{filt.shape[1]}×{filt.shape[2]}" + (" RGB" if filt.shape[3] == 3 else " grey")),
                    key="act_filters_fig")
rows = [{**r, "zeros": 100 * r["zeros"]} for r in A.layer_stats(acts, spec)]
st.plotly_chart(fig.layer_stats_figure(rows, title="Every layer: mean, max and fraction of zeros"),
                key="act_layers_fig")
st.dataframe(rows, hide_index=True, column_config={
    "zeros": st.column_config.NumberColumn("zeros (%)", format="%.1f"),
    **{k: st.column_config.NumberColumn(k, format="%.4g") for k in ("mean", "std", "min", "max")}})
