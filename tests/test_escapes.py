"""Issue 14: the escapes a hostile or careless user found, one test each.

The rule they check: any bad input or fault ends as a clear one-line message (exit 2
for the CLI), and a run that fails is 'failed' with its reason — never a traceback on
screen or in the stored error, never 'interrupted' for something that was not a kill.
Every file here is written small, in its real format."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
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


def _cli(*args: str, runs_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = None if runs_dir is None else {**os.environ, "ALEXNET_RUNS_DIR": str(runs_dir)}
    return subprocess.run([sys.executable, "-m", "alexnet", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def _refused(proc: subprocess.CompletedProcess, says: str) -> None:
    """Exit 2 and one ``error: …`` line on stderr that says ``says``."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    line = _one_line(proc.stderr.strip())
    assert line.startswith("error: ") and says in line, line


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


# ---- 4: a spec or training config that is not UTF-8 --------------------------------------
def test_04_a_file_that_is_not_utf8_is_exit_2(tmp_path, runs_dir):
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"name": "café"}'.encode("latin-1"))
    _refused(_cli("summary", "--config", str(latin)), f"--config {latin} is not UTF-8 text (byte 0xe9")
    _refused(_cli("train", "--train-config", str(latin), runs_dir=runs_dir),
             f"--train-config {latin} is not UTF-8 text (byte 0xe9")
    assert not RunStore(runs_dir).list_runs()


# ---- 6: a damaged run store -----------------------------------------------------------------
def _damage(runs: Path, how: str) -> None:
    db = runs / "runs.sqlite"
    if how == "a folder":
        db.mkdir()
        return
    store = RunStore(runs)
    for i in range(300):  # enough pages that half the file cuts into them
        store.create_run(f"run {i}", {"name": "x" * 400}, {})
    store.close()
    data = db.read_bytes()
    db.write_bytes(np.random.default_rng(0).bytes(4096) if how == "random bytes" else data[:len(data) // 2])
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (runs / side).unlink(missing_ok=True)


DAMAGED = {"random bytes": "is damaged or not a run store", "half a file": "is damaged or not a run store",
           "a folder": "is a folder, not a database"}


@pytest.mark.parametrize("how", DAMAGED)
def test_06_a_damaged_run_store_says_how_to_recover(how, runs_dir):
    _damage(runs_dir, how)
    for command in (["runs"], ["train", "--epochs", "1"]):
        proc = _cli(*command, "--runs-dir", str(runs_dir))
        _refused(proc, DAMAGED[how])
        assert ("backup copy" in proc.stderr) or ("move it out" in proc.stderr)


@pytest.mark.parametrize("page", ["runs.py", "train.py"])
def test_06_a_damaged_run_store_on_the_runs_and_train_pages(page, runs_dir):
    from streamlit.testing.v1 import AppTest

    _damage(runs_dir, "random bytes")
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("is damaged or not a run store" in e.value and "backup copy" in e.value for e in at.error)


def test_06_runs_dir_that_is_a_file(tmp_path):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    for command in (["runs"], ["train", "--epochs", "1"]):
        _refused(_cli(*command, "--runs-dir", str(f)), f"the runs folder {f} is a file, not a folder")


def test_06_an_emptied_store_says_its_run_folders_are_not_listed(runs_dir):
    from alexnet.runs import save_checkpoint

    store = RunStore(runs_dir)
    rid = store.create_run("kept", {"name": "x"}, {})
    (runs_dir / rid).mkdir()
    save_checkpoint(runs_dir / rid / "last.pt", {"model": {}})
    store.close()
    (runs_dir / "runs.sqlite").write_bytes(b"")  # zero bytes: SQLite starts an empty database
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (runs_dir / side).unlink(missing_ok=True)
    proc = _cli("runs", "--runs-dir", str(runs_dir))
    assert proc.returncode == 0 and f"no runs in {runs_dir}" in proc.stdout
    assert "warning: 1 run folder(s)" in proc.stderr and rid in proc.stderr and "backup copy" in proc.stderr


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


# ---- 10: the memory budget on the command line; running out of memory while building ------
def test_10_cli_refuses_a_network_over_the_memory_budget(tmp_path, runs_dir):
    layers = [{"type": "flatten"}] + [{"type": "linear", "out_features": 4096}] * 64 + [TINY["layers"][-1]]
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(dict(TINY, name="huge", layers=layers)))
    _refused(_cli("train", "--config", str(path), runs_dir=runs_dir),
             "the network 'huge' needs 3.94 GB of weights (1,057,497,090 parameters")
    _refused(_cli("train", "--config", str(path), "--input", "64x4096x4096", runs_dir=runs_dir),
             "the budget is 1.00 GB")
    assert not RunStore(runs_dir).list_runs()
    proc = _cli("train", "--help")
    assert "--no-budget" in proc.stdout


def test_10_out_of_memory_while_building_is_a_failed_run(runs_dir, monkeypatch):
    import alexnet.train as T

    def no_memory(spec):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you "
                           "tried to allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)\nframe #0: …")

    monkeypatch.setattr(T, "build_model", no_memory)
    store = RunStore(runs_dir)
    result = train(TINY, make_config("quick", epochs=1, cpu_threads=1), store=store, progress=False)
    run = store.get_run(result["run_id"])
    assert run["status"] == "failed"
    assert _one_line(run["error"]).startswith("out of memory while setting up the run"), run["error"]


def test_rule_anything_a_run_raises_is_failed_with_one_line(runs_dir, monkeypatch):
    import alexnet.train as T

    def broken(*args, **kwargs):
        raise ValueError("the first line says what\nand this second line is not kept")

    monkeypatch.setattr(T, "preprocess", broken)  # fails in the first training step
    store = RunStore(runs_dir)
    result = train(TINY, make_config("quick", epochs=1, cpu_threads=1), store=store, progress=False)
    run = store.get_run(result["run_id"])
    assert run["status"] == "failed" and result["status"] == "failed"
    assert _one_line(run["error"]) == "ValueError: the first line says what"


# ---- 11: Ctrl-C in the server's terminal --------------------------------------------------
SERVER = """
import sys, time
from alexnet import jobs
mgr = jobs.get_manager(sys.argv[1])
print(mgr.submit("long", {spec}, {config}), flush=True)
time.sleep(600)
"""


def test_11_ctrl_c_to_the_servers_group_does_not_stop_its_jobs(runs_dir):
    """A 'server' that started a job gets SIGINT the way a terminal sends it (to its whole
    process group); the job goes on."""
    cfg = make_config("quick", epochs=10_000, max_seconds=120, cpu_threads=1).to_dict()
    code = SERVER.format(spec=repr(TINY), config=repr(cfg))
    server = subprocess.Popen([sys.executable, "-c", code, str(runs_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    rid = server.stdout.readline().strip()
    store = RunStore(runs_dir)
    try:
        deadline = time.time() + 120
        while (store.get_run(rid) or {}).get("status") != "running" or not store.get_run(rid)["pid"]:
            assert time.time() < deadline and server.poll() is None, store.get_run(rid)
            time.sleep(0.3)
        pid = store.get_run(rid)["pid"]
        os.killpg(server.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        server.wait(timeout=30)
        time.sleep(3)
        run = store.get_run(rid)
        assert run["status"] == "running", run
        os.kill(pid, 0)  # still alive
    finally:
        if server.poll() is None:
            server.kill()
        run = store.get_run(rid)
        if run and run["status"] == "running":
            store.request_stop(rid)
            os.kill(run["pid"], signal.SIGTERM)
    deadline = time.time() + 60
    while store.get_run(rid)["status"] == "running" and time.time() < deadline:
        time.sleep(0.3)
    assert store.get_run(rid)["status"] == "stopped"


# ---- 12, 13: options out of range -------------------------------------------------------------
def test_12_lr_out_of_range_states_the_real_range(runs_dir):
    _refused(_cli("train", "--lr", "1e6", runs_dir=runs_dir), "--lr must be a number in (0, 100], got 1000000.0")


def test_13_device_meta_is_refused_as_a_flag_in_a_config_and_in_a_stored_run(tmp_path, runs_dir):
    _refused(_cli("train", "--device", "meta", runs_dir=runs_dir),
             "--device must be auto, cpu, cuda, cuda:N or mps, got 'meta'")
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"device": "meta"}))
    _refused(_cli("train", "--train-config", str(cfg), runs_dir=runs_dir),
             "training option 'device' must be auto, cpu, cuda, cuda:N or mps, got 'meta'")
    store = RunStore(runs_dir)
    assert not store.list_runs()
    rid = store.create_run("meta", TINY, dict(make_config("quick").to_dict(), device="meta"))  # as the web UI queues
    proc = _cli("train", "--run-id", rid, "--no-progress", runs_dir=runs_dir)
    run = store.get_run(rid)
    assert proc.returncode == 1 and run["status"] == "failed"
    assert "'device' must be auto, cpu, cuda, cuda:N or mps" in _one_line(run["error"])


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


def test_16_the_activations_page_says_which_folders_and_not_which_files_exist(runs_dir):
    from streamlit.testing.v1 import AppTest

    from alexnet import get_spec

    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=180)
    at.session_state["net_spec"] = get_spec("alexnet-cifar-32")
    at.session_state["net_base"], at.session_state["net_version"] = "alexnet-cifar-32", 0
    at.run()
    at.radio(key="act_wsrc").set_value("Local .pth file").run()
    assert any("can be opened by path" in c.value and str(runs_dir) in c.value for c in at.caption)
    seen = []
    for path in ("/etc/passwd", "/etc/no-such-file.pth"):
        at.text_input(key="act_pth_path").set_value(path).run()
        assert not at.exception, [e.value for e in at.exception]
        seen.append([e.value.split("' is not under", 1)[-1] for e in at.error])
    assert seen[0] == seen[1] and len(seen[0]) == 1 and "only files in these folders" in seen[0][0]


# ---- nothing leaves the machine: the icon is shipped (the browser test is test_browser_offline.py)
def test_the_shipped_icon_is_what_make_icon_draws():
    import importlib.util

    from PIL import Image

    spec = importlib.util.spec_from_file_location("make_icon", ROOT / "assets" / "make_icon.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shipped = Image.open(ROOT / "assets" / "favicon.png")
    assert shipped.size == (64, 64)
    assert np.array_equal(np.asarray(shipped), np.asarray(mod.icon()))
    assert 'page_icon=str(ROOT / "assets" / "favicon.png")' in (ROOT / "explorer" / "app.py").read_text()
