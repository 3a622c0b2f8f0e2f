"""``python -m alexnet experiment`` end to end, checked by content: the variants' runs are in the
store with the switch applied to their networks (every activation layer relu / tanh) and nothing
else changed, each seed's stored final accuracy is what the JSON reports per seed, the verdict
rests on the number of seeds asked for and states its interval."""

from __future__ import annotations

import json
import subprocess
import sys

from alexnet.runs import RunStore
from tests.train_helpers import TINY


def test_experiment_cli_runs_stores_and_reports_each_variant(tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(TINY.to_json())
    cmd = [sys.executable, "-m", "alexnet", "experiment", "--switch", "activation", "--values", "relu,tanh",
           "--config", str(spec), "--dataset", "digits", "--epochs", "1", "--train-subset", "200", "--seeds", "2",
           "--runs-dir", str(tmp_path / "runs"), "--json", "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    store = RunStore(tmp_path / "runs")
    runs = store.list_runs()
    assert len(runs) == 4 and all(r["status"] == "completed" for r in runs)
    by_act = {}
    for r in runs:
        acts = {layer["type"] for layer in r["spec"]["layers"]} & {"relu", "tanh"}
        assert len(acts) == 1, acts  # the switch replaced every activation
        by_act.setdefault(acts.pop(), []).append(r)
    assert sorted(by_act) == ["relu", "tanh"] and all(len(v) == 2 for v in by_act.values())
    base = [{k: v for k, v in x.items() if k not in ("type", "name")} for x in TINY.to_dict()["layers"]]
    for rs in by_act.values():  # nothing but the activation differs from the base network
        layers = [{k: v for k, v in x.items() if k not in ("type", "name")} for x in rs[0]["spec"]["layers"]]
        assert layers == base
        assert len({r["config"]["seed"] for r in rs}) == 2  # two seeds, not one run twice
    c = report["comparison"]
    assert c["seeds"] == [2, 2] and c["method"] == "welch" and len(c["interval_95"]) == 2
    for label, finals in c["per_seed"].items():
        stored = sorted(store.epoch_metrics(r["id"])[-1]["test_acc"] for r in by_act[label])
        assert sorted(finals) == stored, (label, finals, stored)
    assert "95" in report["verdict"] and "2 seeds" in report["verdict"]
    assert [row["seeds"] for row in report["rows"]] == [2, 2]
