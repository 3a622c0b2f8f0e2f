"""Ablation experiments: test the AlexNet tutorials' claims on your own machine.

An experiment is a base network + a training config + one switch (activation, LRN,
pooling overlap, dropout, augmentation, groups, BatchNorm) with two or more
settings.  Each setting gives a named *variant* of the spec (or of the config, for
augmentation) that differs from the base exactly in the switched layers/fields.
Every variant runs with the same seeds (same init where shapes allow, same data
order), 1–5 seeds each (3 by default), through the normal run store, so the Runs page
shows them too.

The verdict (``alexnet.verdicts``) compares the two best variants' final-epoch test
accuracy: over seeds with Welch's t interval, and with one seed per variant image by
image (McNemar), saying plainly that seed-to-seed variation is then not measured.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from . import verdicts as _verdicts
from .arithmetic import analyze
from .spec import ACTIVATIONS, NetSpec, spec_changes
from .verdicts import (  # noqa: F401 - results and verdicts live in alexnet.verdicts, re-exported here
    Comparison,
    VariantResult,
    collect,
    compare,
    format_table,
    results_table,
    run_result,
    table_notes,
)

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

def tutorial_claim(switch: str | None) -> tuple[str, str] | None:
    """(the tutorial's setting — a switch's first —, its claim), None for no known switch."""
    sw = SWITCHES.get(switch or "")
    return (sw.settings[0][0], sw.claim) if sw else None


def verdict_sentences(results: list[VariantResult], target_acc: float | None = None, switch: str | None = None):
    """``alexnet.verdicts.verdict_sentences`` with the claim of ``switch`` checked."""
    return _verdicts.verdict_sentences(results, target_acc, tutorial_claim(switch))


def verdict(results: list[VariantResult], target_acc: float | None = None, switch: str | None = None) -> str:
    """``alexnet.verdicts.verdict`` with the claim of ``switch`` checked."""
    return _verdicts.verdict(results, target_acc, tutorial_claim(switch))


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
    # seeds per variant: 3 lets the verdict use an interval over seeds (digits runs take
    # seconds each); with one seed it can only compare two single runs
    seeds: int = 3


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
