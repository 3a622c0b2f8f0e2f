"""``python -m alexnet experiment``: run an ablation headless and print its results table.

    python -m alexnet experiment --builtin relu-vs-tanh --dataset digits --epochs 4
    python -m alexnet experiment --switch pooling --preset alexnet-cifar-32 --dataset data.npz --seeds 2
    python -m alexnet experiment --list

Runs go into the normal run store (they appear on the Runs and Experiments pages).
The variants run one after another in this process, on one loaded copy of the data.
"""

from __future__ import annotations

import json
import sys

from .cli_common import add_config_flags, config_error_text, config_overrides, fail, load_spec
from .config import ConfigError, make_config

# the training options an experiment takes as flags (the rest come from the recipe)
CONFIG_FLAGS = ("dataset", "epochs", "batch_size", "lr", "train_subset", "device")


def add_parsers(sub) -> None:
    from .experiments import BUILTINS, SWITCHES

    sp = sub.add_parser("experiment", help="run an ablation (ReLU vs tanh, pooling overlap, LRN, …)")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--builtin", choices=list(BUILTINS), help="a built-in experiment")
    g.add_argument("--switch", choices=list(SWITCHES), help="the switch to vary")
    g.add_argument("--list", action="store_true", help="list built-in experiments and switches")
    sp.add_argument("--values", help="comma-separated settings of --switch (default: all)")
    sp.add_argument("--preset", help="base network (default: the built-in's, else alexnet-cifar-32)")
    sp.add_argument("--config", help="base network spec JSON file instead of a preset")
    sp.add_argument("--recipe", help="training recipe (default: the built-in's, else quick)")
    add_config_flags(sp, CONFIG_FLAGS)
    sp.add_argument("--seeds", type=int, help="seeds per variant, 1–5 (default: the built-in's, else 3); the "
                    "verdict uses an interval over seeds from 2, and with 1 only compares two single runs")
    sp.add_argument("--target", type=float, help="target test accuracy, 0–1, for 'epochs to reach'")
    sp.add_argument("--runs-dir")
    sp.add_argument("--json", action="store_true", help="print the results as JSON")
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=cmd_experiment)


def _parse_value(text: str):
    t = text.strip()
    if t.lower() in ("true", "on"):
        return True
    if t.lower() in ("false", "off"):
        return False
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _print_list() -> int:
    from .experiments import BUILTINS, SWITCHES

    for b in BUILTINS.values():
        print(f"{b.key:22s} switch={b.switch:12s} {b.preset} on {b.dataset}, {b.epochs} epochs — {b.note}")
    print()
    for s in SWITCHES.values():
        print(f"--switch {s.key:12s} settings: {', '.join(str(v) for _, v in s.settings)} — claim: {s.claim}")
    return 0


def cmd_experiment(args) -> int:
    from .data import DatasetError, load_dataset
    from .experiments import BUILTINS, make_variants

    if args.list:
        return _print_list()
    b = BUILTINS.get(args.builtin) if args.builtin else None
    switch = b.switch if b else args.switch
    if not switch:
        return fail("give --builtin NAME or --switch NAME (see --list)")
    values = [_parse_value(v) for v in args.values.split(",")] if args.values else (list(b.values) if b else None)
    if args.seeds is None:
        args.seeds = b.seeds if b else 3
    if not 1 <= args.seeds <= 5:
        return fail("--seeds must be between 1 and 5")
    spec = load_spec(args.preset or (b.preset if b else "alexnet-cifar-32") if not args.config else None,
                     args.config, None)
    overrides = {"dataset": b.dataset if b else "digits", **config_overrides(args, CONFIG_FLAGS)}
    if "epochs" not in overrides and b:
        overrides["epochs"] = b.epochs
    try:
        cfg = make_config(args.recipe or (b.recipe if b else "quick"), **overrides).to_dict()
        variants = make_variants(spec, cfg, switch, values)
        ds = load_dataset(cfg["dataset"])
    except ConfigError as e:
        return fail(config_error_text(e, overrides))
    except (DatasetError, ValueError) as e:
        return fail(str(e))
    target = args.target if args.target is not None else (b.target_acc if b else None)
    name = (b.key if b else f"{switch} on {spec.name}") + f" ({cfg['dataset']})"
    return _run_and_report(args, name, switch, spec, cfg, variants, ds, target)


def _run_and_report(args, name, switch, spec, cfg, variants, ds, target) -> int:
    """Create the experiment, train its runs one after another on ``ds``, print the results."""
    from .experiments import ExperimentStore, collect, format_table, results_table, table_notes, verdict_sentences
    from .runs import RunStore
    from .train import train

    store = RunStore(args.runs_dir)
    exps = ExperimentStore(store)
    exp_id = exps.create(name, switch, spec.to_dict(), cfg, variants, list(range(args.seeds)), target)
    # seed by seed, every variant back to back: their timings share the machine's load as far
    # as possible (the same order as the queue's)
    per_variant = [v["run_ids"] for v in exps.get(exp_id)["variants"]]
    for rids in zip(*per_variant):
        for rid in rids:
            run = store.get_run(rid)
            print(f"== {run['name']}", file=sys.stderr)
            train(run["spec"], run["config"], store=store, run_id=rid, progress=not args.no_progress, dataset=ds)
    results = collect(store, exps.get(exp_id), n_test=int(ds.y_test.shape[0]))
    rows = results_table(results)
    comparison, sentences = verdict_sentences(results, target, switch)
    if args.json:
        print(json.dumps({"experiment_id": exp_id, "name": name, "rows": rows, "verdict": " ".join(sentences),
                          "comparison": _comparison_json(comparison), "notes": table_notes(results)}, indent=2))
    else:
        print(f"experiment {exp_id}: {name}")
        print(format_table(rows))
        print("\n".join(table_notes(results)))
        print()
        print("\n".join(sentences))
    return 0


def _comparison_json(c) -> dict | None:
    """The tested comparison as numbers (accuracies as fractions; None when there is none)."""
    if c is None:
        return None
    return {"first": c.first.label, "second": c.second.label, "method": c.method, "winner": c.winner,
            "single_run": c.single_run, "seeds": [c.first.seeds, c.second.seeds], "difference": c.diff,
            "interval_95": [c.low, c.high] if c.low is not None else None, "p": c.p, "df": c.df,
            "per_seed": {c.first.label: c.first.finals, c.second.label: c.second.finals}}
