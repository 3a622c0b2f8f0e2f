"""Activations: what each layer of the current network sees for a real image."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from alexnet import activations as A
from alexnet.spec import NetSpec
from explorer import act_figures as fig
from explorer.state import current_spec, current_summary, set_spec

try:  # the run store lands with the training engine
    from alexnet.runs import RunStore
except ImportError:  # pragma: no cover - depends on what is installed
    RunStore = None

st.title("Activations")
spec, summary = current_spec(), current_summary()
c, h, w = spec.input.shape
st.caption(f"Network **{spec.name}**, input {c}×{h}×{w}. Pick an image and weights; the forward pass runs "
           "once per (network, weights, image) and is cached, so choosing layers and units only redraws.")
if summary["errors"]:
    st.error("This network does not compute, so there is nothing to look at: " + summary["errors"][0]
             + " Fix it on the Architecture page.")
    st.stop()
spec_json = spec.to_json(indent=None)


@st.cache_resource(max_entries=2, show_spinner="Building the network and loading weights…")
def load_model(spec_json: str, kind: str, ref: str, stamp: str = "", _data: bytes | None = None):
    s = NetSpec.from_json(spec_json)
    model = A.random_model(s, seed=int(ref) if kind == "random" else 0)
    if kind == "random":
        return model, None
    if kind == "torchvision":
        w = A.torchvision_weights(ref or None)
    else:
        w = A.read_weights_file(_data if _data is not None else ref, name=None if _data is None else "the uploaded file")
    return A.load_weights(model, w, network_name=s.name), w


@st.cache_resource(max_entries=4, show_spinner="Running the network…")
def forward(model_key: tuple, image_key: str, _model, _x):
    return A.capture(_model, _x)


@st.cache_resource(max_entries=2, show_spinner=False)
def on_disk_datasets(root: str, listing: tuple):  # keyed on the folder's contents: new downloads show up
    return A.dataset_images(root)


# ---- image -------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    src = st.radio("Image", ["Photograph", "Handwritten digit", "Dataset test image", "Upload"],
                   horizontal=True, key="act_src")
    img, img_key, img_note = None, None, ""
    if src == "Photograph":
        name = st.selectbox("Photograph (bundled with scikit-learn)", A.SAMPLE_PHOTOS, key="act_photo")
        img, img_key = A.sample_photo(name), f"photo:{name}"
    elif src == "Handwritten digit":
        i = st.number_input("Digit number (0–1796, scikit-learn's 8×8 scans)", 0, 1796, 0, key="act_digit")
        img, label = A.sample_digit(i)
        img_key, img_note = f"digit:{i}", f"label: {label}"
    elif src == "Dataset test image":
        root = A.data_dir()
        found = on_disk_datasets(str(root), tuple(sorted(p.name for p in root.iterdir())) if root.is_dir() else ())
        if not found:
            st.info(f"No dataset on disk yet under `{root}` (CIFAR-10, MNIST, Fashion-MNIST appear here "
                    "once training has downloaded them). The handwritten digits are always available.")
        else:
            ds = found[[d.name for d in found].index(st.selectbox("Dataset", [d.name for d in found], key="act_ds"))]
            i = st.number_input(f"Test image (0–{len(ds.images) - 1})", 0, len(ds.images) - 1, 0, key="act_ds_i")
            img, img_key, img_note = ds.image(i), f"ds:{ds.name}:{i}", f"label: {ds.classes[int(ds.labels[i])]}"
    else:
        up = st.file_uploader("PNG or JPEG, up to 5 MB", type=["png", "jpg", "jpeg"], key="act_upload")
        if up is not None:
            data = up.getvalue()
            try:
                img, img_key = A.read_image(data, name=f"'{up.name}'"), "upload:" + A.image_digest(data)
            except A.ImageInputError as e:
                st.error(str(e))
    if img is not None:
        st.caption(f"{img.size[0]}×{img.size[1]} {img.mode} {img_note}")

# ---- weights -----------------------------------------------------------------------------
with right:
    wsrc = st.radio("Weights", ["Random (seeded)", "Run checkpoint", "torchvision ImageNet", "Local .pth file"],
                    horizontal=True, key="act_wsrc")
    kind, ref, blob = "random", "0", None
    if wsrc == "Random (seeded)":
        ref = str(st.number_input("Seed", 0, 2**31 - 1, 0, key="act_seed"))
    elif wsrc == "Run checkpoint":
        runs = []
        if RunStore is None:
            st.info("No run store yet: train a network on the Train page first.")
        else:
            store = RunStore()
            runs = [r for r in store.list_runs() if store.checkpoint_path(r["id"], "last")]
            if not runs:
                st.info(f"No run in `{store.root}` has a checkpoint yet: train one on the Train page.")
        if runs:
            labels = {r["id"]: f"{r['name']} · {r['status']} · " + (f"best test acc {r['best_test_acc']:.1%}"
                      if r.get("best_test_acc") is not None else "no test accuracy yet") for r in runs}
            rid = st.selectbox("Run", list(labels), format_func=labels.get, key="act_run")
            which = st.radio("Checkpoint", ["best", "last"], horizontal=True, key="act_which")
            path = store.checkpoint_path(rid, which) or store.checkpoint_path(rid, "last")
            kind, ref = "file", str(path)
            run = next(r for r in runs if r["id"] == rid)
            if run.get("spec") and NetSpec.from_dict(run["spec"]).to_dict() != spec.to_dict():
                st.warning(f"This run trained the network '{run['spec'].get('name')}', not the current one.")
                if st.button("Use this run's network", key="act_use_run_net"):
                    set_spec(NetSpec.from_dict(run["spec"]))
                    st.rerun()
    elif wsrc == "torchvision ImageNet":
        cached = A.torchvision_weights_path()
        if cached.is_file():
            kind, ref = "torchvision", str(cached)
        else:
            st.info(f"torchvision's ImageNet weights ({A.TORCHVISION_WEIGHTS_FILE}, 233 MB) are not in `{cached.parent}` "
                    "yet. They fit the `torchvision` preset.")
            if st.button("Download the weights", key="act_tv_dl"):
                bar = st.progress(0.0, text="Downloading…")
                try:
                    A.download_torchvision_weights(lambda d, t: bar.progress(min(d / t, 1.0) if t else 0.0,
                                                                             text=f"{d / 2**20:.0f} MB"))
                    st.rerun()
                except A.WeightsError as e:
                    st.error(str(e))
    else:
        p = st.text_input("Path of a .pth/.pt file on this machine (any size)", key="act_pth_path")
        up = st.file_uploader("…or upload one (up to 5 MB)", type=["pth", "pt"], key="act_pth_up")
        if up is not None:
            blob = up.getvalue()
            kind, ref = "file", "upload:" + A.image_digest(blob)
        elif p.strip():
            kind, ref = "file", p.strip()

# a file's modification time is part of the cache key: a run that keeps training rewrites last.pt
stamp = str(Path(ref).stat().st_mtime_ns) if kind != "random" and Path(ref).is_file() else ""
try:
    model, weights = load_model(spec_json, kind, ref, stamp, _data=blob)
except A.WeightsError as e:
    st.error(str(e))
    st.caption("Showing random weights (seed 0) instead.")
    kind, ref, stamp = "random", "0", ""
    model, weights = load_model(spec_json, kind, ref)
if img is None:
    st.info("Choose an image to see the activations.")
    st.stop()
mean, std = (weights.mean, weights.std) if weights is not None and weights.mean else (A.PLAIN_MEAN, A.PLAIN_STD)
arr = A.to_network_input(img, c, h, w)
acts = forward((spec_json, kind, ref, stamp), f"{img_key}|{mean}|{std}", model, A.normalise(arr, mean, std))

# ---- layer and unit ----------------------------------------------------------------------
layers = {row["name"]: row for row in summary["layers"]}
names = acts.names
conv1 = A.first_conv(model)
a, b, cc, d = st.columns([2, 1, 1, 1])
layer = a.selectbox("Layer", names, index=names.index(conv1[0]) if conv1 else 0, key="act_layer",
                    format_func=lambda n: f"{n} ({layers[n]['type']}) → {'×'.join(map(str, layers[n]['out_shape']))}")
out = acts.outputs[layer]
stats = A.map_stats(out)
spatial = out.dim() == 3
if spatial:
    order = A.channel_order(out, b.selectbox("Sort maps by", ["index", "mean", "max", "zeros"], key="act_sort"))
    per_page = cc.selectbox("Maps per page", [24, 48, 96], index=1, key="act_per_page")
    n_pages = -(-out.shape[0] // per_page)
    page = d.number_input(f"Page (of {n_pages})", 1, n_pages, 1, key=f"act_page_{layer}_{per_page}")
    u1, u2, u3 = st.columns(3)
    ch = u1.number_input(f"Unit: channel (0–{out.shape[0] - 1})", 0, out.shape[0] - 1, int(order[0]),
                         key=f"act_ch_{layer}")
    row = u2.slider("row", 0, out.shape[1] - 1, int(stats["argmax_row"][ch]), key=f"act_row_{layer}_{ch}") \
        if out.shape[1] > 1 else 0
    col = u3.slider("column", 0, out.shape[2] - 1, int(stats["argmax_col"][ch]), key=f"act_col_{layer}_{ch}") \
        if out.shape[2] > 1 else 0
else:
    ch = b.number_input(f"Unit (0–{out.shape[0] - 1})", 0, out.shape[0] - 1, int(out.argmax()), key=f"act_unit_{layer}")
    row = col = 0
box = A.unit_box(spec, layer, row, col)
rf = layers[layer]["receptive_field"]
check = st.checkbox("Check the box with a gradient on this image (dashed: the pixels whose gradient is not zero)",
                    key="act_grad")
grad_box = A.mask_box(A.influence_mask(model, layer, ch, row, col, image=A.normalise(arr, mean, std))) \
    if check else None

# ---- input and predictions ---------------------------------------------------------------
i1, i2 = st.columns(2)
unit = f"{layer}[{ch}, {row}, {col}]" if spatial else f"{layer}[{ch}]"
i1.plotly_chart(fig.input_figure(arr, title=f"Input as the network sees it ({c}×{h}×{w})", box=box,
                                 box_label=unit, grad_box=grad_box), key="act_input_fig")
if box is None:
    i1.caption(f"Unit {unit} sees no input pixel: every tap of its window lands in padding.")
else:
    i1.caption(f"Unit {unit} sees input rows {box[0]}–{box[2]}, columns {box[1]}–{box[3]} (receptive field {rf}, "
               f"jump {layers[layer]['jump']}; clipped at the border)."
               + ("" if grad_box is None else f" Non-zero gradient on rows {grad_box[0]}–{grad_box[2]}, columns "
                  f"{grad_box[1]}–{grad_box[3]}: " + ("inside the box." if grad_box[0] >= box[0] and grad_box[1] >= box[1]
                                                      and grad_box[2] <= box[2] and grad_box[3] <= box[3] else "OUTSIDE the box!")))
preds = A.top_k(acts.logits, 5, weights.classes if weights is not None else None)
if preds is None:
    i2.info("This network does not end in class scores, so there are no predictions.")
else:
    i2.plotly_chart(fig.topk_figure(preds, title="Top-5 predictions"), key="act_topk_fig")
    if weights is None:
        i2.caption("Random weights: these predictions mean nothing, and have no class names.")
    elif not weights.classes:
        i2.caption("These weights came without class names.")

# ---- the chosen layer --------------------------------------------------------------------
lo, hi = float(out.min()), float(out.max())
if spatial:
    shown = order[(page - 1) * per_page: page * per_page]
    st.plotly_chart(fig.feature_grid_figure(out[shown].numpy(), shown, zmin=lo, zmax=hi,
                                            title=f"{layer}: maps {len(shown)} of {out.shape[0]} "
                                            f"({out.shape[1]}×{out.shape[2]}), one colour scale {lo:.3g} … {hi:.3g}"),
                    key="act_maps_fig")
else:
    st.plotly_chart(fig.vector_figure(out.numpy(), title=f"{layer}: {out.shape[0]} units"), key="act_vec_fig")
table = {k: v for k, v in stats.items() if spatial or not k.startswith("argmax")}
table["zeros"] = 100 * table["zeros"]
st.dataframe({k: table[k][order] if spatial else table[k] for k in table}, hide_index=True, height=240,
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
