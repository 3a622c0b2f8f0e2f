"""Issue 16 §10: the estimate learns from past runs of *the network as trained*.

The command line stores a run's spec as given (``python -m alexnet train --config …``),
before the engine resizes its classifier to the dataset's classes; the Train page sizes
the network first.  The same network trained on the same data must be recognised from
either side, so the page's estimate uses the CLI's runs of it (and vice versa)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alexnet import estimate as E
from alexnet.runs import RunStore
from alexnet.sizing import adapt_spec
from tests.train_helpers import TINY

ROOT = Path(__file__).resolve().parent.parent
# TINY with a 3-way classifier: trained on digits (10 classes) the engine resizes it to 10
TINY3 = TINY.with_layer(len(TINY.layers) - 1, TINY.layers[-1].replace(out_features=3)).replace(
    name="tiny-3", num_classes=3)


def _cli_run(runs_dir: Path, spec_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "alexnet", "train", "--config", str(spec_file), "--dataset",
                          "digits", "--epochs", "1", "--runs-dir", str(runs_dir), "--no-progress"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["status"] == "completed"


def test_a_cli_run_is_recognised_by_the_pages_resized_network(runs_dir, tmp_path):
    spec_file = tmp_path / "tiny3.json"
    spec_file.write_text(TINY3.to_json())
    _cli_run(runs_dir, spec_file)
    store = RunStore(runs_dir)
    assert store.list_runs()[0]["spec"]["layers"][-1]["out_features"] == 3  # stored as given: the premise

    past = E.past_runs(store, lambda rid: {})
    assert len(past) == 1
    page_spec, note = adapt_spec(TINY3, 10)  # what the Train page estimates and launches
    assert note
    for spec in (page_spec, TINY3):  # sized by the page, or as the CLI was given it
        est = E.estimate(spec, dataset="digits", batch_size=64, epochs=1, device="cpu", past=past)
        assert "1 past run(s) of this network" in est["basis"], est["basis"]
        assert est["step_seconds"] == E.estimate(page_spec, dataset="digits", batch_size=64, epochs=1,
                                                 device="cpu", past=past)["step_seconds"]


def test_the_same_layers_for_other_data_are_another_network_only_when_the_classes_differ():
    ten = E.Past(E.spec_key(adapt_spec(TINY3, 10)[0]), "cpu", 1, 500.0)
    on_digits = E.estimate(TINY3, dataset="digits", batch_size=50, epochs=1, device="cpu", past=[ten])
    assert "past run(s) of this network" in on_digits["basis"]
    three = E.Past(E.spec_key(TINY3), "cpu", 1, 500.0)  # trained with 3 outputs: another network on digits
    other = E.estimate(TINY3, dataset="digits", batch_size=50, epochs=1, device="cpu", past=[three])
    assert "past run(s) of this network" not in other["basis"]
