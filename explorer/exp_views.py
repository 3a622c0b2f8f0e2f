"""Experiments page pieces: the variant preview and the live results panel.

No business logic here — variants, verdicts and tables come from alexnet.experiments;
launching goes through the same job manager (queue) as the Train page.
"""

from __future__ import annotations

import csv
import io

import streamlit as st

from alexnet import NetSpec, analyze, jobs
from alexnet.experiments import (
    ExperimentStore,
    Variant,
    collect,
    config_diff,
    layer_diff,
    results_table,
    table_notes,
    verdict_sentences,
)
from alexnet.textfmt import human_count
from explorer import run_figures as rf


def variant_preview(base: NetSpec, base_cfg: dict, variants: list[Variant]) -> list[dict]:
    """One row per variant: what changes against the base, and what it costs."""
    b = analyze(base)
    rows = []
    for v in variants:
        s = analyze(v.spec)
        changes = layer_diff(base.to_dict(), v.spec) + config_diff(
            {k: base_cfg.get(k) for k in ("flip", "translate", "color_jitter")},
            {k: v.config.get(k) for k in ("flip", "translate", "color_jitter")})
        rows.append({
            "variant": v.label,
            "changes vs base": "; ".join(changes) if changes else "— (the base itself)",
            "params": f"{s.total_params:,} ({s.total_params - b.total_params:+,})",
            "mult-adds": f"{human_count(s.total_macs)} ({(s.total_macs - b.total_macs) / max(b.total_macs, 1):+.0%})",
            "warnings": len(s.warnings),
        })
    return rows


def results_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def verdict_box(results, exp: dict) -> None:
    """The verdict: its first sentence (what was found, with interval, seeds and test) in a
    box whose colour says how strong it is, the rest (claim, descriptive figures) below."""
    comparison, sentences = verdict_sentences(results, exp.get("target_acc"), exp.get("switch"))
    head, rest = sentences[0], sentences[1:]
    if comparison is None or comparison.winner is None:
        st.info(head, icon=":material/hourglass_top:" if head.startswith("Provisional") else ":material/balance:")
    elif comparison.single_run:
        st.warning(head, icon=":material/looks_one:")
    else:
        st.success(head, icon=":material/check_circle:")
    for text in rest:
        st.markdown(text)


def results_panel(mgr: jobs.JobManager, exps: ExperimentStore, exp_id: str) -> None:
    """Table, curves and verdict of one experiment; reruns itself while runs are active."""
    store = mgr.store()
    exp = exps.get(exp_id)
    if exp is None:
        st.warning("This experiment was deleted.")
        return
    results = collect(store, exp)  # test-set size: from the runs' per-image records, else the dataset
    rows = results_table(results)
    active = []
    for v in exp["variants"]:
        for rid in v["run_ids"]:
            run = store.get_run(rid)
            if run and run["status"] in jobs.ACTIVE:
                active.append(run)
    if active:
        pos = {q["id"]: q["position"] for q in mgr.queue()}
        running = [r for r in active if r["status"] == "running"]
        st.info(f"{len(active)} run(s) still to finish — "
                + (f"now training: {running[0]['name']}" if running else "waiting in the queue")
                + (f" (queue position {min(p for p in pos.values() if p) if any(pos.values()) else 0})"
                   if not running else ""))
    verdict_box(results, exp)
    st.dataframe(rows, hide_index=True, width="stretch", key=f"exp_table_{exp_id}")
    st.caption(" ".join(table_notes(results)))
    st.download_button("Download the table (CSV)", results_csv(rows), file_name=f"{exp_id}.csv",
                       mime="text/csv", key=f"exp_csv_{exp_id}")
    curves = []
    for v in exp["variants"]:
        for rid, seed in zip(v["run_ids"], v["seeds"]):
            run = store.get_run(rid)
            if run is None:
                continue
            curves.append({"label": f"{v['label']} (seed {seed})", "epochs": store.epoch_metrics(rid),
                           "started": run.get("started")})
    png = {"toImageButtonOptions": {"format": "png", "filename": exp_id, "scale": 2}}
    a, b = st.columns(2)
    with a:
        st.plotly_chart(rf.overlay_figure(curves, "test_acc", "epoch"), key=f"exp_acc_{exp_id}", config=png)
    with b:
        st.plotly_chart(rf.overlay_figure(curves, "train_loss", "epoch"), key=f"exp_loss_{exp_id}", config=png)
    st.plotly_chart(rf.overlay_figure(curves, "test_acc", "time"), key=f"exp_time_{exp_id}", config=png)
    st.caption("The camera icon on each chart saves it as a PNG. Every run also appears on the Runs page.")
    failed = [r for v in results for r in v.runs if r["status"] == "failed"]
    for r in failed:
        run = store.get_run(r["run_id"]) or {}
        st.error(f"{run.get('name', r['run_id'])} failed: {run.get('error')}")
