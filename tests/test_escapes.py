"""Issue 14: the escapes a hostile or careless user found, one test each.

The rule they check: any bad input or fault ends as a clear one-line message (exit 2
for the CLI), and a run that fails is 'failed' with its reason — never a traceback on
screen or in the stored error, never 'interrupted' for something that was not a kill.
Every file here is written small, in its real format."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from alexnet import activations as A
from alexnet.config import make_config
from alexnet.data import DatasetError, dataset_info, load_dataset
from alexnet.runs import RunStore
from alexnet.train import train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 2, "layers": [
    {"type": "conv", "out_channels": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 2}]}


def _one_line(text: str | None) -> str:
    """A stored or printed error: one line, no traceback."""
    assert text, "no error message"
    assert "\n" not in text.strip() and "Traceback" not in text and 'File "' not in text, text
    return text


def _train_on(path: Path, runs_dir: Path) -> dict:
    """Train TINY for one epoch on the dataset at ``path``; the stored run."""
    store = RunStore(runs_dir)
    cfg = make_config("quick", dataset=str(path), epochs=1, batch_size=2, cpu_threads=1)
    result = train(TINY, cfg, store=store, progress=False)
    return store.get_run(result["run_id"])


def _npz(path: Path, **arrays) -> Path:
    x = np.zeros((4, 8, 8), np.uint8)
    base = dict(x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x, y_test=np.array([0, 1, 0, 1]))
    np.savez(path, **{**base, **arrays})
    return path


# ---- 1: crafted .pth files --------------------------------------------------------------
CRAFTED = {
    "int key": ({1: torch.zeros(2)}, "key 1 (int) is not a string"),
    "mean 5": ({"model": {"conv1.weight": torch.zeros(2)}, "input_mean": 5}, "'input_mean' must be a list"),
    "mean text": ({"model": {"conv1.weight": torch.zeros(2)}, "input_mean": ["a"]}, "'input_mean' must be a list"),
    "std 0": ({"model": {"conv1.weight": torch.zeros(2)}, "input_std": [0.0]}, "'input_std' must be a list of positive"),
    "classes 7": ({"model": {"conv1.weight": torch.zeros(2)}, "classes": 7}, "'classes' must be a list"),
    "model keys": ({"model": {("conv1", 0): torch.zeros(2)}}, "is not a string"),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_01_crafted_pth_is_a_weights_error(name, tmp_path):
    payload, says = CRAFTED[name]
    path = tmp_path / "crafted.pth"
    torch.save(payload, path)
    for source in (path, path.read_bytes()):
        with pytest.raises(A.WeightsError, match=re.escape(says)) as e:
            A.read_weights_file(source)
        _one_line(str(e.value))


def test_01_crafted_pth_on_the_activations_page_is_a_message(runs_dir):
    from streamlit.testing.v1 import AppTest

    from alexnet import get_spec

    path = runs_dir / "crafted.pth"
    torch.save({"model": {"conv1.weight": torch.zeros(2)}, "input_mean": 5}, path)
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=180)
    at.session_state["net_spec"] = get_spec("alexnet-cifar-32")
    at.session_state["net_base"], at.session_state["net_version"] = "alexnet-cifar-32", 0
    at.run()
    at.radio(key="act_wsrc").set_value("Local .pth file").run()
    at.text_input(key="act_pth_path").set_value(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("'input_mean' must be a list" in e.value for e in at.error), [e.value for e in at.error]


# ---- 2: no tracebacks in the browser ---------------------------------------------------
def test_02_browser_shows_no_error_details():
    """The option Streamlit reads from the project's .streamlit/config.toml when started
    from the repository, as the README says."""
    code = ("import streamlit.config as c; c.get_config_options(force_reparse=True); "
            "print(c.get_option('client.showErrorDetails'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("type", "none")


# ---- 7, 8, 9: .npz datasets ----------------------------------------------------------------
def test_07_a_huge_label_is_refused_not_a_billion_classes(tmp_path, runs_dir):
    path = _npz(tmp_path / "huge.npz", y_train=np.array([0, 1, 0, 10**9]))
    assert "label 1,000,000,000, but at most 10,000 classes" in dataset_info(path).problem
    path = _npz(tmp_path / "million.npz", y_train=np.array([0, 1, 0, 10**6]))  # 10⁹ would take 2 GB unfixed
    with pytest.raises(DatasetError, match="label 1,000,000, but at most 10,000 classes"):
        load_dataset(path)
    path = _npz(tmp_path / "big.npz", y_train=np.array([0, 1, 0, 20_000]))  # trains without the cap
    run = _train_on(path, runs_dir)
    assert run["status"] == "failed" and "at most 10,000 classes" in _one_line(run["error"])


def _bomb(path: Path, shape: tuple[int, ...]) -> Path:
    """A real .npz whose x_train is ``shape`` zeros, compressed as it is written (tiny on disk)."""
    x = np.zeros((4, 8, 8), np.uint8)
    np.savez_compressed(path, y_train=np.zeros(shape[0], np.int64), x_test=x, y_test=np.zeros(4, np.int64))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z, \
            z.open("x_train.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        row = bytes(int(np.prod(shape[1:])))
        for _ in range(shape[0]):
            f.write(row)
    return path


def test_08_a_decompression_bomb_is_refused_before_reading(tmp_path, monkeypatch):
    from alexnet import data

    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 4 << 20)  # 4 MiB here; the real limit is 1 GiB
    path = _bomb(tmp_path / "bomb.npz", (100, 256, 256))  # 6.3 MiB of zeros, ~10 KB on disk
    assert path.stat().st_size < 100_000
    read = []
    monkeypatch.setattr(data.np, "load", lambda *a, **k: read.append(a) or pytest.fail("np.load was called"))
    with pytest.raises(DatasetError, match=r"take 6\.\d+ MB once decompressed \(\d+\.\d+ KB on disk\), over the 4\.00 MB limit"):
        load_dataset(path)
    assert "once decompressed" in dataset_info(path).problem and not read


BAD_NPZ = {
    "text labels": (dict(y_train=np.array(["a", "b", "a", "b"])), "y_train holds text"),
    "0-d classes": (dict(classes=np.array("ab")), "classes must be a 1-D list"),
    "zero bytes": (None, "is empty (0 bytes)"),
    "NHWC, 2 channels": (dict(x_train=np.zeros((4, 8, 8, 2), np.uint8), x_test=np.zeros((4, 8, 8, 2), np.uint8)),
                         "x_train has shape [4, 8, 8, 2]"),
    "fractional labels": (dict(y_train=np.array([0, 1.5, 0, 1])), "fractional label (1.5)"),
    "half a file": ("half", "cannot read as an .npz file"),
}


@pytest.mark.parametrize("name", BAD_NPZ)
def test_09_a_bad_npz_is_a_clear_message_and_a_failed_run(name, tmp_path, runs_dir):
    arrays, says = BAD_NPZ[name]
    path = tmp_path / "bad.npz"
    if arrays is None:
        path.write_bytes(b"")
    elif arrays == "half":
        data = _npz(tmp_path / "whole.npz").read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        _npz(path, **arrays)
    with pytest.raises(DatasetError, match=re.escape(says)) as e:
        load_dataset(path)
    _one_line(str(e.value))
    assert dataset_info(path).problem
    run = _train_on(path, runs_dir)
    assert run["status"] == "failed", run
    assert _one_line(run["error"]).startswith("dataset: ") and says in run["error"]


# ---- 16: the 'Local .pth file' box ------------------------------------------------------
def test_16_local_paths_are_limited_to_the_runs_data_and_home_folders(tmp_path, runs_dir, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    inside = runs_dir / "run1" / "best.pt"
    assert A.local_weights_path(str(inside)) == inside.resolve()
    assert A.local_weights_path("~/w.pth") == (tmp_path / "home" / "w.pth").resolve()
    messages = set()
    for outside in ("/etc/passwd", "/etc/no-such-file", str(runs_dir / ".." / ".." / "x.pth"), "/"):
        with pytest.raises(A.WeightsError, match="only files in these folders can be opened by path") as e:
            A.local_weights_path(outside)
        messages.add(str(e.value).split("' is not under", 1)[1])
    assert len(messages) == 1  # the same answer whether the file exists or not
    (runs_dir / "link.pth").symlink_to("/etc/passwd")
    with pytest.raises(A.WeightsError, match="not under"):
        A.local_weights_path(str(runs_dir / "link.pth"))
