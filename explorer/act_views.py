"""The Activations page's pickers and loaders: the image, the weights, the layer and
unit, and the cached model and forward pass.  Keeps pages/activations.py to the layout
and the figures.  Widget keys are the page's (act_*)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from alexnet import activations as A
from alexnet.runs import RunStore, RunStoreError
from alexnet.spec import NetSpec
from alexnet.textfmt import shape_text
from explorer.state import chosen, set_spec

# the page's choices, kept while their widgets are not drawn (explorer.state.remember)
KEPT_KEYS = ("act_src", "act_photo", "act_digit", "act_ds", "act_ds_i", "act_wsrc", "act_seed",
             "act_which", "act_pth_path", "act_layer", "act_sort", "act_per_page", "act_grad", "act_filter_scale")
KEPT_PREFIXES = ("act_unit_", "act_page_", "act_ch_", "act_row_", "act_col_")

# ---- cached work ---------------------------------------------------------------------------
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


# ---- the image -----------------------------------------------------------------------------
@dataclass
class Picked:
    """The chosen image (None until there is one), its cache key and a caption note."""

    img: Image.Image | None = None
    key: str | None = None
    note: str = ""


def image_picker() -> Picked:
    src = st.radio("Image", ["Photograph", "Handwritten digit", "Dataset test image", "Upload"],
                   horizontal=True, key="act_src")
    pick = {"Photograph": _photo, "Handwritten digit": _digit, "Dataset test image": _dataset_image,
            "Upload": _upload}[src]()
    if pick.img is not None:
        st.caption(f"{pick.img.size[0]}×{pick.img.size[1]} {pick.img.mode} {pick.note}")
    return pick


def _photo() -> Picked:
    name = st.selectbox("Photograph (bundled: scikit-learn's two, and the app's own in assets/)", A.SAMPLE_PHOTOS,
                        key="act_photo")
    return Picked(A.sample_photo(name), f"photo:{name}")


def _digit() -> Picked:
    i = st.number_input("Digit number (0–1796, scikit-learn's 8×8 scans)", 0, 1796, 0, key="act_digit")
    img, label = A.sample_digit(i)
    return Picked(img, f"digit:{i}", f"label: {label}")


def _dataset_image() -> Picked:
    root = A.data_dir()
    found = on_disk_datasets(str(root), tuple(sorted(p.name for p in root.iterdir())) if root.is_dir() else ())
    if not found:
        st.info(f"No dataset on disk yet under `{root}` (CIFAR-10, MNIST, Fashion-MNIST appear here "
                "once training has downloaded them). The handwritten digits are always available.")
        return Picked()
    names = [d.name for d in found]
    ds = found[names.index(st.selectbox("Dataset", names, key="act_ds"))]
    i = st.number_input(f"Test image (0–{len(ds.images) - 1})", 0, len(ds.images) - 1, 0, key="act_ds_i")
    return Picked(ds.image(i), f"ds:{ds.name}:{i}", f"label: {ds.classes[int(ds.labels[i])]}")


def _upload() -> Picked:
    up = st.file_uploader("PNG or JPEG", type=["png", "jpg", "jpeg"], key="act_upload")
    if up is None:
        return Picked()
    data = up.getvalue()
    try:
        return Picked(A.read_image(data, name=f"'{up.name}'"), "upload:" + A.image_digest(data))
    except A.ImageInputError as e:
        st.error(str(e))
        return Picked()


# ---- the weights ---------------------------------------------------------------------------
def weights_picker(spec: NetSpec) -> tuple[str, str, bytes | None]:
    """(kind, reference, uploaded bytes): kind 'random' (reference: the seed), 'file' (a
    path, or 'upload:<digest>' with the bytes) or 'torchvision' (the cached file)."""
    wsrc = st.radio("Weights", ["Random (seeded)", "Bundled example (digits)", "Run checkpoint", "torchvision ImageNet",
                                "Local .pth file"], horizontal=True, key="act_wsrc")
    if wsrc == "Bundled example (digits)":
        return _bundled(spec)
    if wsrc == "Random (seeded)":
        return "random", str(st.number_input("Seed", 0, 2**31 - 1, 0, key="act_seed")), None
    if wsrc == "Run checkpoint":
        return _run_checkpoint(spec)
    if wsrc == "torchvision ImageNet":
        return _torchvision()
    return _local_file()


BUNDLED = Path(__file__).resolve().parent.parent / "assets" / "digits-cnn.pt"  # assets/make_checkpoint.py


def _bundled(spec: NetSpec) -> tuple[str, str, bytes | None]:
    """The small CNN trained on the digits that ships in assets/: trained filters offline."""
    net = NetSpec.from_dict(A.read_weights_file(str(BUNDLED)).spec)
    if _same_network(net.to_dict(), spec):
        st.caption("A 16-32 conv net trained on scikit-learn's handwritten digits (assets/make_checkpoint.py); "
                   "pick 'Handwritten digit' as the image.")
        return "file", str(BUNDLED), None
    st.info(f"The bundled weights belong to '{net.name}' (1×8×8 digits, {len(net.layers)} layers), not to "
            f"{spec.name}: use its network to see trained filters and maps.")
    if st.button("Use its network", key="act_use_bundled", help="replaces the current network"):
        set_spec(net, base=net)
        st.rerun()
    return "random", "0", None


def _run_checkpoint(spec: NetSpec) -> tuple[str, str, bytes | None]:
    try:
        store = RunStore()
        runs = [r for r in store.list_runs() if store.checkpoint_path(r["id"], "last")]
    except (RunStoreError, sqlite3.DatabaseError) as e:
        st.error(f"The runs cannot be listed: {e}")
        return "random", "0", None
    if not runs:
        st.info(f"No run in `{store.root}` has a checkpoint yet: train one on the Train page.")
        return "random", "0", None
    mine = [r for r in runs if _same_network(r.get("spec"), spec)]  # other networks' weights cannot load here
    _other_networks([r for r in runs if r not in mine], spec)
    if not mine:
        return "random", "0", None
    runs = mine
    labels = {r["id"]: f"{r['name']} · {r['status']} · " + (f"best test acc {r['best_test_acc']:.1%}"
              if r.get("best_test_acc") is not None else "no test accuracy yet") for r in runs}
    said = st.session_state.pop("act_net_replaced", None)
    if said:
        st.success(said, icon=":material/swap_horiz:")
    rid = st.selectbox("Run", list(labels), **chosen("act_run", list(labels), runs[0]["id"], labels.get))
    which = st.radio("Checkpoint", ["best", "last"], horizontal=True, key="act_which")
    path = store.checkpoint_path(rid, which) or store.checkpoint_path(rid, "last")
    return "file", str(path), None


def _other_networks(others: list[dict], spec: NetSpec) -> None:
    """Say how many runs trained other networks, and offer to switch to one of them."""
    if not others:
        return
    n = len(others)
    st.caption(f"{n} run{'s' if n != 1 else ''} with a checkpoint trained other networks: their weights do not fit "
               f"{spec.name}. To see one, use its network:")
    a, b = st.columns([2, 1], vertical_alignment="bottom")
    names = {r["id"]: f"{r['name']} · {(r.get('spec') or {}).get('name', '?')}" for r in others}
    rid = a.selectbox("Run of another network", list(names), **chosen("act_run_other", list(names), others[0]["id"],
                                                                      names.get))
    if b.button("Use this run's network", key="act_use_run_net",
                help="replaces the current network (Architecture, Train and the sidebar show it)"):
        run = next(r for r in others if r["id"] == rid)
        net = NetSpec.from_dict(run["spec"])
        set_spec(net, base=net)  # its own base: Architecture does not call it an edit of a preset
        st.session_state["act_net_replaced"] = (f"The current network is now '{net.name}', from run "
                                                f"'{run['name']}'; it replaced '{spec.name}'.")
        st.rerun()


def _same_network(run_spec: dict | None, spec: NetSpec) -> bool:
    """The run trained this network (its name aside)."""
    try:
        return NetSpec.from_dict({**(run_spec or {}), "name": spec.name}).to_dict() == spec.to_dict()
    except Exception:  # noqa: BLE001 - a damaged stored spec is simply not this network
        return False


def size_note(img: Image.Image, height: int, width: int) -> str:
    """Said when the image is much smaller than the network's input: it is enlarged."""
    w, h = img.size
    if w * 2 > width and h * 2 > height:
        return ""
    return (f"This {w}×{h} image is enlarged to {height}×{width} for the network: each of its pixels becomes a "
            f"block of about {height // max(h, 1)}×{width // max(w, 1)}, so the maps show blocks, not detail.")


def _torchvision() -> tuple[str, str, bytes | None]:
    cached = A.torchvision_weights_path()
    if cached.is_file():
        return "torchvision", str(cached), None
    _, file, size = A.torchvision_weights_source()
    st.info(f"torchvision's ImageNet weights ({file}, {size}) are not in `{cached.parent}` yet. "
            "They fit the `torchvision` preset.")
    if st.button("Download the weights", key="act_tv_dl"):
        bar = st.progress(0.0, text="Downloading…")
        try:
            A.download_torchvision_weights(lambda d, t: bar.progress(min(d / t, 1.0) if t else 0.0,
                                                                     text=f"{d / 2**20:.0f} MB"))
            st.rerun()
        except A.WeightsError as e:
            bar.empty()  # no "Downloading…" left standing next to the error
            st.error(str(e))
    return "random", "0", None


def _local_file() -> tuple[str, str, bytes | None]:
    roots = A.local_weight_roots()
    p = st.text_input("Path of a .pth/.pt file on this machine (any size)", key="act_pth_path")
    st.caption("Only files under " + ", ".join(f"`{r}`" for r in roots) + " (the runs and data folders and the "
               "home folder) can be opened by path.")
    up = st.file_uploader("…or upload one", type=["pth", "pt"], key="act_pth_up")
    if up is not None:
        blob = up.getvalue()
        return "file", "upload:" + A.image_digest(blob), blob
    if p.strip():
        try:
            return "file", str(A.local_weights_path(p, roots)), None
        except A.WeightsError as e:
            st.error(str(e))
    return "random", "0", None


def model_with_weights(spec_json: str, kind: str, ref: str, blob: bytes | None):
    """(model, weights or None, cache key of the model).  Weights that cannot be loaded are
    reported and replaced by random ones (seed 0).  A file's modification time is part of
    the key: a run that keeps training rewrites last.pt."""
    stamp = str(Path(ref).stat().st_mtime_ns) if kind != "random" and Path(ref).is_file() else ""
    try:
        model, weights = load_model(spec_json, kind, ref, stamp, _data=blob)
    except A.WeightsError as e:
        st.error(str(e))
        st.caption("Showing random weights (seed 0) instead.")
        kind, ref, stamp = "random", "0", ""
        model, weights = load_model(spec_json, kind, ref)
    return model, weights, (spec_json, kind, ref, stamp)


# ---- the layer and the unit ----------------------------------------------------------------
@dataclass
class Unit:
    """The chosen layer, its output, and one unit in it (channel, row, column); for a
    spatial layer also the order and page of its maps."""

    layer: str
    out: object  # the layer's output tensor, [C, H, W] or [F]
    stats: dict
    ch: int
    row: int = 0
    col: int = 0
    order: object = None  # channel order (numpy), spatial layers only
    page: int = 1
    per_page: int = 48

    @property
    def spatial(self) -> bool:
        return self.out.dim() == 3

    @property
    def name(self) -> str:
        return f"{self.layer}[{self.ch}, {self.row}, {self.col}]" if self.spatial else f"{self.layer}[{self.ch}]"


def _in_range(key: str, lo: int, hi: int) -> str:
    """A kept value outside this network's range (it changed meanwhile) gives way to the default."""
    v = st.session_state.get(key)
    if v is not None and not lo <= v <= hi:
        del st.session_state[key]
    return key


def unit_picker(acts, layers: dict, first_conv: str | None) -> Unit:
    names = acts.names
    a, b, cc, d = st.columns([2, 1, 1, 1])
    layer = a.selectbox("Layer", names, index=names.index(first_conv) if first_conv else 0, key="act_layer",
                        format_func=lambda n: f"{n} ({layers[n]['type']}) → {shape_text(layers[n]['out_shape'])}")
    out = acts.outputs[layer]
    stats = A.map_stats(out)
    if out.dim() != 3:
        ch = b.number_input(f"Unit (0–{out.shape[0] - 1})", 0, out.shape[0] - 1, int(out.argmax()),
                            key=_in_range(f"act_unit_{layer}", 0, out.shape[0] - 1))
        return Unit(layer, out, stats, ch)
    order = A.channel_order(out, b.selectbox("Sort maps by", ["index", "mean", "max", "zeros"], key="act_sort"))
    per_page = cc.selectbox("Maps per page", [24, 48, 96], index=1, key="act_per_page")
    n_pages = -(-out.shape[0] // per_page)
    page = d.number_input(f"Page (of {n_pages})", 1, n_pages, 1,
                          key=_in_range(f"act_page_{layer}_{per_page}", 1, n_pages))
    u1, u2, u3 = st.columns(3)
    ch = u1.number_input(f"Unit: channel (0–{out.shape[0] - 1})", 0, out.shape[0] - 1, int(order[0]),
                         key=_in_range(f"act_ch_{layer}", 0, out.shape[0] - 1))
    row = u2.slider("row", 0, out.shape[1] - 1, int(stats["argmax_row"][ch]),
                    key=_in_range(f"act_row_{layer}_{ch}", 0, out.shape[1] - 1)) if out.shape[1] > 1 else 0
    col = u3.slider("column", 0, out.shape[2] - 1, int(stats["argmax_col"][ch]),
                    key=_in_range(f"act_col_{layer}_{ch}", 0, out.shape[2] - 1)) if out.shape[2] > 1 else 0
    return Unit(layer, out, stats, ch, row, col, order, page, per_page)


def clipped(box, receptive_field) -> bool:
    """Whether the box (top, left, bottom, right; inclusive) is smaller than the receptive field
    (an int, [h, w], or None where it is not defined): part of the field lies outside the image."""
    if receptive_field is None:
        return False
    rh, rw = (receptive_field, receptive_field) if isinstance(receptive_field, (int, float)) else receptive_field
    return box[2] - box[0] + 1 < rh or box[3] - box[1] + 1 < rw


def box_caption(unit: Unit, box, grad_box, layer_row: dict) -> str:
    """What input pixels the unit sees (its receptive box) and whether the gradient agrees."""
    if box is None:
        return f"Unit {unit.name} sees no input pixel: every tap of its window lands in padding."
    text = (f"Unit {unit.name} sees input rows {box[0]}–{box[2]}, columns {box[1]}–{box[3]} (receptive field "
            f"{layer_row['receptive_field']}, jump "
            f"{'not defined: unequal adaptive-pool windows' if layer_row['jump'] is None else layer_row['jump']}"
            f"{'; clipped at the image border' if clipped(box, layer_row['receptive_field']) else ''}).")
    if grad_box is None:
        return text
    inside = grad_box[0] >= box[0] and grad_box[1] >= box[1] and grad_box[2] <= box[2] and grad_box[3] <= box[3]
    return (text + f" Non-zero gradient on rows {grad_box[0]}–{grad_box[2]}, columns {grad_box[1]}–{grad_box[3]}: "
            + ("inside the box." if inside else "OUTSIDE the box!"))


# ---- explain the chosen unit ---------------------------------------------------------------
TOP_CHANNELS = 12  # the waterfall shows this many input channels by |Σ|, then 'the others'
CLICKABLE_PIXELS = 4096  # maps up to 64×64 take a click; larger ones use the sliders


def slider_keys(layer: str, ch: int) -> tuple[str, str]:
    """The keys of unit_picker's row and column sliders for one channel."""
    return f"act_row_{layer}_{ch}", f"act_col_{layer}_{ch}"


def explain_section(model, spec: NetSpec, x, acts, unit: Unit) -> None:
    """How the chosen unit got its value (alexnet.explain), with the parts to look at."""
    from alexnet import explain as X
    from explorer import act_figures as fig

    try:
        e = X.explain_unit(model, spec, x, unit.layer, (unit.ch, unit.row, unit.col) if unit.spatial else (unit.ch,),
                           acts)
    except ValueError as err:
        st.error(f"This unit cannot be explained: {err}")
        return
    _headline(e, unit)
    left, right = st.columns(2)
    if unit.spatial:
        with left:
            _clickable_map(unit, fig)
    with right if unit.spatial else left:
        _contributions(e, fig)
    if e.window is not None:
        _window_parts(e, unit, fig, lambda ch: X.slide(model, spec, x, acts, e.layer, unit.ch, ch))


def _headline(e, unit: Unit) -> None:
    ok = e.agrees
    st.markdown(f"**{unit.name}** = **{e.model_value:.5g}**, the value the model computed; recomputed here step "
                f"by step from the layer's input and weights: **{e.value:.5g}** "
                + (":material/check_circle: equal to float precision" if ok else ":material/error: NOT equal"))
    st.code(e.formula + (f"\nthen {e.after.layer}: {e.after.formula}" if e.after else ""), language=None,
            wrap_lines=True)
    if e.steps:
        st.caption(" · ".join(e.steps))
    if not ok:
        st.error(f"The recomputed value differs from the model's by {abs(e.value - e.model_value):.3g}.")


def _contributions(e, fig) -> None:
    """Waterfall of what adds up to the value: a conv's input channels, a linear's inputs."""
    if e.window is not None and e.window.kernel is not None:
        w = e.window
        sums = w.per_channel
        order = np.argsort(-np.abs(sums))
        labels = [f"ch {w.channels[i]}" for i in order[:TOP_CHANNELS]]
        values = [float(sums[i]) for i in order[:TOP_CHANNELS]]
        if len(order) > TOP_CHANNELS:
            labels.append(f"{len(order) - TOP_CHANNELS} other channels")
            values.append(float(sums[order[TOP_CHANNELS:]].sum()))
        what = f"Σ input·weight per input channel ({len(order)} channels)"
    elif e.terms:
        labels = [t.label for t in e.terms]
        values = [t.product for t in e.terms]
        if e.n_inputs > len(e.terms):
            labels.append(f"{e.n_inputs - len(e.terms):,} other inputs")
            values.append(e.rest)
        what = f"input·weight, the {len(e.terms)} largest of {e.n_inputs:,} inputs"
    else:
        return
    if e.bias is not None:
        labels.append("bias")
        values.append(e.bias)
    st.plotly_chart(fig.contributions_figure(labels, values, e.value, title=f"{e.layer}: {what}"),
                    key="act_explain_sums")


def _window_parts(e, unit: Unit, fig, slide) -> None:
    """The window the unit reads: one input channel at a time (a drill-down over the
    channels, largest |Σ| first), and for a conv the kernel sliding over that channel."""
    w = e.window
    conv = w.kernel is not None
    order = [int(i) for i in np.argsort(-np.abs(w.per_channel))] if conv else [0]
    pick = order[0]
    if len(order) > 1:
        pick = st.selectbox(f"Input channel to look at ({len(order)} in this window, largest |Σ| first)", order,
                            format_func=lambda i: f"channel {w.channels[i]}: Σ input·weight = {w.per_channel[i]:.4g}",
                            key=f"act_explain_ch_{unit.name}")
    what = f"channel {w.channels[pick]}" + (f", Σ input·weight = {w.per_channel[pick]:.4g}" if conv else "")
    st.plotly_chart(fig.window_figure(w.patch[pick], w.where, w.rows, w.cols, kernel=w.kernel[pick] if conv else None,
                                      winner=e.winner, title=f"{e.layer} window of {unit.name}, input {what} "
                                      f"(axes: input rows/columns; {w.pad_note})"), key="act_explain_window")
    if not conv:
        return
    s = slide(pick)
    positions = fig.slide_positions(*s.partial.shape, unit.row)
    whole = len(positions) == s.partial.size
    st.plotly_chart(fig.slide_figure(s, positions, positions.index((unit.row, unit.col)),
                                     title=f"Filter {unit.ch} sliding over input channel {w.channels[pick]}"),
                    key="act_explain_slide")
    st.caption("Play or step: the red box is the kernel's window on the input channel (padding grey); the right map "
               "fills in with Σ input·weight of this channel at each output position. Summed over all input "
               "channels plus the bias, it is the layer's output. "
               + ("Every output position is shown." if whole else
                  f"The map has {s.partial.size:,} positions; the animation walks the chosen unit's row."))


def _clickable_map(unit: Unit, fig) -> None:
    """The chosen channel's map with the unit outlined; clicking a pixel moves the unit there."""
    fmap = unit.out[unit.ch].numpy()
    clickable = fmap.size <= CLICKABLE_PIXELS
    key = f"act_pick_{unit.layer}_{unit.ch}"
    title = f"{unit.layer} channel {unit.ch}" + (" — click a pixel to explain it" if clickable else "")
    st.plotly_chart(fig.unit_map_figure(fmap, unit.row, unit.col, title=title, clickable=clickable), key=key,
                    on_select=(lambda: _picked(key, unit.layer, unit.ch)) if clickable else "ignore",
                    selection_mode="points", config={"displayModeBar": False})


def _picked(key: str, layer: str, ch: int) -> None:
    """A click on the map (a point of its marker layer) sets the row and column sliders."""
    points = [p for p in st.session_state[key]["selection"]["points"] if p.get("curve_number") == 1]
    if points:
        row_key, col_key = slider_keys(layer, ch)
        st.session_state[row_key], st.session_state[col_key] = int(points[-1]["y"]), int(points[-1]["x"])
