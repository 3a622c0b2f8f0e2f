"""The verdict's words and the results table: uncertainty stated, no winner while runs
train, single runs labelled, the tutorial's claim checked, no raw None in any cell."""

from alexnet.experiments import verdict
from alexnet.runs import RunStore
from alexnet.stats import pack_correct
from alexnet.verdicts import VariantResult, collect, compare, fmt_epochs, results_table, table_notes


def _runs(accs, status="completed", **extra):
    return [{"status": status, "final_acc": a if status == "completed" else None, "best_acc": a, "last_acc": a,
             "train_acc": a + 0.02, **extra} for a in accs]


def _paired(n_right_a, n_right_b, both, n=360):
    """Two single runs on n images: ``both`` right for both, the rest split as asked."""
    a = [i < n_right_a for i in range(n)]
    b = [i < both or n_right_a <= i < n_right_a + n_right_b - both for i in range(n)]
    return a, b


def test_no_verdict_while_runs_are_still_training():
    running = VariantResult("tanh", _runs([0.97, 0.96]) + _runs([0.95], status="running"), n_test=360)
    text = verdict([VariantResult("relu", _runs([0.5, 0.52, 0.51]), n_test=360), running], 0.9, "activation")
    assert text.startswith("Provisional: 5 of 6 runs finished — no verdict until every run has.")
    assert "better" not in text and "winner" not in text and "reproduced" not in text


def test_single_run_paired_comparison_names_a_single_run_winner_plainly():
    x, y = _paired(347, 330, 325)  # 22 images only x got right, 5 only y
    a = VariantResult("tanh", _runs([347 / 360], correct=x), n_test=360)
    b = VariantResult("relu", _runs([330 / 360], correct=y), n_test=360)
    c = compare(b, a)
    assert (c.method, c.first.label, c.counts) == ("mcnemar", "tanh", (325, 22, 5, 8))
    assert c.winner == "tanh" and c.p < 0.01 and 0 < c.low < c.diff < c.high
    text = verdict([b, a], switch="activation")
    assert text.startswith("Single-run comparison (1 seed per variant): seed-to-seed variation is not measured.")
    assert "On the same 360 test images" in text and "McNemar exact test" in text
    assert "Single-run winner: tanh" in text and "another seed may reverse it" in text
    assert "not reproduced in this single run on final test accuracy: tanh beat relu" in text


def test_single_run_without_a_record_is_unpaired_and_without_a_test_size_gives_no_verdict():
    a, b = VariantResult("x", _runs([0.95]), n_test=360), VariantResult("y", _runs([0.85]), n_test=360)
    assert compare(a, b).method == "unpaired" and compare(a, b).winner == "x"
    assert "so the test is unpaired" in verdict([a, b])
    a.n_test = b.n_test = 0
    assert compare(a, b).winner is None
    assert verdict([a, b]).startswith("No verdict: the test-set size is unknown")


def test_the_claim_reproduced_or_not_or_undecided():
    relu, tanh = VariantResult("relu", _runs([0.97, 0.975, 0.968])), VariantResult("tanh", _runs([0.91, 0.9, 0.92]))
    assert "agrees with the tutorial's choice of relu" in verdict([relu, tanh], switch="activation")
    pool = [VariantResult("overlapping 3/2", _runs([0.90, 0.91, 0.905])),
            VariantResult("non-overlapping 2/2", _runs([0.95, 0.955, 0.952]))]
    assert ("The tutorial's claim was not reproduced on final test accuracy: non-overlapping 2/2 beat "
            "overlapping 3/2") in verdict(pool, switch="pooling")
    close = [VariantResult("relu", _runs([0.95, 0.90, 0.93])), VariantResult("tanh", _runs([0.94, 0.92, 0.91]))]
    assert "neither confirms nor refutes" in verdict(close, switch="activation")


def test_the_claim_on_speed_is_described_not_tested():
    relu = VariantResult("relu", _runs([0.93, 0.90, 0.95], epochs_to_target=6))
    tanh = VariantResult("tanh", _runs([0.97, 0.975, 0.97], epochs_to_target=3))
    text = verdict([relu, tanh], 0.9, "activation")
    assert ("On epochs to 90% (descriptive, not tested) the tutorial's choice was slower here: relu took 6 "
            "epochs on average, tanh 3.") in text
    assert "Epochs to reach" not in text  # said once
    relu.runs[0]["epochs_to_target"] = None  # a seed that never got there: no speed sentence
    text = verdict([relu, tanh], 0.9, "activation")
    assert "the tutorial's choice was" not in text
    assert ("Epochs to reach 90% test accuracy (descriptive, mean over seeds, not tested): tanh 3 epochs, "
            "relu 6 epochs (2 of 3 seeds; the others never did).") in text


def test_unequal_seed_counts_need_two_of_each():
    text = verdict([VariantResult("a", _runs([0.9, 0.91, 0.92])), VariantResult("b", _runs([0.7]))])
    assert text.startswith("No verdict: b has 1 finished seed and a 3: an interval over seeds needs at least two")


def test_failed_runs_leave_the_verdict_on_the_seeds_that_finished():
    a = VariantResult("a", _runs([0.97, 0.975]) + _runs([0.0], status="failed"), n_test=360)
    b = VariantResult("b", _runs([0.80, 0.82, 0.81]), n_test=360)
    assert verdict([a, b]).startswith("Verdict (2 and 3 seeds, final-epoch test accuracy): a is better")


def test_results_table_has_no_none_and_rounds_epochs():
    pending = VariantResult("tanh", [{"status": "queued"}, {"status": "running", "last_acc": 0.8123}])
    done = VariantResult("relu", _runs([0.9, 0.95, 0.92], epochs_to_target=None), params=1234)
    for r, e in zip(done.runs, (6, 6, 7)):
        r["epochs_to_target"] = e
    rows = results_table([done, pending])
    assert all(v is not None and "None" not in str(v) for row in rows for v in row.values())
    assert rows[0]["final test acc % (mean ± sd)"] == "92.33 ± 2.52"
    assert rows[0]["epochs to target"] == "6.3" and rows[0]["params"] == "1,234"
    assert rows[1]["final test acc % (mean ± sd)"] == "81.23 (provisional)"
    assert rows[1]["runs"] == "0/2 done, 1 queued, 1 training" and rows[1]["best-epoch test acc %"] == "—"
    assert (fmt_epochs(6.333333), fmt_epochs(2.0), fmt_epochs(None)) == ("6.3", "2", "—")


def test_table_notes_flag_speed_measured_under_different_load():
    steady = [VariantResult("a", _runs([0.9, 0.9], images_per_sec=1000)),
              VariantResult("b", [dict(r, images_per_sec=s) for r, s in zip(_runs([0.9, 0.9]), (800, 820))])]
    assert "varied" not in " ".join(table_notes(steady))
    busy = steady[:1] + [VariantResult("b", [dict(r, images_per_sec=s) for r, s in zip(_runs([0.9, 0.9]), (500, 900))])]
    notes = " ".join(table_notes(busy))
    assert "varied by up to 80% between seeds of the same variant" in notes and "not evidence" in notes
    assert "'Best-epoch' picks the best epoch on the test set itself" in notes


def test_collect_reads_the_test_size_from_the_records_or_the_dataset(tmp_path):
    store = RunStore(tmp_path)
    spec = {"name": "t", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 10,
            "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    ids = [store.create_run(f"r{i}", spec, {"dataset": "digits"}) for i in range(2)]
    for rid, acc in zip(ids, (0.9, 0.8)):
        store.log_epoch(rid, {"epoch": 1, "test_acc": acc, "train_acc": acc, "epoch_seconds": 1.0})
        store.set_status(rid, "completed")
    exp = {"variants": [{"label": "a", "run_ids": [ids[0]]}, {"label": "b", "run_ids": [ids[1]]}],
           "base_config": {"dataset": "digits"}}
    assert [r.n_test for r in collect(store, exp)] == [360, 360]  # digits' files say 360
    store.save_test_record(ids[0], {"epoch": 1, "n": 10, "correct": pack_correct([True] * 9 + [False])})
    store.save_test_record(ids[1], {"epoch": 1, "n": 10, "correct": pack_correct([True] * 8 + [False] * 2)})
    res = collect(store, exp)
    assert [r.n_test for r in res] == [10, 10] and compare(*res).method == "mcnemar"
    store.save_test_record(ids[1], {"epoch": 0.5, "n": 10, "correct": pack_correct([True] * 10)})
    assert compare(*collect(store, exp)).method == "unpaired"  # a record of another epoch is not the final one
