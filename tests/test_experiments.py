"""Experiments: variants differ exactly in the switched fields; the verdict does not
overstate; a two-variant experiment runs through the job queue to a results table."""

import time

import pytest

from alexnet import NetSpec, analyze, get_spec
from alexnet.experiments import (
    BUILTINS,
    SWITCHES,
    ExperimentStore,
    VariantResult,
    apply_switch,
    collect,
    make_variants,
    results_table,
    verdict,
)
from alexnet.spec import ACTIVATIONS
from alexnet.train import make_config

BASE = get_spec("paper-2012")
CFG = make_config("quick", dataset="digits").to_dict()


def fields(spec_dict):
    return [NetSpec.from_dict(spec_dict).layers[i].to_dict() for i in range(len(spec_dict["layers"]))]


def test_activation_variant_changes_only_activation_layers():
    d, cfg = apply_switch(BASE, CFG, "activation", "tanh")
    a, b = fields(BASE.to_dict()), fields(d)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if x["type"] in ACTIVATIONS:
            assert y == {"type": "tanh"}
        else:
            assert x == y
    assert cfg == CFG


def test_pooling_variant_changes_only_maxpool_kernels():
    d, _ = apply_switch(BASE, CFG, "pooling", "non-overlapping")
    for x, y in zip(fields(BASE.to_dict()), fields(d)):
        if x["type"] == "maxpool":
            assert (y["kernel"], y["stride"]) == (2, 2)
            assert {k: v for k, v in x.items() if k != "kernel"} == {k: v for k, v in y.items() if k != "kernel"}
        else:
            assert x == y
    # the shapes change downstream, and the summary says so
    assert analyze(d).layers[-1].out_shape == (1000,)


def test_dropout_variant_changes_only_p():
    d, _ = apply_switch(BASE, CFG, "dropout", 0.0)
    diffs = [(x, y) for x, y in zip(fields(BASE.to_dict()), fields(d)) if x != y]
    assert len(diffs) == 2 and all(x["type"] == "dropout" and y["p"] == 0.0 for x, y in diffs)


def test_groups_variant_changes_conv2_4_5_only():
    d, _ = apply_switch(BASE, CFG, "groups", 1)
    changed = [i for i, (x, y) in enumerate(zip(fields(BASE.to_dict()), fields(d))) if x != y]
    convs = [i for i, x in enumerate(BASE.layers) if x.type == "conv"]
    assert changed == [convs[1], convs[3], convs[4]]
    assert analyze(d).total_params > analyze(BASE).total_params  # the split halves those weights


def test_lrn_and_batchnorm_variants_add_or_remove_only_those_layers():
    off, _ = apply_switch(BASE, CFG, "lrn", False)
    assert [x for x in BASE.to_dict()["layers"] if x["type"] != "lrn"] == off["layers"]
    on, _ = apply_switch(off, CFG, "lrn", True)
    assert [x["type"] for x in on["layers"]] == [x["type"] for x in BASE.to_dict()["layers"]]
    bn, _ = apply_switch(BASE, CFG, "batchnorm", True)
    assert [x for x in bn["layers"] if x["type"] != "batchnorm"] == BASE.to_dict()["layers"]
    assert sum(x["type"] == "batchnorm" for x in bn["layers"]) == 5


def test_augmentation_variant_changes_only_the_config():
    d, cfg = apply_switch(BASE, CFG, "augmentation", True)
    assert d == BASE.to_dict()
    assert {k for k in cfg if cfg[k] != CFG[k]} <= {"flip", "translate", "color_jitter"}
    assert cfg["flip"] is True and cfg["translate"] > 0


def test_every_builtin_makes_valid_variants():
    for b in BUILTINS.values():
        vs = make_variants(get_spec(b.preset), CFG, b.switch, list(b.values))
        assert len(vs) == len(b.values) >= 2
        assert all(analyze(v.spec).ok for v in vs)
    assert set(b.switch for b in BUILTINS.values()) == set(SWITCHES)


def _result(label, accs, n_test=360, epochs_to_target=None):
    runs = [{"status": "completed", "final_acc": a, "best_acc": a, "last_acc": a, "train_acc": a + 0.01,
             "epochs_to_target": epochs_to_target} for a in accs]
    return VariantResult(label, runs, n_test=n_test)


def test_verdict_refuses_a_winner_when_the_interval_over_seeds_includes_zero():
    text = verdict([_result("relu", [0.80, 0.86]), _result("tanh", [0.79, 0.83])])
    assert text.startswith("No clear winner (2 seeds per variant")
    assert "includes zero" in text and "Welch" in text


def test_verdict_with_one_seed_says_it_is_a_single_run_and_refuses_a_small_gap():
    text = verdict([_result("relu", [0.900]), _result("tanh", [0.895])])
    assert text.startswith("Single-run comparison (1 seed per variant): seed-to-seed variation is not measured.")
    assert "No clear winner" in text and "unpaired" in text  # no per-image record in these results


def test_verdict_names_a_clear_winner_with_its_interval_and_the_epochs_to_target():
    text = verdict([_result("tanh", [0.60, 0.62, 0.61]), _result("relu", [0.95, 0.94, 0.955], epochs_to_target=2)],
                   target_acc=0.9)
    assert text.startswith("Verdict (3 seeds per variant, final-epoch test accuracy): relu is better")
    assert "95% interval of" in text and "excludes zero" in text
    assert "relu 2 epochs, tanh never did" in text


def test_two_variant_experiment_runs_through_the_queue(runs_dir):
    """Real training processes, launched by the same job manager as the Train page."""
    from alexnet.jobs import JobManager

    mgr = JobManager(runs_dir)
    try:
        exps = ExperimentStore(mgr.store())
        base = get_spec("alexnet-mini-15")
        cfg = make_config("quick", dataset="digits", epochs=1, train_subset=400, device="cpu",
                          batch_size=50).to_dict()
        variants = make_variants(base, cfg, "activation", ["relu", "tanh"])
        exp_id = exps.create("t", "activation", base.to_dict(), cfg, variants, [0], 0.5,
                             submit=lambda n, s, c, experiment_id: mgr.submit(n, s, c, experiment_id=experiment_id))
        exp = exps.get(exp_id)
        ids = [r for v in exp["variants"] for r in v["run_ids"]]
        assert len(ids) == 2
        # one job per device at a time: the second waits in the queue
        assert [q["position"] for q in mgr.queue()] == [0, 1]
        deadline = time.time() + 240
        while time.time() < deadline:
            mgr.tick()
            statuses = [mgr.store().get_run(r)["status"] for r in ids]
            if all(s in ("completed", "failed", "stopped", "interrupted") for s in statuses):
                break
            time.sleep(0.5)
        assert statuses == ["completed", "completed"], [mgr.store().get_run(r)["error"] for r in ids]
        results = collect(mgr.store(), exp)
        assert [r.n_test for r in results] == [360, 360]  # from the runs' per-image records
        rows = results_table(results)
        assert [r["variant"] for r in rows] == ["relu", "tanh"]
        assert all(r["final test acc % (mean ± sd)"] != "—" for r in rows)
        assert all(r["runs"] == "1/1 done" for r in rows)
        # one seed each, both runs recorded their test images: a paired single-run comparison
        assert "McNemar exact test" in verdict(results, 0.5, "activation")
        # same seed for both; the runs carry the experiment id
        assert {mgr.store().get_run(r)["config"]["seed"] for r in ids} == {0}
        assert {mgr.store().get_run(r)["experiment_id"] for r in ids} == {exp_id}
    finally:
        mgr.close(stop_jobs=True)


@pytest.mark.parametrize("builtin", ["relu-vs-tanh", "overlapping-pooling"])
def test_experiments_page_renders_preview(builtin, runs_dir):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "explorer" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("../pages/experiments.py")
    at.session_state["exp_builtin"] = builtin
    at.run()
    assert not at.exception, at.exception
    preview = at.table[0].value
    assert len(preview) == 2
    changes = list(preview["changes vs base"])
    assert changes[0].startswith("—")  # the first setting is the base's own
    assert changes[1]  # the other names the switched layers
    # built-ins default to 3 seeds per variant, so the verdict can use an interval over seeds
    assert at.radio(key=f"exp_seeds_{builtin}").value == BUILTINS[builtin].seeds == 3
    assert at.button(key="exp_launch").label == "Run 6 training runs"


def test_experiments_page_refuses_a_collapsing_base(runs_dir):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "explorer" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("../pages/experiments.py")
    at.session_state["exp_builtin"] = "relu-vs-tanh"
    at.session_state["exp_base_relu-vs-tanh"] = "paddle-cifar10-32"
    at.run()
    assert not at.exception, at.exception
    assert any("does not compute" in e.value and "pool3" in e.value for e in at.error)
    assert at.button(key="exp_launch").disabled
