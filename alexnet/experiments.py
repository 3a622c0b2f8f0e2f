"""Ablation experiments: test the AlexNet tutorials' claims on your own machine.

An experiment is a base network + a training config + one switch (activation, LRN,
pooling overlap, dropout, augmentation, groups, BatchNorm) with two or more
settings.  Each setting gives a named *variant* of the spec (or of the config, for
augmentation) that differs from the base exactly in the switched layers/fields.
Every variant runs with the same seeds (same init where shapes allow, same data
order), 1–3 seeds each, through the normal run store, so the Runs page shows them too.

The verdict compares variants on final test accuracy and on how fast they reach a
target accuracy, and refuses to name a winner when the difference is within the
noise: the spread over seeds, or — with a single seed — the binomial standard
error of an accuracy measured on n test images (√(p(1 − p)/n)).
"""

from __future__ import annotations

import json
import math
import secrets
import statistics
import time
from dataclasses import dataclass, field

from .arithmetic import analyze
from .spec import ACTIVATIONS, NetSpec, spec_changes

# ---------------------------------------------------------------------------------------
# switches: each setting maps a (spec dict, config dict) to a variant
# ---------------------------------------------------------------------------------------


def _layers(d):
    return d["layers"]


def set_activation(d: dict, kind: str) -> dict:
    """Every activation layer becomes ``kind`` (the claim: ReLU trains faster than tanh/sigmoid)."""
    out = []
    for layer in _layers(d):
        if layer["type"] in ACTIVATIONS:
            new = {"type": kind}
            if "name" in layer:
                new["name"] = layer["name"]
            out.append(new)
        else:
            out.append(layer)
    return {**d, "layers": out}


def set_pooling(d: dict, kind: str) -> dict:
    """'overlapping' = 3×3 windows, stride 2 (the paper); 'non-overlapping' = 2×2, stride 2."""
    k = 3 if kind == "overlapping" else 2
    out = []
    for layer in _layers(d):
        if layer["type"] == "maxpool":
            layer = {**layer, "kernel": k, "stride": 2}
            if isinstance(layer.get("padding"), int) and layer["padding"] > k // 2:
                layer["padding"] = k // 2
        out.append(layer)
    return {**d, "layers": out}


def set_lrn(d: dict, on: bool) -> dict:
    """on: an LRN (torch size 5, alpha 5e-4 = paper's 1e-4, beta 0.75, k 2) after the
    activation that follows each of the first two convs, unless one is there; off: none."""
    layers = [x for x in _layers(d) if x["type"] != "lrn"]
    if not on:
        return {**d, "layers": layers}
    existing = [x for x in _layers(d) if x["type"] == "lrn"]
    lrn = existing[0] if existing else {"type": "lrn", "size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}
    out, convs_seen = [], 0
    pending = False
    for layer in layers:
        out.append(layer)
        if layer["type"] == "conv":
            convs_seen += 1
            pending = convs_seen <= 2
        elif pending and layer["type"] in ACTIVATIONS:
            out.append({k: v for k, v in lrn.items() if k != "name"})
            pending = False
    return {**d, "layers": out}


def set_dropout(d: dict, p: float) -> dict:
    """Every dropout layer gets probability p (0 = off: the layers stay, doing nothing)."""
    return {**d, "layers": [{**x, "p": p} if x["type"] == "dropout" else x for x in _layers(d)]}


def set_groups(d: dict, groups: int) -> dict:
    """groups on conv2, conv4 and conv5 (the paper's two-GPU split), where channels allow."""
    out, n = [], 0
    spec = NetSpec.from_dict(d)
    info = analyze(spec).layers
    for i, layer in enumerate(_layers(d)):
        if layer["type"] == "conv":
            n += 1
            if n in (2, 4, 5):
                cin = info[i].in_shape[0] if info[i].in_shape else 0
                if cin % groups == 0 and layer["out_channels"] % groups == 0:
                    layer = {**layer, "groups": groups}
        out.append(layer)
    return {**d, "layers": out}


def set_batchnorm(d: dict, on: bool) -> dict:
    """on: a BatchNorm right after every conv (unless one is there); off: no BatchNorm."""
    layers = [x for x in _layers(d) if x["type"] != "batchnorm"]
    if not on:
        return {**d, "layers": layers}
    out = []
    for layer in layers:
        out.append(layer)
        if layer["type"] == "conv":
            out.append({"type": "batchnorm"})
    return {**d, "layers": out}


@dataclass(frozen=True)
class Switch:
    key: str
    title: str
    claim: str
    settings: tuple  # (label, value) pairs; the first is the tutorial's choice
    target: str = "spec"  # 'spec' or 'config'


SWITCHES: dict[str, Switch] = {s.key: s for s in (
    Switch("activation", "Activation", "ReLU trains several times faster than saturating tanh/sigmoid",
           (("relu", "relu"), ("tanh", "tanh"), ("sigmoid", "sigmoid"), ("leaky_relu", "leaky_relu"),
            ("gelu", "gelu"))),
    Switch("pooling", "Pooling overlap", "overlapping 3×3/2 pooling beats non-overlapping 2×2/2",
           (("overlapping 3/2", "overlapping"), ("non-overlapping 2/2", "non-overlapping"))),
    Switch("lrn", "Local response normalisation", "LRN after conv1/conv2 helps a little",
           (("LRN on", True), ("LRN off", False))),
    Switch("dropout", "Dropout", "dropout fights over-fitting (smaller train/test gap)",
           (("dropout 0.5", 0.5), ("no dropout", 0.0))),
    Switch("augmentation", "Data augmentation", "flips and shifts improve test accuracy",
           (("augmentation on", True), ("augmentation off", False)), target="config"),
    Switch("groups", "Grouped convs (two-GPU split)", "groups = 2 on conv2/4/5 halves their weights at "
           "little cost in accuracy", (("groups 2", 2), ("groups 1", 1))),
    Switch("batchnorm", "BatchNorm", "BatchNorm (not in AlexNet) speeds training up",
           (("BatchNorm on", True), ("BatchNorm off", False))),
)}

_SPEC_FNS = {"activation": set_activation, "pooling": set_pooling, "lrn": set_lrn, "dropout": set_dropout,
             "groups": set_groups, "batchnorm": set_batchnorm}


def apply_switch(spec: NetSpec | dict, config: dict, switch: str, value) -> tuple[dict, dict]:
    """(spec dict, config dict) of one variant.  The spec is validated."""
    d = spec.to_dict() if isinstance(spec, NetSpec) else json.loads(json.dumps(spec))
    cfg = dict(config)
    if switch == "augmentation":
        cfg.update(augment_on(cfg) if value else augment_off(cfg))
    else:
        d = _SPEC_FNS[switch](d, value)
    NetSpec.from_dict(d)  # raises SpecError naming the layer if the variant is invalid
    return d, cfg


def augment_on(cfg: dict) -> dict:
    return {"flip": True, "translate": cfg.get("translate") or 0.125}


def augment_off(cfg: dict) -> dict:
    return {"flip": False, "translate": 0, "color_jitter": 0.0}


@dataclass
class Variant:
    label: str
    spec: dict
    config: dict

    @property
    def params(self) -> int:
        return analyze(self.spec).total_params

    @property
    def macs(self) -> int:
        return analyze(self.spec).total_macs


def make_variants(spec: NetSpec | dict, config: dict, switch: str, values: list | None = None) -> list[Variant]:
    sw = SWITCHES[switch]
    chosen = [(lbl, v) for lbl, v in sw.settings if values is None or v in values or lbl in values]
    if len(chosen) < 2:
        raise ValueError(f"experiment '{switch}': pick at least two settings of {[lbl for lbl, _ in sw.settings]}")
    out = []
    for lbl, v in chosen:
        d, cfg = apply_switch(spec, config, switch, v)
        out.append(Variant(lbl, d, cfg))
    return out


def layer_diff(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two spec dicts (``spec_changes`` as text)."""
    out: list[str] = []
    for c in spec_changes(a, b):
        if c["where"] in ("input", "num_classes"):
            out.append(f"{c['where']} {c['from']} → {c['to']}")
        elif c["field"] == "type" and c["to"] == "—":
            out.append(f"{c['where']} ({c['from']}) removed")
        elif c["field"] == "type" and c["from"] == "—":
            out.append(f"{c['where']} ({c['to']}) added")
        elif c["field"] == "type":
            out.append(f"{c['where']}: {c['from']} → {c['to']}")
        elif out and out[-1].startswith(c["where"] + ":"):  # more fields of the same layer
            out[-1] += f", {c['field']} {c['from']} → {c['to']}"
        else:
            out.append(f"{c['where']}: {c['field']} {c['from']} → {c['to']}")
    return out


def config_diff(a: dict, b: dict) -> list[str]:
    return [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


# ---------------------------------------------------------------------------------------
# built-in experiments
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltIn:
    key: str
    switch: str
    values: tuple
    preset: str = "alexnet-mini-15"
    dataset: str = "digits"
    # Adam 1e-3 (seed 001's recipe): it trains the BatchNorm-free mini net with every
    # activation, where one-cycle SGD at lr 0.05 left the ReLU variant dead at chance.
    recipe: str = "seed-001-adam"
    epochs: int = 8
    target_acc: float = 0.9
    note: str = ""


BUILTINS: dict[str, BuiltIn] = {b.key: b for b in (
    BuiltIn("relu-vs-tanh", "activation", ("relu", "tanh"), note="Krizhevsky et al. report that a ReLU net "
            "reaches 25% training error six times faster than the same net with tanh."),
    BuiltIn("relu-vs-sigmoid", "activation", ("relu", "sigmoid"),
            note="Sigmoid saturates harder than tanh; without BatchNorm it may barely learn in a few epochs."),
    BuiltIn("overlapping-pooling", "pooling", ("overlapping", "non-overlapping"),
            note="The paper: overlapping 3/2 pooling lowers top-1 error by 0.4% and over-fits slightly less."),
    BuiltIn("lrn", "lrn", (True, False), note="The paper: LRN lowers top-1 error by 1.4%; later work found "
            "it does little once BatchNorm is used."),
    BuiltIn("dropout", "dropout", (0.5, 0.0), epochs=15,
            note="The paper: without dropout the network over-fits substantially."),
    BuiltIn("augmentation", "augmentation", (True, False), epochs=15,
            note="The paper: without augmentation the network over-fits; flips and crops help."),
    BuiltIn("groups", "groups", (2, 1), note="The two-GPU split: groups = 2 on conv2/4/5 halves their weights."),
    BuiltIn("batchnorm", "batchnorm", (True, False), note="Not in AlexNet: BatchNorm came in 2015."),
)}


# ---------------------------------------------------------------------------------------
# the experiment record (a table beside the runs in the same SQLite file)
# ---------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    switch TEXT NOT NULL,
    base_spec TEXT NOT NULL,
    base_config TEXT NOT NULL,
    variants TEXT NOT NULL,      -- JSON list of {label, run_ids: [...], seeds: [...]}
    target_acc REAL
);
"""


class ExperimentStore:
    """Experiments are stored in the run store's SQLite file, in their own table, through
    the run store's connection (``RunStore.write``/``read``)."""

    def __init__(self, runs_store):
        self.runs = runs_store
        runs_store.add_schema(_SCHEMA)

    def create(self, name: str, switch: str, base_spec: dict, base_config: dict, variants: list[Variant],
               seeds: list[int], target_acc: float | None = None, submit=None) -> str:
        """Create the experiment and one queued run per (variant, seed), seed-major so that
        every variant has a first result early.  ``submit(name, spec, config,
        experiment_id=...) -> run_id`` queues a run (default: the store's create_run; the
        web page passes the job manager's submit, so the runs share the Train page's queue)."""
        submit = submit or self.runs.create_run
        exp_id = time.strftime("exp-%Y%m%d-%H%M%S-") + secrets.token_hex(2)
        # the record first, so a page that polls while runs are being queued finds it
        recs = [{"label": v.label, "run_ids": [], "seeds": list(seeds)} for v in variants]
        self.runs.write("INSERT INTO experiments VALUES (?,?,?,?,?,?,?,?)",
                        (exp_id, name, time.time(), switch, json.dumps(base_spec), json.dumps(base_config),
                         json.dumps(recs), target_acc))
        for seed in seeds:
            for v, rec in zip(variants, recs):
                cfg = {**v.config, "seed": seed}
                rec["run_ids"].append(submit(f"{name} · {v.label} · seed {seed}", v.spec, cfg, experiment_id=exp_id))
                self.runs.write("UPDATE experiments SET variants = ? WHERE id = ?", (json.dumps(recs), exp_id))
        return exp_id

    def get(self, exp_id: str) -> dict | None:
        rows = self.runs.read("SELECT * FROM experiments WHERE id = ?", (exp_id,))
        return self._row(rows[0]) if rows else None

    def list(self) -> list[dict]:
        return [self._row(r) for r in self.runs.read("SELECT * FROM experiments ORDER BY created DESC")]

    def delete(self, exp_id: str, manager=None) -> None:
        """Delete the experiment and its runs (through ``manager.delete`` when given, which
        stops live runs first)."""
        e = self.get(exp_id)
        if e:
            for v in e["variants"]:
                for rid in v["run_ids"]:
                    (manager.delete if manager is not None else self.runs.delete)(rid)
        self.runs.write("DELETE FROM experiments WHERE id = ?", (exp_id,))

    @staticmethod
    def _row(r) -> dict:
        d = dict(r)
        for k in ("base_spec", "base_config", "variants"):
            d[k] = json.loads(d[k])
        return d


# ---------------------------------------------------------------------------------------
# results and verdicts
# ---------------------------------------------------------------------------------------
@dataclass
class VariantResult:
    label: str
    runs: list[dict] = field(default_factory=list)  # per run: status, final_acc, best_acc, epochs_to_target, ...
    params: int = 0
    macs: int = 0
    n_test: int = 0

    def _vals(self, key):
        return [r[key] for r in self.runs if r.get(key) is not None]

    @property
    def final_acc(self) -> float | None:
        v = self._vals("final_acc")
        return statistics.mean(v) if v else None

    @property
    def best_acc(self) -> float | None:
        v = self._vals("best_acc")
        return statistics.mean(v) if v else None

    @property
    def spread(self) -> float | None:
        """Half the range over seeds (None with fewer than two finished seeds)."""
        v = self._vals("final_acc")
        return (max(v) - min(v)) / 2 if len(v) >= 2 else None

    @property
    def epochs_to_target(self) -> float | None:
        v = self._vals("epochs_to_target")
        return statistics.mean(v) if v and len(v) == len(self._vals("final_acc")) else None

    @property
    def seconds_to_target(self) -> float | None:
        v = self._vals("seconds_to_target")
        return statistics.mean(v) if v and len(v) == len(self._vals("final_acc")) else None

    @property
    def images_per_sec(self) -> float | None:
        v = self._vals("images_per_sec")
        return statistics.mean(v) if v else None

    @property
    def done(self) -> bool:
        return bool(self.runs) and all(r["status"] in ("completed", "failed", "stopped", "interrupted")
                                       for r in self.runs)


def run_result(store, run_id: str, target_acc: float | None) -> dict:
    run = store.get_run(run_id) or {"status": "deleted"}
    ep = store.epoch_metrics(run_id) if run.get("status") != "deleted" else []
    # time = training seconds up to that epoch (sum of epoch_seconds): start-up costs such as
    # loading data or the first optimizer's imports are not charged to the variant
    elapsed, accs = 0.0, []
    for e in ep:
        elapsed += e.get("epoch_seconds") or 0.0
        if e.get("test_acc") is not None:
            accs.append((e["epoch"], e["test_acc"], elapsed))
    out = {"run_id": run_id, "status": run.get("status"), "epochs": len(accs),
           "final_acc": accs[-1][1] if accs and run.get("status") == "completed" else None,
           "best_acc": max(a for _, a, _ in accs) if accs else None,
           "train_acc": ep[-1].get("train_acc") if ep else None,
           "last_acc": accs[-1][1] if accs else None, "acc_curve": [(e, a) for e, a, _ in accs]}
    if target_acc is not None and accs:
        hit = next(((e, t) for e, a, t in accs if a >= target_acc), None)
        if hit:
            out["epochs_to_target"] = hit[0]
            out["seconds_to_target"] = hit[1] or None
    steps = store.step_metrics(run_id) if accs else []
    ips = [s["images_per_sec"] for s in steps if s.get("images_per_sec")]
    out["images_per_sec"] = statistics.median(ips) if ips else None
    return out


def collect(store, experiment: dict, n_test: int | None = None) -> list[VariantResult]:
    res = []
    for v in experiment["variants"]:
        runs = [run_result(store, rid, experiment.get("target_acc")) for rid in v["run_ids"]]
        first = store.get_run(v["run_ids"][0]) if v["run_ids"] else None
        s = analyze(first["spec"]) if first else None
        res.append(VariantResult(v["label"], runs, s.total_params if s else 0, s.total_macs if s else 0,
                                 n_test or 0))
    return res


def noise(r: VariantResult) -> float:
    """The accuracy difference this variant's figure cannot resolve."""
    if r.spread is not None:
        return r.spread
    p = r.final_acc if r.final_acc is not None else 0.5
    n = r.n_test or 0
    return math.sqrt(max(p * (1 - p), 1e-4) / n) if n else 0.0


def verdict(results: list[VariantResult], target_acc: float | None = None) -> str:
    """Plain-language verdict; names a winner only when the gap exceeds the noise of both."""
    done = [r for r in results if r.final_acc is not None]
    if len(done) < 2:
        return "Not enough finished variants to compare yet."
    done.sort(key=lambda r: r.final_acc, reverse=True)
    a, b = done[0], done[1]
    gap = a.final_acc - b.final_acc
    tol = max(noise(a), noise(b))
    seeds = max(len(a._vals("final_acc")), len(b._vals("final_acc")))
    basis = ("the spread over seeds" if seeds >= 2 else
             f"the ±{tol * 100:.1f}-point standard error of an accuracy on {a.n_test} test images")
    parts = []
    if gap <= tol:
        parts.append(f"No clear winner: {a.label} {a.final_acc * 100:.1f}% vs {b.label} {b.final_acc * 100:.1f}% "
                     f"final test accuracy — a {gap * 100:.1f}-point gap is within {basis} "
                     f"({tol * 100:.1f} points). Run more seeds or epochs to tell them apart.")
    else:
        parts.append(f"{a.label} reached {a.final_acc * 100:.1f}% final test accuracy, {b.label} "
                     f"{b.final_acc * 100:.1f}%: {gap * 100:.1f} points better, more than {basis} "
                     f"({tol * 100:.1f} points).")
    if target_acc is not None:
        def reach(r):
            e = r.epochs_to_target
            return f"{r.label} in {e:g} epoch{'s' if e != 1 else ''}" if e is not None else f"{r.label} never did"
        parts.append(f"Reaching {target_acc * 100:.0f}% test accuracy: " + ", ".join(reach(r) for r in done) + ".")
    gaps = {}
    for r in done:
        g = [x["train_acc"] - x["last_acc"] for x in r.runs
             if x.get("train_acc") is not None and x.get("last_acc") is not None]
        if g:
            gaps[r.label] = statistics.mean(g)
    if len(gaps) == len(done):
        parts.append("Train − test accuracy gap (over-fitting): "
                     + ", ".join(f"{lbl} {g * 100:+.1f} points" for lbl, g in gaps.items()) + ".")
    return " ".join(parts)


def results_table(results: list[VariantResult]) -> list[dict]:
    rows = []
    for r in results:
        accs = r._vals("final_acc")
        rows.append({
            "variant": r.label,
            "runs": f"{sum(1 for x in r.runs if x['status'] == 'completed')}/{len(r.runs)} done",
            "final test acc %": round(r.final_acc * 100, 2) if r.final_acc is not None else None,
            "± (seeds)": round(r.spread * 100, 2) if r.spread is not None else None,
            "best test acc %": round(r.best_acc * 100, 2) if r.best_acc is not None else None,
            "epochs to target": r.epochs_to_target,
            "seconds to target": round(r.seconds_to_target, 1) if r.seconds_to_target else None,
            "images/s": round(r.images_per_sec) if r.images_per_sec else None,
            "params": r.params,
            "seeds": len(accs),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain aligned text (for the CLI and the closing note)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[str(k) for k in keys]] + [["—" if r[k] is None else str(r[k]) for k in keys] for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    lines = ["  ".join(c[i].ljust(w[i]) for i in range(len(keys))).rstrip() for c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
