"""Issue 17: what the Train and Experiments pages launch is what the person chose.

Every form choice is set away from its default, the run is launched from the page
(AppTest), and the stored run is read back from the run store: each value arrived.
A built-in dataset that is not on this machine and cannot be downloaded blocks the
launch with the folder and files to put there; datasets' sizes come from their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_data import make_cifar, make_mnist

from alexnet import estimate, jobs
from alexnet.data import dataset_info
from explorer import train_form

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "pages" / "train.py")


def write_npz(path: Path, n_train=48, n_test=16, classes=4, seed=0) -> Path:
    """A small image dataset in the .npz layout the engine reads (NHWC uint8)."""
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 8, 8, 3), dtype=np.uint8),
             y_train=np.arange(n_train) % classes, x_test=rng.integers(0, 256, (n_test, 8, 8, 3), dtype=np.uint8),
             y_test=np.arange(n_test) % classes, classes=np.array([f"c{i}" for i in range(classes)]))
    return path


def name_box(at):
    return at.text_input(key=at.session_state["tr_name_key"])


def choose_path(at, path, prefix="tr") -> None:
    at.selectbox(key=f"{prefix}_dataset").set_value(train_form.PATH_CHOICE)
    at.run()
    at.text_input(key=f"{prefix}_dataset_path").set_value(str(path))
    at.run()
    assert not at.exception, at.exception


def test_every_train_form_choice_reaches_the_stored_run(train_page, runs_dir, tmp_path):
    at = train_page
    npz = write_npz(tmp_path / "shapes.npz")
    choose_path(at, npz)
    at.selectbox(key="tr_recipe").set_value("seed-001-adam")  # adam, constant lr, no augmentation
    at.run()
    k = "tr_seed-001-adam_"
    chosen = {"epochs": 3, "batch_size": 16, "optimizer": "sgd", "lr": 0.003, "schedule": "cosine",
              "weight_decay": 0.001, "precision": "bf16", "device": "cpu", "train_subset": 40,
              "flip": True, "translate": 0.05, "color_jitter": 0.1}
    at.number_input(key=k + "epochs").set_value(3)
    at.number_input(key=k + "batch").set_value(16)
    at.selectbox(key=k + "opt").set_value("sgd")
    at.number_input(key=k + "lr").set_value(0.003)
    at.selectbox(key=k + "sched").set_value("cosine")
    at.number_input(key=k + "wd").set_value(0.001)
    at.selectbox(key=k + "prec").set_value("bf16")
    at.selectbox(key=k + "dev").set_value("cpu")
    at.number_input(key=k + "subset").set_value(40)
    at.checkbox(key=k + "flip").check()
    at.slider(key=k + "translate").set_value(0.05)
    at.slider(key=k + "jitter").set_value(0.1)
    at.run()
    at.number_input(key=k + "mom").set_value(0.8)  # shown once the optimizer is SGD
    name_box(at).set_value("my own name")
    at.run()
    assert not at.exception, at.exception
    at.button(key="tr_launch").click()
    at.run()
    assert not at.exception, at.exception
    store = jobs.get_manager(runs_dir).store()
    (run,) = store.list_runs()
    cfg = store.get_run(run["id"])["config"]
    assert cfg["dataset"] == str(npz)
    assert cfg["recipe"] == "seed-001-adam"
    for field, value in chosen.items():
        assert cfg[field] == pytest.approx(value), field
    assert cfg["momentum"] == pytest.approx(0.8)
    assert run["name"] == "my own name"
    assert store.get_run(run["id"])["spec"]["layers"][-1]["out_features"] == 4  # the file's 4 classes


def test_the_run_name_follows_network_dataset_and_recipe_until_typed(train_page, tmp_path):
    at = train_page
    assert name_box(at).value == "tiny-digits · digits · quick"
    at.radio(key="tr_source").set_value("preset")
    at.run()
    at.selectbox(key="tr_preset").set_value("lenet-5")
    at.run()
    choose_path(at, write_npz(tmp_path / "shapes.npz"))
    assert name_box(at).value == "lenet-5 · shapes · quick"
    name_box(at).set_value("mine")
    at.run()
    at.selectbox(key="tr_recipe").set_value("d2l")
    at.run()
    assert name_box(at).value == "mine"


def test_a_preset_on_a_chosen_builtin_dataset_trains_on_it(train_page, runs_dir, tmp_path, monkeypatch):
    """The reported bug: a preset with Dataset cifar10 trained on digits."""
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path))
    make_cifar(tmp_path, per_batch=12, n_test=10)
    at = train_page
    at.radio(key="tr_source").set_value("preset")
    at.run()
    at.selectbox(key="tr_preset").set_value("alexnet-cifar-32")
    at.selectbox(key="tr_dataset").set_value("cifar10")
    at.run()
    captions = " ".join(c.value for c in at.caption)
    assert "60 train / 10 test images" in captions  # read from the files, not the published 50,000
    assert name_box(at).value == "alexnet-cifar-32 · cifar10 · quick"
    at.button(key="tr_launch").click()
    at.run()
    store = jobs.get_manager(runs_dir).store()
    (run,) = store.list_runs()
    assert store.get_run(run["id"])["config"]["dataset"] == "cifar10"
    assert "cifar10" in run["name"]


def test_an_offline_builtin_dataset_blocks_train_and_says_what_to_do(train_page, runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(train_form, "can_download", lambda info: False)
    at = train_page
    at.selectbox(key="tr_dataset").set_value("cifar10")
    at.run()
    assert not at.exception, at.exception
    err = " ".join(e.value for e in at.error)
    assert str(tmp_path / "cifar-10-batches-py") in err and "data_batch_1" in err and "batches.meta" in err
    assert at.button(key="tr_launch").disabled
    assert any("Train is off" in c.value for c in at.caption)
    assert jobs.get_manager(runs_dir).store().list_runs() == []


def test_a_downloadable_builtin_says_it_will_download(train_page, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(train_form, "can_download", lambda info: True)
    at = train_page
    at.selectbox(key="tr_dataset").set_value("mnist")
    at.run()
    assert not at.button(key="tr_launch").disabled
    assert any("downloads it" in c.value and str(tmp_path) in c.value for c in at.caption)


def test_a_missing_path_blocks_train_naming_it(train_page, tmp_path):
    at = train_page
    choose_path(at, tmp_path / "nowhere.npz")
    assert any("nowhere.npz" in e.value and "does not exist" in e.value for e in at.error)
    assert at.button(key="tr_launch").disabled


# ---- dataset facts read from the files ---------------------------------------------------
def test_dataset_info_reads_sizes_from_files(tmp_path):
    make_mnist(tmp_path, n_train=30, n_test=12, compress=True)
    info = dataset_info("mnist", root=tmp_path)
    assert (info.train_size, info.test_size, info.on_disk, info.sizes_from) == (30, 12, True, "files")
    npz = dataset_info(write_npz(tmp_path / "a.npz", n_train=20, n_test=7, classes=5))
    assert (npz.train_size, npz.test_size, npz.num_classes, npz.image_shape) == (20, 7, 5, (3, 8, 8))
    missing = dataset_info("cifar10", root=tmp_path / "empty")
    assert not missing.on_disk and missing.train_size == 50000 and missing.sizes_from == "published"
    assert "does not exist" in dataset_info(tmp_path / "nope").problem


def test_the_estimate_uses_the_chosen_datasets_size(tmp_path):
    npz = write_npz(tmp_path / "a.npz", n_train=96, n_test=16)
    from tests.train_helpers import TINY

    est = estimate.estimate(TINY, dataset=str(npz), batch_size=16, epochs=1, device="cpu")
    assert est["train_images"] == 96 and est["steps_per_epoch"] == 6


# ---- the Experiments page launches what it shows ---------------------------------------------
def test_every_experiments_form_choice_reaches_the_runs(runs_dir, tmp_path):
    from alexnet.experiments import ExperimentStore

    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("../pages/experiments.py")
    at.session_state["exp_builtin"] = "custom"
    at.run()
    npz = write_npz(tmp_path / "shapes.npz")
    at.selectbox(key="exp_base_custom").set_value("lenet-5")
    choose_path(at, npz, prefix="exp_ds_custom")
    at.selectbox(key="exp_rc_custom").set_value("d2l")
    at.number_input(key="exp_ep_custom").set_value(2)
    at.selectbox(key="exp_sw_custom").set_value("dropout")
    at.run()
    at.radio(key="exp_seeds_custom").set_value(2)
    at.slider(key="exp_target_custom").set_value(0.5)
    at.run()
    assert not at.exception, at.exception
    at.button(key="exp_launch").click()
    at.run()
    assert not at.exception, at.exception
    mgr = jobs.get_manager(runs_dir)
    try:
        (exp,) = ExperimentStore(mgr.store()).list()
        runs = [mgr.store().get_run(r["id"]) for r in mgr.store().list_runs()]
        assert len(runs) == 4  # 2 settings × 2 seeds
        assert {r["config"]["dataset"] for r in runs} == {str(npz)}
        assert {r["config"]["recipe"] for r in runs} == {"d2l"}
        assert {r["config"]["epochs"] for r in runs} == {2}
        assert sorted(r["config"]["seed"] for r in runs) == [0, 0, 1, 1]
        assert {r["spec"]["layers"][-1]["out_features"] for r in runs} == {4}
        assert "lenet-5" in exp["name"] and "shapes" in exp["name"]
    finally:
        mgr.close(stop_jobs=True)
