"""Runs: every run in the store — compare curves, see what differs, manage, download."""

from pathlib import Path

import streamlit as st

from alexnet import NetSpec, SpecError, jobs
from explorer import downloads, export_view
from explorer import run_figures as rf
from explorer import run_views as rv
from explorer.state import chosen, set_spec

st.title("Runs")
mgr = rv.job_manager() or st.stop()
store = mgr.store()
mgr.tick()
runs = store.list_runs()
if not runs:
    st.info("No runs yet — launch one on the Train page.")
    st.stop()
by_id = {r["id"]: r for r in runs}
metas = {r["id"]: mgr.meta(r["id"]) for r in runs}
label = {r["id"]: f"{r['name']} ({r['id']})" for r in runs}
st.dataframe(rv.table_rows(runs, metas, rv.torchinfo_sizes(runs)), hide_index=True, width="stretch", key="runs_table",
             column_config={**rv.TABLE_COLUMNS,
                            "name": st.column_config.TextColumn("name", pinned=True),  # stays while scrolling
                            "created": st.column_config.DatetimeColumn("created", format="MMM D HH:mm"),
                            "best test acc (%)": st.column_config.NumberColumn(format="%.2f")})
st.caption(f"{len(runs)} runs in {mgr.root} · click a column header to sort")

# ---- compare --------------------------------------------------------------------------
st.subheader("Compare")
with_epochs = [r["id"] for r in runs if r.get("epochs_done")]
sel = st.multiselect("Runs to overlay", list(by_id),
                     **chosen("rn_compare", list(by_id), with_epochs[:2], label.get))  # stays put: runs added, renamed
if sel:
    metrics = ["test_acc", "train_acc", "test_loss", "train_loss"]
    metric = st.radio("Metric", metrics, horizontal=True, **chosen("rn_metric", metrics, metrics[0]))
    curves = [{"label": by_id[i]["name"], "epochs": store.epoch_metrics(i), "started": by_id[i].get("started")}
              for i in sel]
    c = st.columns(2)
    c[0].plotly_chart(rf.overlay_figure(curves, metric, "epoch"), key="rn_overlay_epoch", width="stretch")
    c[1].plotly_chart(rf.overlay_figure(curves, metric, "time"), key="rn_overlay_time", width="stretch")
    rv.step_compare(store, sel, by_id, label)
    export_view.tensorboard_zip(store, sel)
    if len(sel) >= 2:
        first = by_id[sel[0]]
        st.markdown(f"**What differs from `{first['name']}`**")
        for other in sel[1:]:
            diff = rv.spec_diff(first.get("spec") or {}, by_id[other].get("spec") or {})
            st.caption(f"Network of {label[other]}: " + ("same architecture" if not diff else f"{len(diff)} change(s)"))
            if diff:
                st.dataframe(diff, hide_index=True, width="stretch", key=f"rn_archdiff_{other}")
        cdiff = rv.config_diff([by_id[i].get("config") or {} for i in sel])
        st.caption("Training settings that differ (run 1 = first selected): " + ("none" if not cdiff else ""))
        if cdiff:
            st.dataframe(cdiff, hide_index=True, width="stretch", key="rn_cfgdiff")

# ---- one run --------------------------------------------------------------------------
st.subheader("Manage a run")
rid = st.selectbox("Run", list(by_id), **chosen("rn_run", list(by_id), runs[0]["id"], label.get))
run = by_id[rid]
rv.status_line(mgr, run)
a, b, c, d = st.columns([1, 1.25, 1.45, 0.6])  # the longest labels whole at 1280 px
with a:
    new = st.text_input("Name", value=run["name"], key=f"rn_name_{rid}", max_chars=200)
    if st.button("Rename", key="rn_rename", disabled=new.strip() in ("", run["name"])):
        store.rename(rid, new)
        st.rerun()
with b:
    st.download_button("Metrics (CSV)", rv.metrics_csv(store.step_metrics(rid), store.epoch_metrics(rid)),
                       file_name=f"{rid}-metrics.csv", mime="text/csv", key="rn_csv")
    ckpt = store.checkpoint_path(rid, "best") or store.checkpoint_path(rid, "last")
    if ckpt is not None:
        st.download_button(f"Checkpoint ({ckpt.name})", downloads.file_data(ckpt),
                           file_name=f"{rid}-{ckpt.name}", mime="application/octet-stream", key="rn_ckpt")
    else:
        st.caption("no checkpoint yet")
    export_view.run_files(store, run)
with c:
    arch_page = Path(__file__).parent / "architecture.py"
    if st.button("Open its network in Architecture", key="rn_open", disabled=not arch_page.exists()):
        try:
            net = NetSpec.from_dict(run["spec"])
            set_spec(net, base=net)  # its own base: Architecture does not call it an edit of a preset
        except SpecError as e:
            st.error(f"This run's network cannot be loaded: {e}")
        else:
            st.switch_page(arch_page)
    if run["status"] in jobs.ACTIVE and st.button("Stop", key="rn_stop"):
        st.toast(mgr.stop(rid))
with d:
    if st.button("Delete…", key="rn_delete"):
        st.session_state["rn_confirm"] = rid
    if st.session_state.get("rn_confirm") == rid:
        st.warning(f"Delete **{run['name']}**, its metrics and checkpoints? This cannot be undone.")
        if st.button("Yes, delete", type="primary", key="rn_delete_yes"):
            mgr.delete(rid)
            st.session_state.pop("rn_confirm", None)
            st.rerun()
        if st.button("Cancel", key="rn_delete_no"):
            st.session_state.pop("rn_confirm", None)
            st.rerun()
with st.expander("Curves of this run", expanded=run["status"] in jobs.ACTIVE):
    rv.live_panel(mgr, rid, key="runs")
