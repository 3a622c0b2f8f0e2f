"""``python -m alexnet train`` and ``python -m alexnet runs``.

train: a tqdm progress bar on stderr; the last line of stdout is one JSON object
{"run_id", "status", "epochs", "test_acc", "train_loss", "images_per_sec", "seconds",
"device"} (plus "error" when the run did not complete).  Exit code 0 when the run
completed or was stopped, 1 when it failed, 2 for invalid options.

With ``--run-id ID`` it trains a run that already exists in the store (status
'queued') with the spec and config stored there: this is how the web UI launches
jobs.  With no options at all it trains ``alexnet-cifar-32`` with the ``quick``
recipe on the embedded ``digits`` dataset.
"""

from __future__ import annotations

import json
import sys

from .arithmetic import analyze
from .budget import budget_problem
from .cli_common import InputError, add_config_flags, config_error_text, config_overrides, fail, load_spec, read_json
from .config import RECIPES, ConfigError, TrainConfig, make_config
from .distributed import env_rank, under_torchrun

DEFAULT_PRESET = "alexnet-cifar-32"
DEFAULT_RECIPE = "quick"
RUNS_DIR_HELP = "run store folder (default $ALEXNET_RUNS_DIR or ./runs)"


def add_parsers(sub) -> None:
    sp = sub.add_parser("train", help="train a network (default: alexnet-cifar-32 on digits)",
                        description="Train a network; metrics and checkpoints go to the run store.")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--preset", help=f"a preset network (default {DEFAULT_PRESET})")
    g.add_argument("--config", help="a network spec JSON file")
    sp.add_argument("--input", help="override the network's input size, e.g. 3x32x32")
    sp.add_argument("--recipe", choices=list(RECIPES), help=f"training recipe (default {DEFAULT_RECIPE})")
    sp.add_argument("--train-config", help="a training config JSON file (fields of TrainConfig)")
    add_config_flags(sp)  # --dataset, --epochs, --lr, … one per TrainConfig field
    sp.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    sp.add_argument("--run-id", help="train this existing queued run with its stored spec and config")
    sp.add_argument("--name", help="a name for the new run")
    sp.add_argument("--experiment-id", help="group the run into an experiment")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.add_argument("--no-budget", action="store_true", help="train a network over the memory budget (1 GiB of "
                    "weights, 256 MiB of activations per image: the Architecture page's limits)")
    sp.add_argument("--list-recipes", action="store_true", help="print the recipes as JSON and exit")
    sp.add_argument("--tensorboard", metavar="DIR", help="also write the run live as TensorBoard event files "
                    "into DIR/<run id> (then: tensorboard --logdir DIR)")
    sp.add_argument("--nproc", type=int, default=1, help="train with N processes on this machine (one per GPU, "
                    "or CPU workers with gloo), launched through torchrun; --batch-size stays the global batch")
    sp.add_argument("--nnodes", help="with --nproc: the number of machines (run the same command on each)")
    sp.add_argument("--rdzv-endpoint", help="with --nnodes: HOST:PORT of the first machine, where they meet")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("runs", help="list training runs")
    sp.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    sp.add_argument("--json", action="store_true", help="print the runs as JSON (without spec/config)")
    sp.add_argument("--full", action="store_true", help="with --json: include spec and config")
    sp.add_argument("--export-tensorboard", metavar="DIR", help="write the runs' step and epoch metrics, "
                    "hyper-parameters and network summary as TensorBoard event files into DIR/<run id>")
    sp.add_argument("run_ids", nargs="*", metavar="RUN", help="with --export-tensorboard: the runs to write (default all)")
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("datasets", help="list the built-in datasets (sizes, classes, whether on this machine)")
    sp.add_argument("--data-dir", help="the data folder (default $ALEXNET_DATA_DIR or ./data)")
    sp.set_defaults(func=cmd_datasets)


def cmd_train(args) -> int:
    """Other bad input (spec, dataset, run store, files) is reported by ``cli.main``."""
    from .runs import RunStore

    if args.list_recipes:
        print(json.dumps(RECIPES, indent=2))
        return 0
    if args.tensorboard:
        from .tensorboard import LiveStore

        store = LiveStore(args.runs_dir, args.tensorboard)
    else:
        store = RunStore(args.runs_dir)
    overrides = config_overrides(args)
    try:
        if (args.nproc > 1 or args.nnodes) and not under_torchrun():
            return _launch(args, store, overrides)
        if args.run_id:
            return _train_stored_run(args, store, overrides)
        result = _train_new_run(args, store, overrides)
    except ConfigError as e:
        return fail(config_error_text(e, overrides))
    return _report(result)


def _train_new_run(args, store, overrides: dict) -> dict:
    from .train import train

    spec, cfg = _new_run_inputs(args, overrides)
    return train(spec, cfg, store=store, progress=not args.no_progress, name=args.name,
                 experiment_id=args.experiment_id)


def _new_run_inputs(args, overrides: dict):
    """(spec, config) of a new run from the command line (InputError, ConfigError)."""
    spec = load_spec(args.preset or (None if args.config else DEFAULT_PRESET), args.config, args.input)
    problem = None if args.no_budget else budget_problem(analyze(spec).to_dict())
    if problem:
        raise InputError(f"the network '{spec.name}' {problem} To train it anyway: --no-budget")
    if args.train_config:
        base = TrainConfig.from_dict(read_json(args.train_config, "--train-config")).to_dict()
        base.update(overrides)
        cfg = TrainConfig.from_dict(base)
    else:
        cfg = make_config(args.recipe or DEFAULT_RECIPE, **overrides)
    return spec, cfg


def _train_stored_run(args, store, overrides: dict) -> int:
    """--run-id: the stored spec and config of a queued run (the web UI's launch); only
    --device may be given with it."""
    from .train import train

    extra = [k for k in ("preset", "config", "input", "recipe", "train_config", "name") if getattr(args, k)]
    extra += [k for k in overrides if k != "device"]
    if extra:
        return fail(f"--run-id trains the stored spec and config; drop {', '.join('--' + k.replace('_', '-') for k in extra)}")
    run = store.get_run(args.run_id)
    if run is None:
        return fail(f"no run {args.run_id!r} in {store.root}")
    if run["status"] != "queued" and env_rank() == 0:  # other ranks read it after rank 0 started it
        return fail(f"run {args.run_id} is {run['status']}, not queued; only a queued run can be started")
    try:
        cfg = TrainConfig.from_dict(run["config"] or {})
        if "device" in overrides:
            cfg = cfg.replace(device=overrides["device"])
    except ConfigError:  # recorded as a failed run by train()
        cfg = run["config"]
    return _report(train(run["spec"], cfg, store=store, run_id=args.run_id, progress=not args.no_progress))


def _launch(args, store, overrides: dict) -> int:
    """--nproc N (--nnodes M --rdzv-endpoint H:P): this command as N processes per machine
    through torch.distributed.run.  On one machine the run is created here first, so that
    a process that dies still ends it 'failed' with the reason."""
    from .distributed import launch
    from .train import _run_name

    if args.nproc < 1:
        return fail("--nproc must be at least 1")
    passed = _without_launch_flags(args.argv[1:])
    run_id = args.run_id
    if run_id is None and args.nnodes in (None, "1"):
        spec, cfg = _new_run_inputs(args, overrides)
        if cfg.batch_size % args.nproc:
            return fail(f"--batch-size {cfg.batch_size} is the global batch and must split evenly over "
                        f"--nproc {args.nproc} processes; use a multiple of {args.nproc}")
        spec_dict = spec.to_dict()
        run_id = store.create_run(args.name or _run_name(spec_dict, cfg, None), spec_dict, cfg.to_dict(),
                                  experiment_id=args.experiment_id)
        passed = ["--run-id", run_id, "--runs-dir", str(store.root)] + (["--no-progress"] if args.no_progress else [])
        passed += ["--device", overrides["device"]] if "device" in overrides else []
        passed += ["--tensorboard", args.tensorboard] if args.tensorboard else []  # rank 0 writes it
    rc, why = launch(args.nproc, args.nnodes, args.rdzv_endpoint, passed)
    if rc == 0 or run_id is None:
        return rc
    return _report(_mark_failed(store, run_id, why))


def _without_launch_flags(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--nproc", "--nnodes", "--rdzv-endpoint"):
            skip = True
        elif not a.startswith(("--nproc=", "--nnodes=", "--rdzv-endpoint=")):
            out.append(a)
    return out


def _mark_failed(store, run_id: str, why: str | None) -> dict:
    """After a failed launch: the run ends 'failed' with which process failed (and what
    rank 0 recorded, if it did), unless it completed or was stopped."""
    run = store.get_run(run_id) or {"status": "failed", "error": None}
    if run["status"] not in ("completed", "stopped"):
        error = "; ".join(e for e in (why, run.get("error")) if e) or "a training process failed"
        store.set_status(run_id, "failed", error)
        run = dict(run, status="failed", error=error)
    return {"run_id": run_id, "status": run["status"], "error": run.get("error")}


def _report(result: dict) -> int:
    """The result as the last line of stdout (rank 0 only under torchrun); 0 when
    completed or stopped, else 1."""
    if env_rank() != 0:
        return 0 if result.get("status") in ("completed", "stopped") else 1
    if result.get("error"):
        print(f"{result['status']}: {result['error']}", file=sys.stderr)
    print(json.dumps(result))
    sys.stdout.flush()
    return 0 if result["status"] in ("completed", "stopped") else 1


def cmd_runs(args) -> int:
    from .runs import RunStore

    store = RunStore(args.runs_dir)
    runs = store.list_runs()
    note = store.orphans_note()
    if note:
        print(f"warning: {note}", file=sys.stderr)
    if args.export_tensorboard:
        from .tensorboard import cmd_export

        return cmd_export(store, args.run_ids, args.export_tensorboard)
    if args.run_ids:
        return fail(f"run ids ({' '.join(args.run_ids)}) go with --export-tensorboard DIR")
    if args.json:
        if not args.full:
            runs = [{k: v for k, v in r.items() if k not in ("spec", "config")} for r in runs]
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"no runs in {store.root}")
        return 0
    import time

    rows = [("id", "name", "status", "epochs", "best acc", "device", "created")]
    for r in runs:
        acc = f"{r['best_test_acc']:.4f}" if r["best_test_acc"] is not None else "—"
        rows.append((r["id"], r["name"][:40], r["status"], str(r["epochs_done"]), acc, (r["device"] or "—")[:24],
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def cmd_datasets(args) -> int:
    """One line per built-in dataset: name, image shape, classes, train/test sizes, where they come from."""
    from .data import DATASETS, dataset_info
    from .textfmt import shape_text

    for name, d in DATASETS.items():
        info = dataset_info(name, args.data_dir)
        here = "on this machine" if info.on_disk else f"not here ({d.download_mb} MB download)"
        print(f"{name:<14} {shape_text(d.image_shape):<8} {d.num_classes:>3} classes  "
              f"{info.train_size:>6,} train / {info.test_size:>6,} test  {here} — {d.description}")
    return 0
