"""The Train page's form: recipe and hyperparameter widgets with bounds, fitting a
network to a dataset, and the "too slow" suggestions.  Keeps pages/train.py thin."""

from __future__ import annotations

import zlib

import streamlit as st

from alexnet import analyze, get_spec, jobs, list_presets
from alexnet.data import DATASETS, DatasetInfo, can_download, dataset_info, offline_message
from alexnet.devices import available_devices
from alexnet.spec import NetSpec, SpecError
from explorer.state import set_spec

PATH_CHOICE = "a file or folder…"  # the Dataset box's last entry: type a path
SMALL_RUN_SECONDS = 600  # a "small run" should finish within ten minutes
OPTIMIZERS = ["sgd", "adam", "adamw"]
SCHEDULES = ["constant", "step", "cosine", "onecycle"]
PRECISIONS = ["fp32", "bf16", "fp16"]


def engine():
    """The training engine module, or None while it is not installed."""
    try:
        from alexnet import train
    except Exception:  # ImportError, or a broken engine: the page still shows runs
        return None
    return train


def dataset_picker(prefix: str = "tr") -> tuple[str, DatasetInfo]:
    """The Dataset box (built-in names, or a path typed in) and what is known about the
    choice; says at once what it is, or why it cannot be used."""
    names = [*DATASETS, PATH_CHOICE]
    pick = st.selectbox("Dataset", names, key=f"{prefix}_dataset")
    dataset = pick
    if pick == PATH_CHOICE:
        dataset = st.text_input("Path to an .npz file or an image folder (train/<class>/…, test/<class>/…)",
                                key=f"{prefix}_dataset_path", placeholder="/home/me/cifar10-subset.npz").strip()
        if not dataset:
            return "", DatasetInfo("", "npz", 0, 0, 0, None, False, "files",
                                   problem="type the path of an .npz file or an image folder on this machine")
    info = dataset_info(dataset)
    return dataset, info


def dataset_blocker(info: DatasetInfo) -> str | None:
    """Why a run on this dataset would fail before training (None: it can start)."""
    if info.problem:
        return info.problem
    if not info.on_disk and not can_download(info):
        return offline_message(info)
    return None


def show_dataset(info: DatasetInfo, blocker: str | None) -> None:
    if blocker:
        st.error(blocker, icon=":material/cloud_off:" if info.kind == "builtin" else ":material/error:")
        return
    about = DATASETS[info.name].description + ": " if info.kind == "builtin" else ""
    st.caption(about + info.describe())
    if not info.on_disk:
        mb = DATASETS[info.name].download_mb
        st.caption(f"Not on this machine yet: the run first downloads it (about {mb} MB) into {info.folder}.")


def fit_to_dataset(spec: NetSpec, dataset: str) -> tuple[NetSpec, str]:
    """The network with its last linear layer sized to the dataset's classes."""
    classes = dataset_info(dataset).num_classes if dataset else 0
    if classes < 1:
        return spec, ""
    lin = [i for i, layer in enumerate(spec.layers) if layer.type == "linear"]
    if not lin:
        return spec, ("This network has no classifier (no linear layer); the engine decides how to train it.")
    last = spec.layers[lin[-1]]
    if last.out_features == classes:
        return spec, ""
    try:
        fitted = spec.with_layer(lin[-1], last.replace(out_features=classes))
    except SpecError as e:
        return spec, f"Could not resize the classifier to {classes} classes: {e}"
    return fitted, (f"The last linear layer has {last.out_features} outputs; for {dataset} it is trained "
                    f"with {classes} (one per class).")


def _num(label, key, value, lo, hi, step=None, fmt=None, help=None):
    value = min(max(value, lo), hi)
    return st.number_input(label, min_value=lo, max_value=hi, value=value, step=step, format=fmt, key=key, help=help)


def config_widgets(train, dataset: str) -> tuple[str, dict]:
    """Recipe picker and overrides; returns (recipe, config dict for the engine, which
    trains on ``dataset``)."""
    recipes = list(getattr(train, "RECIPES", {}) or {"quick": {}})
    default = recipes.index("quick") if "quick" in recipes else 0
    recipe = st.selectbox("Recipe", recipes, index=default, key="tr_recipe",
                          help="settings from the tutorials; every field below starts from the recipe")
    base = train.make_config(recipe).to_dict() if train is not None else {}
    k = f"tr_{recipe}_"  # widgets restart from the recipe's values when the recipe changes
    c = st.columns(3)
    o = {}
    with c[0]:
        o["epochs"] = int(_num("Epochs", k + "epochs", int(base.get("epochs", 2)), 1, 200))
        o["batch_size"] = int(_num("Batch size", k + "batch", int(base.get("batch_size", 64)), 1, 4096))
        o["optimizer"] = st.selectbox("Optimizer", OPTIMIZERS, key=k + "opt",
                                      index=OPTIMIZERS.index(base.get("optimizer", "sgd"))
                                      if base.get("optimizer", "sgd") in OPTIMIZERS else 0)
    with c[1]:
        o["lr"] = float(_num("Learning rate", k + "lr", float(base.get("lr", 0.01)), 1e-6, 10.0, fmt="%.5f"))
        o["weight_decay"] = float(_num("Weight decay", k + "wd", float(base.get("weight_decay", 0.0)), 0.0, 0.1,
                                       fmt="%.5f"))
        sched = base.get("schedule", "constant")
        o["schedule"] = st.selectbox("LR schedule", SCHEDULES, key=k + "sched",
                                     index=SCHEDULES.index(sched) if sched in SCHEDULES else 0)
    with c[2]:
        prec = base.get("precision", "fp32")
        o["precision"] = st.selectbox("Precision", PRECISIONS, key=k + "prec",
                                      index=PRECISIONS.index(prec) if prec in PRECISIONS else 0,
                                      help="bf16/fp16 use autocast; on a CPU fp32 is usually fastest")
        devs = available_devices()
        o["device"] = st.selectbox("Device", devs, key=k + "dev",
                                   help="auto: the GPU when there is one, else the CPU")
        o["train_subset"] = int(_num("Train on at most N images (0 = all)", k + "subset",
                                     int(base.get("train_subset") or 0), 0, 1_000_000, step=500))
    if "momentum" in base and o["optimizer"] == "sgd":
        o["momentum"] = float(_num("Momentum", k + "mom", float(base.get("momentum") or 0.0), 0.0, 0.999,
                                   fmt="%.3f"))
    aug = st.columns(3)
    if "flip" in base:
        o["flip"] = aug[0].checkbox("Random horizontal flip", value=bool(base["flip"]), key=k + "flip")
    if "translate" in base:
        o["translate"] = float(aug[1].slider("Random shift (fraction of the side)", 0.0, 0.25,
                                             float(base["translate"] or 0.0), step=0.025, key=k + "translate",
                                             help="0.125 = up to 4 pixels at 32×32 (pad-and-crop)"))
    if "color_jitter" in base:
        o["color_jitter"] = float(aug[2].slider("Colour jitter", 0.0, 0.5, float(base["color_jitter"] or 0.0),
                                                step=0.05, key=k + "jitter"))
    if not o["train_subset"]:
        o["train_subset"] = None
    o["dataset"] = dataset or "digits"
    if train is None:
        return recipe, dict(base, **o)
    return recipe, train.make_config(recipe, **{f: v for f, v in o.items() if f in base}).to_dict()


def run_name_input(default: str) -> str:
    """The run name box: it follows the network, dataset and recipe (``default``) until
    the person types a name of their own.  The box's key changes with the name it shows,
    so the browser never keeps an old default (a widget's value set through session
    state can lose to the browser's copy)."""
    value = st.session_state.get("tr_name_custom") or default
    key = f"tr_name_{zlib.crc32(value.encode()):08x}"
    st.session_state["tr_name_key"] = key  # for tests and the launch button
    st.text_input("Run name", value=value, key=key, max_chars=200, on_change=_name_typed, args=(key, default))
    return st.session_state.get(key) or value


def _name_typed(key: str, default: str) -> None:
    typed = (st.session_state.get(key) or "").strip()
    st.session_state["tr_name_custom"] = typed if typed and typed != default else None


def suggestion(spec: NetSpec, est: dict) -> str:
    tips = []
    c, h, w = spec.input.shape
    if h > 64:
        tips.append("a smaller input (32×32 or 64×64)")
    if spec.name != "alexnet-cifar-32" and "alexnet-cifar-32" in list_presets():
        tips.append("the `alexnet-cifar-32` preset (AlexNet's design for 32×32 images)")
    if est["train_images"] > 2000:
        tips.append("a subset of the training images")
    tips.append("fewer epochs")
    return "Try " + ", ".join(tips) + "."


def _smallest_input(spec: NetSpec) -> NetSpec | None:
    for side in (32, 64, 96, 128):
        if side >= spec.input.height:
            return None
        try:
            s = spec.with_input(height=side, width=side)
        except SpecError:
            continue
        if not analyze(s).errors:
            return s
    return None


def _use_preset(name: str) -> None:
    st.session_state["tr_source"] = "preset"
    st.session_state["tr_preset"] = name


def _use_spec(spec: NetSpec, base: str | None) -> None:
    set_spec(spec, base=base)
    st.session_state["tr_source"] = "current"


def adopt_preset() -> None:
    name = st.session_state["tr_preset"]
    _use_spec(get_spec(name), name)


def _use_subset(n: int) -> None:
    st.session_state[f"tr_{st.session_state.get('tr_recipe', 'quick')}_subset"] = n


def speedup_buttons(spec: NetSpec, source: str) -> None:
    c = st.columns(3)
    if "alexnet-cifar-32" in list_presets():
        c[0].button("Use alexnet-cifar-32", key="tr_fix_preset", on_click=_use_preset, args=("alexnet-cifar-32",))
    small = _smallest_input(spec if source == "current" else get_spec(st.session_state.get("tr_preset")))
    if small is not None:
        base = None if source == "current" else st.session_state.get("tr_preset")
        c[1].button(f"Shrink the input to {small.input.height}×{small.input.width}", key="tr_fix_input",
                    on_click=_use_spec, args=(small, base),
                    help="changes the current network's input size (see the Architecture page)")
    c[2].button("Train on 1,000 images", key="tr_fix_subset", on_click=_use_subset, args=(1000,))


def pick_run_to_watch(mgr: jobs.JobManager) -> str | None:
    """The run whose live panel the Train page shows: the one just launched, else an
    active one (so a refreshed or reopened page finds it again), else the newest."""
    runs = mgr.store().list_runs()
    if not runs:
        return None
    active = [r for r in runs if r["status"] in jobs.ACTIVE]
    shown = active + [r for r in runs if r["status"] not in jobs.ACTIVE][:15]
    ids = [r["id"] for r in shown]
    labels = {r["id"]: f"{r['name']} ({r['id']})" for r in shown}
    want = st.session_state.pop("tr_watch", None)
    if want in ids:
        st.session_state["tr_watch_sel"] = want
    if st.session_state.get("tr_watch_sel") not in ids:
        st.session_state["tr_watch_sel"] = (active[0] if active else runs[0])["id"]
    return st.selectbox("Watching run", ids, format_func=labels.get, key="tr_watch_sel")

