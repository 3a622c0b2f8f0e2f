"""Datasets larger than memory (issue 11): an image folder over the memory budget is
streamed from disk by DataLoader workers instead of loaded whole.  A small folder
forced onto the streaming path (a tiny budget) trains to the accuracy the in-memory
path reaches on the same data; bad files are skipped and counted; the Train page says
which path a folder takes and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from alexnet.data import DatasetError, load_dataset
from alexnet.runs import RunStore
from alexnet.streaming import choose, open_streaming
from alexnet.train import make_config, train
from tests.test_train_launch_choices import choose_path
from tests.train_helpers import TINY


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    """scikit-learn's digits written as PNG files (train/<class>/, test/<class>/), plus one
    file that is not an image."""
    ds = load_dataset("digits")
    root = tmp_path_factory.mktemp("data") / "digits-folder"
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        for i, (img, label) in enumerate(zip(x, y)):
            d = root / split / str(int(label))
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[0].numpy()).save(d / f"{i:04d}.png")
    (root / "train" / "3" / "broken.png").write_bytes(b"this is not a PNG")
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path / "cache"))  # the folder index is cached here
    monkeypatch.setenv("ALEXNET_LOADER_WORKERS", "1")


def _train(folder: Path, store: RunStore, budget_mb: str, monkeypatch, capsys) -> tuple[dict, str]:
    monkeypatch.setenv("ALEXNET_DATA_BUDGET_MB", budget_mb)
    cfg = make_config("quick", dataset=str(folder), epochs=2, batch_size=64, cpu_threads=1, seed=1, log_every=5)
    result = train(TINY, cfg, store=store, progress=False)
    return result, capsys.readouterr().err


def test_a_folder_forced_onto_the_streaming_path_trains_to_the_in_memory_accuracy(digits_folder, tmp_path,
                                                                                   monkeypatch, capsys):
    store = RunStore(tmp_path / "runs")
    mem, mem_log = _train(digits_folder, store, "100000", monkeypatch, capsys)
    streamed, stream_log = _train(digits_folder, store, "0.001", monkeypatch, capsys)
    assert "loaded into memory" in mem_log and "streamed from disk" not in mem_log
    assert "streamed from disk by DataLoader workers" in stream_log
    assert "skipped 1 unreadable file" in stream_log  # the broken file: skipped and counted, not fatal
    assert mem["status"] == streamed["status"] == "completed", (mem.get("error"), streamed.get("error"))
    assert mem["test_acc"] > 0.8  # it learned (10 classes: chance is 0.1)
    # the same pixels in the same batch order: the same accuracy (±1 of the 360 test images)
    assert abs(mem["test_acc"] - streamed["test_acc"]) <= 1 / 360 + 1e-9


def test_streamed_batches_are_the_images_in_the_folder(digits_folder):
    ds = open_streaming(digits_folder, (1, 8, 8), progress=False)
    assert ds.skipped == 1 and len(ds.y_train) == 1437 and len(ds.y_test) == 360
    plain = load_dataset(digits_folder)  # the in-memory loader (PIL)
    order = torch.randperm(1437, generator=torch.Generator().manual_seed(0))
    batches = list(order[:300].split(64))
    ds.x_train.plan(batches)
    for b in batches:  # planned: decoded ahead by the worker, served in order
        assert torch.equal(ds.x_train[b], plain.x_train[b])
    assert torch.equal(ds.x_train[torch.tensor([7, 2])], plain.x_train[[7, 2]])  # off plan
    assert torch.equal(torch.cat([ds.x_test[i:i + 100] for i in range(0, 360, 100)]), plain.x_test)
    assert torch.equal(ds.y_train, plain.y_train)


def test_streamed_images_are_resized_to_the_input(digits_folder):
    ds = open_streaming(digits_folder, (1, 20, 24), progress=False)
    x = ds.x_train[torch.arange(5)]
    assert x.shape == (5, 1, 20, 24) and x.dtype == torch.uint8
    want = torch.nn.functional.interpolate(load_dataset(digits_folder).x_train[:5].float(), size=(20, 24),
                                           mode="bilinear", antialias=True, align_corners=False)
    assert (x.float() - want).abs().mean() < 3  # bilinear from the same pixels (uint8 rounding aside)


def test_which_path_and_why(digits_folder, monkeypatch):
    monkeypatch.delenv("ALEXNET_DATA_BUDGET_MB", raising=False)
    small = choose(str(digits_folder), (3, 32, 32), budget_mb=1)
    assert small.mode == "stream" and small.bytes_needed == 1798 * 3 * 32 * 32  # 5.3 MiB > 1 MiB
    assert "over the memory budget of 1" in small.why
    assert choose(str(digits_folder), (3, 32, 32), budget_mb=10).mode == "memory"
    assert choose("digits", (1, 8, 8), budget_mb=0).mode == "memory"  # built-ins stay in memory


@pytest.mark.parametrize("budget, words", [("0.01", "streamed from disk"), ("100000", "loaded into memory")])
def test_the_train_page_says_which_path_a_folder_takes(train_page, digits_folder, monkeypatch, budget, words):
    monkeypatch.setenv("ALEXNET_DATA_BUDGET_MB", budget)
    choose_path(train_page, digits_folder)
    captions = " ".join(c.value for c in train_page.caption)
    assert words in captions and "1,798 images at 1×8×8" in captions, captions



def test_a_test_class_that_train_lacks_is_refused_on_both_paths(tmp_path):
    for split, cls in (("train", "cat"), ("test", "cat"), ("test", "dog")):
        (tmp_path / "f" / split / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "f" / split / cls / "a.png")
    for load in (load_dataset, lambda p: open_streaming(p, (3, 8, 8), progress=False)):
        with pytest.raises(DatasetError, match="test has class folder.*dog"):
            load(tmp_path / "f")
