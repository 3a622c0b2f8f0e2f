"""Experiments: test the tutorials' claims — one switch, several variants, same seeds."""

import streamlit as st

from alexnet import SpecError, analyze, get_spec, jobs, list_presets
from alexnet.experiments import BUILTINS, SWITCHES, ExperimentStore, make_variants
from alexnet.train import RECIPES, ConfigError, make_config
from explorer import exp_views as ev
from explorer import state
from explorer.run_views import job_manager
from explorer.state import current_spec
from explorer.train_form import dataset_blocker, dataset_picker, show_dataset, sized_for_dataset

st.title("Experiments")
st.caption("Check the AlexNet tutorials' claims on your own machine: each variant differs from the base in "
           "one switch only, trains with the same seeds and data order through the Train page's queue, and "
           "the verdict names a winner only when the 95% interval for the difference in final test accuracy "
           "excludes zero — and says how many seeds it rests on.")
mgr = job_manager() or st.stop()  # a damaged run store: says what is wrong and how to recover
exps = ExperimentStore(mgr.store())

st.subheader("New experiment")
names = ["custom"] + list(BUILTINS)
pick = st.selectbox("Built-in experiment", names, index=1, key="exp_builtin",
                    format_func=lambda k: "custom — choose the switch yourself" if k == "custom"
                    else f"{k}: {SWITCHES[BUILTINS[k].switch].claim}")
b = BUILTINS.get(pick)
if b:
    st.caption(b.note)
c1, c2, c3, c4 = st.columns(4)
bases = ["current network"] + list_presets()
base_name = c1.selectbox("Base network", bases, index=bases.index(b.preset) if b else 0, key=f"exp_base_{pick}")
with c2:
    dataset, ds_info = dataset_picker(prefix=f"exp_ds_{pick}")
    ds_blocker = dataset_blocker(ds_info)
    show_dataset(ds_info, ds_blocker)
recipe = c3.selectbox("Recipe", list(RECIPES), index=list(RECIPES).index(b.recipe) if b else 0, key=f"exp_rc_{pick}")
epochs = c4.number_input("Epochs", 1, 200, b.epochs if b else 8, key=f"exp_ep_{pick}")
c1, c2, c3 = st.columns([2, 2, 1])
switch = c1.selectbox("Switch", list(SWITCHES), index=list(SWITCHES).index(b.switch) if b else 0,
                      format_func=lambda k: SWITCHES[k].title, key=f"exp_sw_{pick}")
settings = SWITCHES[switch].settings
default = [lbl for lbl, v in settings if v in b.values] if b and b.switch == switch else [settings[0][0], settings[1][0]]
chosen = c2.multiselect("Settings to compare", [lbl for lbl, _ in settings], default=default, key=f"exp_vals_{pick}_{switch}")
SEED_CHOICES = [1, 2, 3, 5]
seeds = c3.radio("Seeds each", SEED_CHOICES, index=SEED_CHOICES.index(b.seeds if b else 3), horizontal=True,
                 key=f"exp_seeds_{pick}",
                 help="The verdict rests on these seeds. With 2 or more per variant it uses an interval over seeds "
                      "(Welch's t); 3 find a 5-point gap most of the time, 5 find smaller ones. With 1 it can only "
                      "compare two single runs image by image: seed-to-seed variation is not measured.")
target = st.slider("Target test accuracy for 'epochs to reach'", 0.1, 0.99, b.target_acc if b else 0.9, 0.01,
                   key=f"exp_target_{pick}")

base = current_spec() if base_name == "current network" else get_spec(base_name)
base, errors = sized_for_dataset(base, ds_info)
if errors:
    st.error(f"The base network does not compute, so it cannot be trained: {errors[0]}")
try:
    cfg = make_config(recipe, epochs=int(epochs), dataset=dataset).to_dict()
    values = [v for lbl, v in settings if lbl in chosen]
    variants = make_variants(base, cfg, switch, values)
except (ValueError, SpecError, ConfigError) as e:
    st.error(f"Cannot build the variants: {e}")
    variants = []
if variants:
    st.table(ev.variant_preview(base, cfg, variants))  # static: long "changes vs base" cells wrap, never cut
    n = len(variants) * seeds
    src = base_name if base_name != "current network" else base.name
    if st.button(f"Run {n} training run{'s' if n > 1 else ''}", type="primary", key="exp_launch",
                 disabled=bool(errors) or bool(ds_blocker) or any(not analyze(v.spec).ok for v in variants)):
        name = (pick if b and b.switch == switch else f"{switch}") + f" · {src} on {ds_info.short_name}"
        exp_id = exps.create(name, switch, base.to_dict(), cfg, variants, list(range(seeds)), target,
                             submit=lambda nm, spec, c, experiment_id: mgr.submit(
                                 nm, spec, c, meta={"recipe": recipe, "source": src}, experiment_id=experiment_id))
        state.choose("exp_pick", exp_id)  # Results show the new experiment
        st.toast(f"Queued {n} runs")

st.subheader("Results")
all_exps = exps.list()
if not all_exps:
    st.info("No experiments yet: pick one above and press Run.")
    st.stop()
ids = [e["id"] for e in all_exps]
titles = {e["id"]: f"{e['name']} ({e['id']})" for e in all_exps}
exp_id = st.selectbox("Experiment", ids, **state.chosen("exp_pick", ids, ids[0], titles.get))
store = mgr.store()
active = any((store.get_run(r) or {}).get("status") in jobs.ACTIVE
             for v in exps.get(exp_id)["variants"] for r in v["run_ids"])
st.fragment(run_every=1.5 if active else None)(ev.results_panel)(mgr, exps, exp_id)

with st.popover("Delete this experiment"):
    st.write("Deletes the experiment and all its runs, with their metrics and checkpoints.")
    if st.button("Delete for good", key="exp_delete"):
        exps.delete(exp_id, manager=mgr)
        state.choose("exp_pick", None)
        st.rerun()
