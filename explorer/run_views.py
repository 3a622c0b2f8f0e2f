"""What the Train and Runs pages show about runs: the live panel (a fragment that
reads the store about once a second), the runs table, diffs between runs, CSV.

The pure helpers (``table_rows``, ``spec_diff``, ``config_diff``, ``metrics_csv``,
``StepCache``) do not touch Streamlit; ``live_panel`` does.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from datetime import datetime

import numpy as np
import streamlit as st

from alexnet import jobs
from alexnet.distributed import STOP_REASONS
from alexnet.estimate import progress
from alexnet.netstats import torchinfo_totals
from alexnet.runs import RunStoreError
from alexnet.spec import spec_changes
from alexnet.textfmt import fmt_seconds, human_bytes
from explorer import run_figures as rf

REFRESH_SECONDS = 1.0
STATUS_ICON = {"queued": ":material/hourglass_empty:", "running": ":material/directions_run:",  # Material icons:
               "completed": ":material/check_circle:", "failed": ":material/error:",  # no emoji font needed
               "stopped": ":material/stop_circle:", "interrupted": ":material/warning:"}


def job_manager() -> jobs.JobManager | None:
    """The job manager with its run store open, or None after an error that says what is
    wrong with the store and how to recover (the pages that need no store still work).
    A warning when run folders have no entry in the store (it was emptied or replaced)."""
    try:
        mgr = jobs.get_manager()
        note = mgr.store().orphans_note()
    except (RunStoreError, sqlite3.DatabaseError) as e:
        st.error(f"Runs cannot be listed or started: {e}")
        return None
    if note:
        st.warning(note)
    return mgr


# ---- pure helpers ----------------------------------------------------------------------
class StepCache:
    """Step metrics of one run, fetched incrementally (only rows after the last seen
    step), so a refresh of a 20,000-step run reads a handful of rows.  ``rows`` are the
    dicts; ``columns`` the same as numpy arrays (what the figures draw from)."""

    KEYS = ("step", "epoch", "loss", "lr", "images_per_sec", "time")

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.rows: list[dict] = []
        self.columns: dict[str, np.ndarray] = {k: np.empty(0) for k in self.KEYS}

    def update(self, store) -> list[dict]:
        last = self.rows[-1]["step"] if self.rows else None
        new = store.step_metrics(self.run_id, since_step=last)
        if last is not None:
            new = [r for r in new if r["step"] > last]
        if new:
            self.rows.extend(new)
            for k in self.KEYS:
                self.columns[k] = np.concatenate([self.columns[k], rf.column(new, k)])
        return self.rows


def wall_seconds(run: dict) -> float | None:
    if not run.get("started"):
        return None
    end = run.get("finished") or (time.time() if run["status"] == "running" else None)
    return (end - run["started"]) if end else None


def recipe_of(run: dict, meta: dict) -> str:
    return meta.get("recipe") or (run.get("config") or {}).get("recipe") or "—"


def table_rows(runs: list[dict], metas: dict[str, dict], sizes: dict[str, dict | None] | None = None) -> list[dict]:
    """One row per run for the runs table (sortable columns, plain types); ``sizes`` (run
    id → ``torchinfo_totals``) adds torchinfo's parameter split and estimated total size."""
    rows = []
    for r in runs:
        cfg = r.get("config") or {}
        best = r.get("best_test_acc")
        ti = (sizes or {}).get(r["id"]) or {}
        rows.append({
            "name": r["name"],
            "created": datetime.fromtimestamp(r["created"]),  # early: never the half-hidden last column
            "network": (r.get("spec") or {}).get("name", "—"),
            "dataset": cfg.get("dataset", "—"),
            "recipe": recipe_of(r, metas.get(r["id"], {})),
            "status": r["status"],  # a data grid cannot draw icons: the word says it
            "best test acc (%)": None if best is None else round(100 * best, 2),
            "epochs": f"{r.get('epochs_done') or 0}/{cfg.get('epochs', '?')}",
            "wall time (s)": None if wall_seconds(r) is None else round(wall_seconds(r), 1),
            "device": r.get("device") or cfg.get("device") or "—",
            **({} if sizes is None else {
                "trainable params": ti.get("trainable_params"), "non-trainable params": ti.get("non_trainable_params"),
                "est. total size (MB)": round(ti["total_bytes"] / 1e6, 2) if ti else None}),
            "id": r["id"],
        })
    return rows


@st.cache_data(show_spinner=False, max_entries=512)
def _torchinfo_totals(spec_json: str) -> dict | None:
    return torchinfo_totals(json.loads(spec_json))


def torchinfo_sizes(runs: list[dict]) -> dict[str, dict | None]:
    """Run id → torchinfo's totals of its network (cached per network)."""
    return {r["id"]: _torchinfo_totals(json.dumps(r.get("spec") or {}, sort_keys=True)) for r in runs}


TABLE_COLUMNS = {  # the runs table's column help: what torchinfo's figures mean
    "trainable params": st.column_config.NumberColumn(help="torchinfo: parameters with requires_grad", format="%d"),
    "non-trainable params": st.column_config.NumberColumn(help="torchinfo: frozen parameters", format="%d"),
    "est. total size (MB)": st.column_config.NumberColumn(
        help="torchinfo's 'Estimated Total Size' for one image: input + forward/backward pass + parameters "
             "(MB = 10^6 bytes, as torchinfo prints it); an estimate, not measured memory", format="%.2f"),
}


def step_compare(store, sel: list[str], by_id: dict, label: dict) -> None:
    """The selected runs' training loss per step on one chart, with TensorBoard's controls:
    smoothing, log-scale y and a step / epoch / wall-clock x axis."""
    c = st.columns([2, 2, 1])
    smoothing = c[0].slider("Smoothing", 0.0, 0.999, 0.6, 0.001, key="rn_smooth", format="%.3f",
                            help="TensorBoard's exponential moving average (with its bias correction): 0 = raw "
                                 "loss; the faint line under each curve is the raw loss")
    x = c[1].radio("x axis", list(rf.STEP_X), format_func=rf.STEP_X.get, horizontal=True, key="rn_step_x")
    log_y = c[2].toggle("log-scale loss", key="rn_log_y")
    curves = [{"label": label[i], "steps": _steps(store, i).columns, "started": by_id[i].get("started")} for i in sel]
    st.plotly_chart(rf.step_overlay_figure(curves, smoothing, x, log_y), key="rn_step_overlay", width="stretch")


def spec_diff(a: dict, b: dict) -> list[dict]:
    """What changed from network ``a`` to network ``b`` (see ``alexnet.spec.spec_changes``)."""
    return spec_changes(a, b)


def config_diff(configs: list[dict]) -> list[dict]:
    """Config keys whose values differ between runs: {"setting", run label: value …}."""
    keys = sorted(set().union(*[c.keys() for c in configs])) if configs else []
    out = []
    for k in keys:
        vals = [c.get(k) for c in configs]
        if any(v != vals[0] for v in vals[1:]):
            out.append({"setting": k, **{f"run {i + 1}": str(v) for i, v in enumerate(vals)}})
    return out


def metrics_csv(steps: list[dict], epochs: list[dict]) -> str:
    """Both metric tables in one CSV: a 'kind' column says step or epoch."""
    cols = ["kind", "step", "epoch", "loss", "lr", "images_per_sec", "train_loss", "train_acc", "test_loss",
            "test_acc", "epoch_seconds", "peak_mem_bytes", "time"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in steps:
        w.writerow({"kind": "step", **r})
    for r in epochs:
        w.writerow({"kind": "epoch", **r})
    return buf.getvalue()


def measured(run: dict, steps: list[dict], epochs: list[dict]) -> dict:
    """What a finished (or running) run measured, next to the estimate."""
    secs = [e["epoch_seconds"] for e in epochs if e.get("epoch_seconds")]
    mem = [e["peak_mem_bytes"] for e in epochs if e.get("peak_mem_bytes")]
    ips = rf.column(steps, "images_per_sec") if rf._len(steps) else np.empty(0)
    ips = ips[np.isfinite(ips) & (ips > 0)]
    return {"seconds_per_epoch": sum(secs) / len(secs) if secs else None,
            "peak_mem_bytes": max(mem) if mem else None,
            "images_per_sec": float(np.median(ips)) if len(ips) else None}


# ---- Streamlit parts -------------------------------------------------------------------
def _steps(store, run_id: str) -> StepCache:
    key = f"_stepcache_{run_id}"
    cache = st.session_state.get(key)
    if cache is None:
        cache = st.session_state[key] = StepCache(run_id)
    cache.update(store)
    return cache


def run_stage(mgr: jobs.JobManager, run_id: str) -> str:
    """What a started run without steps is doing: the engine's last 'stage:' log line
    (alexnet.train._stage), or, before the first one, Python and PyTorch starting."""
    lines = [ln for ln in jobs.log_tail(mgr.log_path(run_id)).splitlines() if ln.startswith("stage: ")]
    return lines[-1][len("stage: "):] if lines else "starting Python and loading PyTorch"


def status_line(mgr: jobs.JobManager, run: dict, *, starting: bool = False) -> None:
    """``starting``: the run has logged no step yet (its stage is shown)."""
    s = run["status"]
    if s in jobs.ACTIVE and run.get("stop_requested"):  # said at once, before the engine ends the step
        st.warning("Stopping… the run ends after the current step and keeps a checkpoint.",
                   icon=STATUS_ICON["stopped"])
        return
    if s == "queued":
        pos = mgr.position(run["id"])
        if pos:
            st.info(f"Queued — number {pos} in line for {mgr._device_of(run)}. It starts by itself when "
                    "the run ahead of it ends; you can close this tab meanwhile.", icon=STATUS_ICON["queued"])
        else:
            st.info("Starting the training process…", icon=STATUS_ICON["queued"])
    elif s == "running":
        stage = f" — {run_stage(mgr, run['id'])}…" if starting else ""
        st.success(f"Running on {run.get('device') or '…'} (pid {run.get('pid') or '…'}){stage}. It keeps running "
                   "if you switch pages or close the tab.", icon=STATUS_ICON["running"])
    elif s == "completed":
        st.success("Completed.", icon=STATUS_ICON["completed"])
    elif s == "failed":
        st.error(f"Failed: {run.get('error') or 'no reason recorded'}", icon=STATUS_ICON["failed"])
    elif s == "stopped":
        why = run.get("error")
        why = "" if not why or why in STOP_REASONS else f": {why}"  # a Stop click (or SIGTERM) is just "stopped"
        st.warning(f"Stopped{why}. The last checkpoint is kept.", icon=STATUS_ICON["stopped"])
    elif s == "interrupted":
        why = run.get("error") or "the training process ended without finishing (killed, or the server restarted)"
        st.warning(f"Interrupted: {why}. The metrics up to that moment are kept below.",
                   icon=STATUS_ICON["interrupted"])


def estimate_table(meta: dict, got: dict) -> None:
    est = meta.get("estimate") or {}
    rows = [
        {"": "seconds per epoch", "estimated": fmt_seconds(est.get("seconds_per_epoch")),
         "measured": fmt_seconds(got["seconds_per_epoch"])},
        {"": "training memory (measured: GPU peak; on a CPU the process's RSS)",
         "estimated": human_bytes(est["memory_bytes"]) if est.get("memory_bytes") else "—",
         "measured": human_bytes(got["peak_mem_bytes"]) if got["peak_mem_bytes"] else "—"},
        {"": "images per second (median over steps)", "estimated": (f"{est['train_images'] / est['seconds_per_epoch']:,.0f}"
                                                 if est.get("seconds_per_epoch") else "—"),
         "measured": f"{got['images_per_sec']:,.0f}" if got["images_per_sec"] else "—"},
    ]
    st.caption(f"Estimate ({est.get('basis', 'not recorded')}) next to what the run measured:")
    st.dataframe(rows, hide_index=True, width="content")


def live_panel(mgr: jobs.JobManager, run_id: str, *, key: str = "live") -> None:
    """Status, progress, Stop, and the live charts of one run.  While the run is
    queued or running it is a fragment that refreshes every ``REFRESH_SECONDS``
    (AppTest does not fire run_every: tests call run() again)."""
    store = mgr.store()
    run = store.get_run(run_id)
    if run is None:
        st.info("That run no longer exists.")
        return
    active = run["status"] in jobs.ACTIVE

    @st.fragment(run_every=REFRESH_SECONDS if active else None)
    def panel():
        mgr.tick()
        run = store.get_run(run_id)
        if run is None:
            st.info("That run was deleted.")
            return
        if active and run["status"] not in jobs.ACTIVE:
            st.rerun()  # it just ended: redraw the page once, without the timer
        cache = _steps(store, run_id)
        steps, cols = cache.rows, cache.columns
        epochs = store.epoch_metrics(run_id)
        meta = mgr.meta(run_id)
        _status_and_stop(mgr, run, key, starting=not steps)
        p = progress(run, steps, epochs, (meta.get("estimate") or {}).get("steps_per_epoch"))
        steps_txt = f"{p['step']}/{p['steps_total']}" if p["steps_total"] else f"{p['step']}"
        eta = f" · ETA {fmt_seconds(p['eta'])}" if p["eta"] is not None else ""
        st.progress(p["fraction"], text=f"epoch {p['epoch']}/{p['epochs']} · step {steps_txt} · "
                                        f"{fmt_seconds(p['elapsed'])} elapsed{eta}")
        _metric_tiles(run, steps, epochs)
        c = st.columns(2)
        c[0].plotly_chart(rf.loss_figure(cols), key=f"{key}_loss_{run_id}", width="stretch")
        c[1].plotly_chart(rf.accuracy_figure(epochs), key=f"{key}_acc_{run_id}", width="stretch")
        c = st.columns(3)
        c[0].plotly_chart(rf.lr_figure(cols), key=f"{key}_lr_{run_id}", width="stretch")
        c[1].plotly_chart(rf.throughput_figure(cols), key=f"{key}_ips_{run_id}", width="stretch")
        c[2].plotly_chart(rf.memory_figure(epochs, run.get("device")), key=f"{key}_mem_{run_id}", width="stretch")
        if run["status"] not in ("queued",):
            estimate_table(meta, measured(run, cols, epochs))

    panel()


def _status_and_stop(mgr: jobs.JobManager, run: dict, key: str, starting: bool) -> None:
    """The status line, and Stop (Cancel while queued) next to it."""
    run_id = run["id"]
    top = st.columns([4, 1])
    with top[0]:
        status_line(mgr, run, starting=starting)
    with top[1]:
        if run["status"] in jobs.ACTIVE:
            label = "Cancel" if run["status"] == "queued" else "Stop"
            st.button(label, icon=":material/stop:", key=f"{key}_stop_{run_id}",  # a callback: the
                      help="ends the run cleanly with a checkpoint",      # status above says it at once
                      on_click=lambda: st.session_state.__setitem__(f"{key}_stopped", mgr.stop(run_id)),
                      disabled=bool(run.get("stop_requested")))
            if st.session_state.get(f"{key}_stopped"):
                st.toast(st.session_state.pop(f"{key}_stopped"))


def _metric_tiles(run: dict, steps: list, epochs: list) -> None:
    """Train loss, test accuracy, best test accuracy and the newest step's images/s."""
    last = epochs[-1] if epochs else None
    m = st.columns(4)
    m[0].metric("train loss", f"{steps[-1]['loss']:.4f}" if steps else "—")
    m[1].metric("test accuracy", f"{100 * last['test_acc']:.2f} %" if last and last.get("test_acc") is not None
                else "—")
    m[2].metric("best test accuracy", f"{100 * run['best_test_acc']:.2f} %"
                if run.get("best_test_acc") is not None else "—")
    m[3].metric("images/s (last step)", f"{steps[-1]['images_per_sec']:,.0f}"
                if steps and steps[-1].get("images_per_sec") else "—",
                help="training images per second in the newest logged step; the table below gives the median "
                     "over all steps")
