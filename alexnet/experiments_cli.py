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
    sp.add_argument("--dataset", help="digits, mnist, fashion-mnist, cifar10, a folder or an .npz")
    sp.add_argument("--recipe", help="training recipe (default: the built-in's, else quick)")
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--train-subset", type=int)
    sp.add_argument("--device", help="auto, cpu, cuda")
    sp.add_argument("--seeds", type=int, default=1, help="seeds per variant (1–3)")
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


def cmd_experiment(args) -> int:
    from .cli import load_spec
    from .data import DatasetError, load_dataset
    from .experiments import (
        BUILTINS,
        SWITCHES,
        ExperimentStore,
        collect,
        format_table,
        make_variants,
        results_table,
        verdict,
    )
    from .runs import RunStore
    from .train import ConfigError, make_config, train

    if args.list:
        for b in BUILTINS.values():
            print(f"{b.key:22s} switch={b.switch:12s} {b.preset} on {b.dataset}, {b.epochs} epochs — {b.note}")
        print()
        for s in SWITCHES.values():
            print(f"--switch {s.key:12s} settings: {', '.join(str(v) for _, v in s.settings)} — claim: {s.claim}")
        return 0
    b = BUILTINS.get(args.builtin) if args.builtin else None
    switch = b.switch if b else args.switch
    if not switch:
        print("error: give --builtin NAME or --switch NAME (see --list)", file=sys.stderr)
        return 2
    values = [_parse_value(v) for v in args.values.split(",")] if args.values else (list(b.values) if b else None)
    if not 1 <= args.seeds <= 5:
        print("error: --seeds must be between 1 and 5", file=sys.stderr)
        return 2
    spec = load_spec(args.preset or (b.preset if b else "alexnet-cifar-32") if not args.config else None,
                     args.config, None)
    dataset = args.dataset or (b.dataset if b else "digits")
    overrides = {"dataset": dataset}
    for k in ("epochs", "batch_size", "lr", "train_subset", "device"):
        if getattr(args, k) is not None:
            overrides[k] = getattr(args, k)
    if "epochs" not in overrides and b:
        overrides["epochs"] = b.epochs
    try:
        cfg = make_config(args.recipe or (b.recipe if b else "quick"), **overrides).to_dict()
        variants = make_variants(spec, cfg, switch, values)
        ds = load_dataset(dataset)
    except (ConfigError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    target = args.target if args.target is not None else (b.target_acc if b else None)
    store = RunStore(args.runs_dir)
    exps = ExperimentStore(store)
    name = (b.key if b else f"{switch} on {spec.name}") + f" ({dataset})"
    exp_id = exps.create(name, switch, spec.to_dict(), cfg, variants, list(range(args.seeds)), target)
    exp = exps.get(exp_id)
    for v in exp["variants"]:
        for rid in v["run_ids"]:
            run = store.get_run(rid)
            print(f"== {run['name']}", file=sys.stderr)
            train(run["spec"], run["config"], store=store, run_id=rid, progress=not args.no_progress, dataset=ds)
    results = collect(store, exp, n_test=int(ds.y_test.shape[0]))
    rows = results_table(results)
    text = verdict(results, target)
    if args.json:
        print(json.dumps({"experiment_id": exp_id, "name": name, "rows": rows, "verdict": text}, indent=2))
    else:
        print(f"experiment {exp_id}: {name}")
        print(format_table(rows))
        print(text)
    return 0
