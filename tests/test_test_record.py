"""The per-image test record: every evaluation stores which test images the network got
right, so two runs scored on the same images can be compared image by image."""

import pytest
import torch

from alexnet.build import build_model
from alexnet.data import load_dataset
from alexnet.runs import RunStore, load_checkpoint
from alexnet.spec import as_spec
from alexnet.stats import pack_correct, unpack_correct
from alexnet.train import evaluate, make_config, train
from tests.train_helpers import TINY


def test_a_run_records_which_test_images_its_last_evaluation_got_right(tmp_path):
    digits = load_dataset("digits")
    store = RunStore(tmp_path)
    cfg = make_config("quick", epochs=2, batch_size=64, lr=0.1, cpu_threads=1, log_every=5)
    r = train(TINY, cfg, store=store, progress=False, dataset=digits)
    assert r["status"] == "completed", r
    rec = store.test_record(r["run_id"])
    assert rec["epoch"] == 2 and rec["n"] == len(digits.y_test) == 360
    bits = unpack_correct(rec["correct"], rec["n"])
    final = store.epoch_metrics(r["run_id"])[-1]["test_acc"]
    assert sum(bits) / rec["n"] == pytest.approx(final, abs=1e-12)
    # image by image: the last checkpoint's predictions are the recorded ones
    ckpt = load_checkpoint(store.checkpoint_path(r["run_id"], "last"))
    model = build_model(ckpt["spec"])
    model.load_state_dict(ckpt["model"])
    hits: list = []
    evaluate(model, digits.x_test, digits.y_test, as_spec(ckpt["spec"]), ckpt["input_mean"], ckpt["input_std"],
             torch.device("cpu"), hits=hits)
    assert bits == torch.cat(hits).tolist()
    assert 0 < sum(bits) < 360  # a real mix of right and wrong, not a constant


def test_runs_without_a_record_say_so(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run("old", TINY.to_dict(), {})
    assert store.test_record(rid) is None
    store.save_test_record(rid, {"epoch": 1, "n": 3, "correct": pack_correct([True, False, True])})
    assert unpack_correct(store.test_record(rid)["correct"], 3) == [True, False, True]
    store.delete(rid)
    assert store.test_record(rid) is None
