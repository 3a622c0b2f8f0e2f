"""The Train page's form: the dataset picker, recipe and hyperparameter widgets (built
from the training options' metadata in alexnet.config), and the "too slow" suggestions.
Keeps pages/train.py thin."""

from __future__ import annotations

import importlib
import os
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import streamlit as st

from alexnet import analyze, devices, estimate, get_spec, jobs, list_presets
from alexnet.config import BUDGET_EPOCHS, OPTIONS, RECIPES, Option, Widget, make_config
from alexnet.data import DATASETS, DatasetInfo, can_download, dataset_info, offline_message
from alexnet.devices import available_devices, device_key
from alexnet.sizing import adapt_spec
from alexnet.spec import NetSpec, SpecError
from alexnet.textfmt import fmt_seconds, one_line
from explorer import preload
from explorer.state import set_spec

PATH_CHOICE = "a file or folder…"  # the Dataset box's last entry: type a path
SMALL_RUN_SECONDS = 600  # a "small run" should finish within ten minutes
AUTO_TIMING_S = 10  # timed by itself when the model says timing takes at most this long; else a button
# the form's widgets, kept while another page is shown (explorer.state.remember)
KEPT_KEYS = ("tr_source", "tr_preset", "tr_dataset", "tr_dataset_path", "tr_recipe")
KEPT_PREFIXES = tuple(f"tr_{r}_" for r in RECIPES)


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


def sized_for_dataset(spec: NetSpec, info: DatasetInfo) -> tuple[NetSpec, list[str]]:
    """The network with its classifier resized to the dataset's classes (the engine does the
    same), the resize said in a caption; with the reasons it cannot train (none when it can)."""
    errors = []
    try:
        spec, note = adapt_spec(spec, info.num_classes)
    except SpecError as e:  # nothing to size: the engine would refuse it too
        note, errors = None, [str(e)]
    if note:
        st.caption(note[:1].upper() + note[1:] + ".")
    return spec, errors + analyze(spec).errors


def dataset_blocker(info: DatasetInfo) -> str | None:
    """Why a run on this dataset would fail before training (None: it can start)."""
    if info.problem:
        return info.problem
    if not info.on_disk and not can_download(info):
        return offline_message(info)
    return None


def show_dataset(info: DatasetInfo, blocker: str | None, input_shape=None) -> None:
    if blocker:
        st.error(blocker, icon=":material/cloud_off:" if info.kind == "builtin" else ":material/error:")
        return
    about = DATASETS[info.name].description + ": " if info.kind == "builtin" else ""
    st.caption(about + info.describe())
    if info.kind == "folder" and input_shape is not None:  # in memory or streamed from disk, and why
        from alexnet.streaming import choose as choose_data_path  # torch: only for a folder

        path = choose_data_path(info.name, input_shape)
        icon = ":material/storage:" if path.mode == "stream" else ":material/memory:"
        st.caption(f"{icon} {path.why[:1].upper()}{path.why[1:]}.")
    if not info.on_disk:
        mb = DATASETS[info.name].download_mb
        st.caption(f"Not on this machine yet: the run first downloads it (about {mb} MB) into {info.folder}.")


def config_widgets(dataset: str) -> tuple[str, dict]:
    """Recipe picker and one widget per training option that has a ``Widget`` in its
    metadata (alexnet.config), placed in the rows and columns it names; returns (recipe,
    the validated config dict for the engine, which trains on ``dataset``)."""
    recipe = st.selectbox("Recipe", list(RECIPES), index=list(RECIPES).index("quick"), key="tr_recipe",
                          help="settings from the tutorials; every field below starts from the recipe")
    base = make_config(recipe).to_dict()
    key = f"tr_{recipe}_"  # widgets restart from the recipe's values when the recipe changes
    rows = {"top": [st.container()], "main": st.columns(3), "extra": [st.container()], "aug": st.columns(3)}
    chosen: dict = {}
    # the top row first: the widgets below may depend on it (no Epochs box with a time budget)
    for name, opt in sorted(OPTIONS.items(), key=lambda kv: kv[1].page is None or kv[1].page.row != "top"):
        w = opt.page
        if w is None or (w.only_with and chosen.get(w.only_with[0]) != w.only_with[1]):
            continue
        with rows[w.row][w.col]:
            chosen[name] = _widget(opt, w, base[name], key + w.key)
    if chosen.get("max_seconds"):  # the time budget, not the epoch count, ends the run
        chosen["epochs"] = BUDGET_EPOCHS
    return recipe, make_config(recipe, **chosen, dataset=dataset or "digits").to_dict()


def _widget(opt: Option, w: Widget, value, key: str):
    """One option's widget, starting at ``value`` (clamped to the page's bounds)."""
    if w.kind == "select":
        choices = list(opt.choices)
        return st.selectbox(w.label, choices, index=choices.index(value) if value in choices else 0, key=key,
                            help=w.help)
    if w.kind == "devices":
        return st.selectbox(w.label, available_devices(), key=key, help=w.help)
    if w.kind == "budget":
        return st.radio(w.label, list(w.choices), index=list(w.choices).index(value) if value in w.choices else 0,
                        format_func=budget_label, horizontal=True, key=key, help=w.help)
    if w.kind == "checkbox":
        return st.checkbox(w.label, value=bool(value), key=key, help=w.help)
    lo, hi = opt.kind(w.lo), opt.kind(w.hi)
    start = min(max(opt.kind(value or 0), lo), hi)
    if w.kind == "slider":
        return opt.kind(st.slider(w.label, lo, hi, start, step=w.step, key=key, help=w.help))
    got = opt.kind(st.number_input(w.label, min_value=lo, max_value=hi, value=start, step=w.step, format=w.fmt,
                                   key=key, help=w.help))
    return None if w.zero_is_none and not got else got


def budget_label(seconds: float | None) -> str:
    """'1 minute', '3 minutes', … or 'the epochs below' for no time budget."""
    if not seconds:
        return "the epochs below"
    minutes = seconds / 60
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"


def gpu_picker(cfg: dict, busy: set[str] = frozenset()) -> int:
    """'GPUs: 1 … N' when this machine has several GPUs and the run may use any of them
    (device auto or cuda); default all that are free.  1 (no widget) otherwise."""
    n = devices.gpu_count()
    if n < 2 or cfg.get("device") not in ("auto", "cuda"):
        return 1
    free = max(1, n - len({d for d in busy if d.startswith("cuda")}))
    gpus = st.selectbox("GPUs", list(range(1, n + 1)), index=free - 1, key="tr_gpus",
                        help="one training process per GPU (torchrun, DistributedDataParallel); the batch size "
                             "is the global batch, split over the GPUs")
    if cfg["batch_size"] % gpus:
        st.error(f"The batch size {cfg['batch_size']} does not split over {gpus} GPUs: use a multiple of {gpus}.",
                 icon=":material/error:")
    return gpus


def spread_over(est: dict, gpus: int) -> dict:
    """The estimate for ``gpus`` GPUs: linear scaling (an upper bound; bench/scaling.py measures it)."""
    if gpus < 2:
        return est
    out = dict(est, device=f"{est['device']} × {gpus}", basis=f"{est.get('basis', '')}, ÷ {gpus} GPUs "
               "assuming linear scaling (an upper bound)")
    for k in ("seconds_per_epoch", "seconds_total", "step_seconds"):
        if out.get(k):
            out[k] = out[k] / gpus
    return out


# ---- the engine: loaded after the form has drawn --------------------------------------------
def engine_loaded() -> bool:
    """PyTorch is imported and initialised (not merely being imported by explorer.preload)."""
    torch = sys.modules.get("torch")
    return torch is not None and not getattr(getattr(torch, "__spec__", None), "_initializing", False)


def load_engine(slot) -> None:
    """Import PyTorch (through explorer.preload's thread: started now or under way), saying so in
    ``slot`` meanwhile; when it cannot be imported, say why there and stop the page (the form
    above stays usable for reading)."""
    if engine_loaded():
        return
    slot.caption(":material/hourglass_top: Loading the training engine (PyTorch) for the estimate — only on "
                 "the first visit after the app starts…")
    preload.wait()  # the import in the background thread, which lets the form reach the browser meanwhile
    try:
        importlib.import_module("torch")
    except ImportError as e:
        slot.error(f"The training engine (PyTorch) could not be loaded, so nothing can be estimated or trained "
                   f"here: {e}. Install the requirements (`pip install -r requirements.txt`) and restart the app.",
                   icon=":material/error:")
        st.stop()
    slot.empty()


# ---- the estimate's helpers: past runs and timed steps, neither blocking the page ------------
@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def _past(root: str, stamp: tuple) -> list[estimate.Past]:
    mgr = jobs.get_manager(root)
    return estimate.past_runs(mgr.store(), mgr.meta)


def past_runs(mgr: jobs.JobManager) -> list[estimate.Past]:
    """What earlier runs in this store measured (cached until a run is added, ends or renamed)."""
    stamp = tuple((r["id"], r["status"], r.get("finished")) for r in mgr.store().list_runs()[:30])
    return _past(str(mgr.root), stamp)


def estimate_note(est: dict) -> str:
    """How much to trust the time estimate, from how far off past ones were."""
    said = estimate.error_text(est.get("past_errors") or [])
    if said:
        return f"Estimate from {est['basis']}; {said}."
    if est["basis"].startswith("timed"):
        return (f"Estimate from {est['basis']} (random data, training steps only). No finished run of this "
                "network here yet to check it against: expect ±30 % or more, as other programs share the CPU.")
    return (f"Estimate from {est['basis']}. No finished run of this network on this machine yet to check it "
            "against: it may be off by a factor of two or more (other programs share the CPU).")


@st.cache_resource(show_spinner=False)
def _timer() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="time-steps")


@st.cache_resource(show_spinner=False)
def _timings() -> dict[str, Future]:
    """Timings under way or done in this server process, by timing key (all sessions share them)."""
    return {}


@dataclass
class Timing:
    """The timed training step of a network, batch and device on this machine: ``seconds`` when
    known, ``job`` while it is being timed in the background (or when that failed), ``start``
    (and its model-guessed ``cost`` in seconds) when it is offered as a button instead."""
    seconds: float | None = None
    job: Future | None = None
    start: Callable[[], None] | None = None
    cost: float = 0.0


def step_timing(mgr: jobs.JobManager, spec: NetSpec, dataset: str, cfg: dict, past: list[estimate.Past]) -> Timing:
    """A few real training steps of this network timed on this CPU — kept on disk from an
    earlier page load, else started now in a background thread (or offered as a button when
    the model says it would take long) — unless past runs of this network already say how fast
    it trains.  The page shows the multiply-add estimate until the timing is done
    (``timing_progress``), then the timed one, on every later load too."""
    key = estimate.timing_key(spec, dataset, cfg["batch_size"], cfg["device"])
    saved = estimate.saved_timing(mgr.root, key)
    if saved:
        return Timing(saved["step_seconds"])
    job = _timings().get(key)
    if job is not None:
        return Timing(job.result() if job.done() and job.exception() is None else None, job)
    info = dataset_info(dataset)
    cal = estimate.calibration(estimate.as_trained(spec, info.num_classes), "cpu", past)
    if device_key(cfg["device"]) != "cpu" or (cal and "images_per_sec" in cal):
        return Timing()
    args = (mgr.root, key, spec.to_json(indent=None), cfg["batch_size"], info.image_shape)

    def start() -> None:
        _timings()[key] = _timer().submit(estimate.time_and_save, *args)

    cost = estimate.timing_cost_guess(args[2], cfg["batch_size"])
    if cost > AUTO_TIMING_S or os.environ.get("ALEXNET_AUTO_TIMING", "1") == "0":
        return Timing(start=start, cost=cost)
    start()
    return Timing(None, _timings()[key])


def timing_progress(timing: Timing) -> None:
    """The offer to time the network, or while it is timed a line saying so and a rerun of the
    page when it is done, or why it failed."""
    job = timing.job
    if timing.start is not None:
        st.button("Time this network's training steps", icon=":material/timer:", key="tr_measure",
                  on_click=timing.start, help=f"a few real steps on this CPU, in the background (about "
                  f"{fmt_seconds(timing.cost)} by the multiply-add model); the estimate then uses them, now and "
                  "on later visits")
    if job is None or timing.seconds is not None:
        return
    if job.done():
        if job.exception() is not None:
            st.caption(f"Timing this network's training steps failed ({one_line(str(job.exception()))}); the "
                       "estimate stays on multiply-adds.")
        return

    @st.fragment(run_every=1.0)
    def poll():
        if job.done():
            st.rerun(scope="app")
        st.caption(":material/timer: Timing a few real training steps of this network in the background "
                   "(seconds; longer on a busy machine). The estimate above updates when done, and is kept "
                   "for the next visit.")
    poll()


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
    row = st.container(horizontal=True)  # the buttons as wide as their labels, wrapping when the column is narrow
    c = [row] * 3
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

