"""TensorBoard event files of training runs (torch.utils.tensorboard.SummaryWriter).

``python -m alexnet runs --export-tensorboard DIR [RUN…]`` writes stored runs;
``python -m alexnet train --tensorboard DIR`` writes one run live, as it trains
(``LiveStore``: the run store that also writes every row it stores to TensorBoard,
so the training engine needs no change).  Then ``tensorboard --logdir DIR``.

One folder per run, ``DIR/<run id>``, holding:

- per step: ``train/loss``, ``train/lr``, ``train/images_per_sec`` (wall time = when the
  step was logged);
- per epoch: ``epoch/train_loss``, ``epoch/train_acc``, ``epoch/test_loss``,
  ``epoch/test_acc``, ``epoch/seconds``, ``epoch/epoch``, at the step the epoch ended (so
  they line up with the step curves);
- HPARAMS: the training settings and network (name, input, parameters) as one session per
  run, with ``hparam/final_test_acc`` and ``hparam/best_test_acc`` as its metrics;
- TEXT: ``network/summary`` (the per-layer table as Markdown) and ``network/spec`` (JSON).

Exporting again into the same DIR replaces that run's event files (no doubled curves).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from .arithmetic import analyze
from .runs import RunStore, RunStoreError
from .spec import SpecError, as_spec
from .textfmt import human_bytes, shape_text

STEP_TAGS = {"loss": "train/loss", "lr": "train/lr", "images_per_sec": "train/images_per_sec"}
EPOCH_TAGS = {"train_loss": "epoch/train_loss", "train_acc": "epoch/train_acc", "test_loss": "epoch/test_loss",
              "test_acc": "epoch/test_acc", "epoch_seconds": "epoch/seconds", "epoch": "epoch/epoch"}
FINAL_ACC, BEST_ACC = "hparam/final_test_acc", "hparam/best_test_acc"


def open_writer(logdir: str | os.PathLike, run_id: str, fresh: bool = True):
    """A SummaryWriter for ``logdir/<run id>``; ``fresh`` removes that folder's old event files."""
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(logdir) / RunStore._check_id(run_id)
    if folder.exists() and not folder.is_dir():
        raise RunStoreError(f"{folder} is a file, not a folder; choose another TensorBoard folder")
    if fresh and folder.is_dir():
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
    return SummaryWriter(log_dir=str(folder))


# ---- what goes in ---------------------------------------------------------------------------
def write_steps(writer, rows: list[dict]) -> None:
    for r in rows:
        for key, tag in STEP_TAGS.items():
            if r.get(key) is not None:
                writer.add_scalar(tag, float(r[key]), int(r["step"]), walltime=r.get("time"))


def write_epoch(writer, row: dict, step: int) -> None:
    for key, tag in EPOCH_TAGS.items():
        if row.get(key) is not None:
            writer.add_scalar(tag, float(row[key]), step, walltime=row.get("time"))


def summary_markdown(spec_dict: dict) -> str:
    """The per-layer table (shapes, parameters, mult-adds) as Markdown, with the totals."""
    try:
        summary = analyze(as_spec(spec_dict))
    except SpecError as e:
        return f"The network cannot be summarised: {e}"
    lines = [f"**{summary.name}**: input {shape_text(summary.input_shape)}", "",
             "| # | layer | type | output | params | mult-adds |", "|---|---|---|---|---:|---:|"]
    for x in summary.layers:
        out = shape_text(x.out_shape) if x.out_shape else x.status
        lines.append(f"| {x.index} | {x.name} | {x.type} | {out} | {x.params or 0:,} | {x.macs or 0:,} |")
    lines += ["", f"Total params: {summary.total_params:,} ({human_bytes(summary.param_bytes)} in fp32); "
              f"mult-adds per image: {summary.total_macs:,}; activations per image: "
              f"{human_bytes(summary.activation_bytes)}"]
    return "\n".join(lines)


def write_network(writer, spec_dict: dict) -> None:
    writer.add_text("network/summary", summary_markdown(spec_dict), 0)
    writer.add_text("network/spec", "```\n" + json.dumps(spec_dict, indent=2) + "\n```", 0)


def hparam_values(run: dict) -> dict:
    """The run's training settings and its network, as values TensorBoard's HPARAMS view
    takes (numbers, strings, booleans)."""
    out: dict = {"run": run["name"]}
    spec = run.get("spec") or {}
    out["network"] = str(spec.get("name", "?"))
    inp = spec.get("input") or {}
    out["input"] = "×".join(str(inp.get(k, "?")) for k in ("channels", "height", "width"))
    try:
        out["params"] = analyze(as_spec(spec)).total_params
    except SpecError:
        pass
    for k, v in sorted((run.get("config") or {}).items()):
        out[k] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
    return out


def write_hparams(writer, run: dict, step: int) -> None:
    """One HPARAMS session for this run's folder, with its final and best test accuracy."""
    from torch.utils.tensorboard.summary import hparams

    metrics = {FINAL_ACC: run.get("last_test_acc"), BEST_ACC: run.get("best_test_acc")}
    metrics = {k: float(v) for k, v in metrics.items() if v is not None}
    exp, ssi, sei = hparams(hparam_values(run), metrics or {FINAL_ACC: float("nan")})
    for s in (exp, ssi, sei):
        writer.file_writer.add_summary(s, step)
    for k, v in metrics.items():
        writer.add_scalar(k, v, step)


# ---- stored runs ----------------------------------------------------------------------------
def epoch_steps(steps: list[dict], epochs: list[dict]) -> list[int]:
    """The training step at which each epoch row ended (the last step logged in it)."""
    out, i, last = [], 0, 0
    for e in epochs:
        while i < len(steps) and (steps[i]["epoch"] or 0) <= float(e["epoch"]) + 1e-6:
            last = int(steps[i]["step"])
            i += 1
        out.append(last if steps else int(round(float(e["epoch"]))))
    return out


def export_run(store: RunStore, run: dict, logdir: str | os.PathLike) -> Path:
    """One stored run into ``logdir/<run id>``: steps, epochs, network, hyper-parameters."""
    steps, epochs = store.step_metrics(run["id"]), store.epoch_metrics(run["id"])
    writer = open_writer(logdir, run["id"])
    try:
        write_network(writer, run.get("spec") or {})
        write_steps(writer, steps)
        for row, step in zip(epochs, epoch_steps(steps, epochs)):
            write_epoch(writer, row, step)
        write_hparams(writer, run, int(steps[-1]["step"]) if steps else 0)
    finally:
        writer.close()
    return Path(writer.log_dir)


def export_runs(store: RunStore, run_ids: list[str] | None, logdir: str | os.PathLike) -> list[Path]:
    """The named runs (all when none is named) into ``logdir``; RunStoreError for an unknown id."""
    runs = [store.get_run(RunStore._check_id(r)) for r in run_ids] if run_ids else store.list_runs()
    missing = [r for r, run in zip(run_ids or [], runs) if run is None]
    if missing:
        raise RunStoreError(f"no run {missing[0]!r} in {store.root}")
    Path(logdir).mkdir(parents=True, exist_ok=True)
    return [export_run(store, run, logdir) for run in runs]


# ---- live, while training ---------------------------------------------------------------------
class LiveStore(RunStore):
    """A run store that also writes what it stores to TensorBoard as it happens: the step
    and epoch rows, the network when the run starts, the hyper-parameters when it ends."""

    def __init__(self, root, logdir: str | os.PathLike):
        super().__init__(root)
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, object] = {}
        self._last_step: dict[str, int] = {}

    def _writer(self, run_id: str):
        if run_id not in self._writers:
            self._writers[run_id] = open_writer(self.logdir, run_id)
            self._last_step[run_id] = 0
        return self._writers[run_id]

    def mark_running(self, run_id: str, device: str, pid: int | None = None) -> None:
        super().mark_running(run_id, device, pid)
        run = self.get_run(run_id)
        write_network(self._writer(run_id), (run or {}).get("spec") or {})

    def log_steps(self, run_id: str, rows: list[dict]) -> None:
        super().log_steps(run_id, rows)
        if rows:
            write_steps(self._writer(run_id), rows)
            self._last_step[run_id] = int(rows[-1]["step"])
            self._writer(run_id).flush()

    def log_epoch(self, run_id: str, row: dict) -> None:
        super().log_epoch(run_id, row)
        write_epoch(self._writer(run_id), row, self._last_step.get(run_id, 0))
        self._writer(run_id).flush()

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        super().set_status(run_id, status, error)
        run = self.get_run(run_id)
        if status in ("completed", "failed", "stopped", "interrupted") and run is not None:
            writer = self._writer(run_id)
            write_hparams(writer, run, self._last_step.get(run_id, 0))
            writer.close()
            self._writers.pop(run_id, None)


def cmd_export(store: RunStore, run_ids: list[str], logdir: str) -> int:
    """``runs --export-tensorboard DIR [RUN…]``: one line per run written, then how to look."""
    folders = export_runs(store, run_ids, logdir)
    for f in folders:
        print(f)
    print(f"wrote {len(folders)} run(s); view them with: tensorboard --logdir {logdir}")
    return 0


def export_zip(store: RunStore, run_ids: list[str] | None) -> bytes:
    """The event folders of the named runs (all when none is named) as one zip file: the
    Runs page's download.  Unzip it and run ``tensorboard --logdir`` on the folder."""
    import tempfile
    import zipfile

    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="alexnet-tb-") as tmp:
        folders = export_runs(store, run_ids, tmp)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for folder in folders:
                for f in sorted(folder.iterdir()):
                    z.write(f, f"tensorboard/{folder.name}/{f.name}")
    return buf.getvalue()
