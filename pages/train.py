"""Train: launch a run of the current network (or a preset) and watch it learn live.

The run is a separate process started by the job manager (alexnet/jobs.py); this
page only writes a queued run into the store and reads the store back.
"""

import streamlit as st

# None of these imports PyTorch (seconds on the first visit after the app starts): the form
# below draws at once, and only "3 · Launch" (the estimate) and the live panel wait for it.
from alexnet import estimate, get_spec, list_presets
from alexnet.textfmt import fmt_seconds, human_bytes
from explorer import share, train_form
from explorer.run_views import job_manager, live_panel
from explorer.state import current_spec, remember

st.title("Train")
remember(train_form.KEPT_KEYS, train_form.KEPT_PREFIXES)  # the form's settings survive a visit to another page
share.apply_network_link()  # a shared link's network and settings, once per session
share.apply_train_link()
share.refused()
mgr = job_manager() or st.stop()

# ---- what to train --------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.subheader("1 · Network and data")
    cur = current_spec()
    source = st.radio("Network", ["current", "preset"], key="tr_source", horizontal=True,
                      format_func={"current": f"current network ({cur.name})", "preset": "a preset"}.get)
    if source == "preset":
        preset = st.selectbox("Preset", list_presets(), key="tr_preset",
                              index=list_presets().index("alexnet-cifar-32") if "alexnet-cifar-32" in list_presets()
                              else 0)
        spec = get_spec(preset)
    else:
        spec = cur
    dataset, info = train_form.dataset_picker()
    blocker = train_form.dataset_blocker(info)
    train_form.show_dataset(info, blocker, spec.input.shape)
    spec, errors = train_form.sized_for_dataset(spec, info)
    if errors:
        st.error("This network does not compute, so it cannot train: " + errors[0] + " — fix it on the Architecture page.")
    if source == "preset":
        st.button("Make this the current network", key="tr_adopt", on_click=train_form.adopt_preset,
                  help="load the preset as the current network, to edit it on the Architecture page")
with right:
    st.subheader("2 · Recipe and settings")
    recipe, cfg = train_form.config_widgets(dataset)
    gpus = train_form.gpu_picker(cfg, {q["device"] for q in mgr.queue() if q["position"] == 0})  # 1 without GPUs
    with st.expander("Share this network and these settings by link", icon=":material/link:"):
        share.copy_link({**share.network_params(cur if source == "current" else get_spec(preset)),
                         **share.train_params(recipe, cfg, dataset)}, "this network and these settings")

# ---- before launch: device, time and memory (the estimate needs the engine) -----------------
with left:
    st.subheader("3 · Launch")
    launch = st.empty()
train_form.load_engine(launch)  # "Loading the engine…" in its place until PyTorch is imported
past = train_form.past_runs(mgr)
timing = train_form.Timing() if errors or blocker else train_form.step_timing(mgr, spec, dataset, cfg, past)
est = estimate.estimate(spec, dataset=dataset if not blocker else "digits", batch_size=cfg["batch_size"],
                        epochs=cfg["epochs"], device=cfg["device"], precision=cfg.get("precision", "fp32"),
                        optimizer=cfg.get("optimizer", "sgd"), train_subset=cfg.get("train_subset") or None,
                        measured_step_s=timing.seconds, past=past)
est = train_form.spread_over(est, gpus)
if blocker:  # no sizes to estimate from: show the memory (it does not depend on them), not a time
    est["seconds_per_epoch"] = est["seconds_total"] = None
if cfg.get("max_seconds") and est["seconds_total"]:  # a time budget ends the run when it is spent
    est["seconds_total"] = min(est["seconds_total"], cfg["max_seconds"])
with launch.container():
    m = st.columns(2)
    m[0].metric("Device", est["device"])
    m[1].metric("Training memory (est.)", human_bytes(est["memory_bytes"]),
                help="weights + gradients + optimizer state + activations for one batch, fp32")
    m[0].metric("Time per epoch (est.)", fmt_seconds(est["seconds_per_epoch"]), help=f"from {est['basis']}")
    m[1].metric("Whole run (est.)", fmt_seconds(est["seconds_total"]), help=f"{cfg['epochs']} epochs" + (", or the time budget" if cfg.get("max_seconds") else ""))
    st.caption(train_form.estimate_note(est))
    train_form.timing_progress(timing)
    if (est["seconds_total"] or 0) > train_form.SMALL_RUN_SECONDS:
        st.warning(f"This run would take about {fmt_seconds(est['seconds_total'])} on {est['device']} — too "
                   "long for a small run. " + train_form.suggestion(spec, est))
        train_form.speedup_buttons(spec, source)
    name = train_form.run_name_input(f"{spec.name} · {info.short_name or '?'} · {recipe}")
    if blocker:
        st.caption(f"Train is off until the dataset is usable: {blocker}")
    if st.button("Train", icon=":material/rocket_launch:", type="primary", key="tr_launch",
                 disabled=bool(errors) or bool(blocker)):
        rid = mgr.submit(name, spec.to_dict(), cfg, meta={"recipe": recipe, "estimate": est,
                                                         "network_source": source, "gpus": gpus})
        st.session_state["tr_watch"] = rid
        st.toast(f"Run {rid} queued")

# ---- watch -----------------------------------------------------------------------------
st.divider()
watch = train_form.pick_run_to_watch(mgr)
if watch:
    live_panel(mgr, watch, key="train")
else:
    st.caption("No runs yet. Press Train above; the curves appear here and update every second.")
