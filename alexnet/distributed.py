"""Training past one process: torchrun / DistributedDataParallel for the engine.

The engine (``alexnet.train``) runs unchanged as one process.  Started by ``torchrun``
(``torchrun --nproc_per_node N -m alexnet train …``, or ``python -m alexnet train
--nproc N``, which runs exactly that through ``torch.distributed.run``) each process
calls ``from_env()`` and gets a ``Dist``: its rank, the world size, its device
(``cuda:LOCAL_RANK`` with NCCL, or the CPU with gloo) and the collectives the engine
needs, all from ``torch.distributed``:

* ``shard``: this rank's contiguous share of every global batch, so that N ranks
  together see exactly the batches one process with the same seed would see
  (``--batch-size`` is the global batch; it must split evenly over the ranks);
* ``wrap``: the model in DistributedDataParallel (BatchNorm → SyncBatchNorm on CUDA);
* ``sum_``/``agree_stop``/``any_``: sums of losses and accuracies, and one stop
  decision for all ranks (a stop request read by rank 0, SIGTERM on any rank, the
  time budget) so every rank stops at the same step;
* ``evaluate``: the test set split over the ranks and the results summed;
* ``follower_store``: ranks other than 0 write nothing (one run row, each step
  logged once, one checkpoint).

Every collective has a timeout (``ALEXNET_DIST_TIMEOUT`` seconds, default 300): a rank
that dies makes the others fail with the reason instead of hanging.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

DEFAULT_TIMEOUT_S = 300.0
STOP_REASONS = ("stop requested", "stopped by SIGTERM")  # codes 1, 2 in agree_stop


def under_torchrun() -> bool:
    """Whether this process is one of several started by torchrun (WORLD_SIZE > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def env_rank() -> int:
    """This process's global rank from torchrun's environment (0 when not under torchrun)."""
    try:
        return int(os.environ.get("RANK", "0")) if under_torchrun() else 0
    except ValueError:
        return 0


def timeout_s() -> float:
    try:
        return max(1.0, float(os.environ.get("ALEXNET_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


@dataclass
class Dist:
    """One process's place in a (possibly one-process) training run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None  # 'nccl' or 'gloo' once the process group is up
    _closed: bool = field(default=False, repr=False)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- set-up ------------------------------------------------------------------
    def device_for(self, device):
        """The device this rank trains on: cuda:LOCAL_RANK when the run is on CUDA."""
        import torch

        if not self.enabled or device.type != "cuda":
            return device
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def start(self, device) -> None:
        """Join the process group (NCCL on CUDA, gloo otherwise), once."""
        import torch.distributed as dist

        if not self.enabled or dist.is_initialized():
            self.backend = dist.get_backend() if self.enabled else None
            return
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(self.backend, timeout=timedelta(seconds=timeout_s()), **kw)

    def close(self) -> None:
        import torch.distributed as dist

        if self.enabled and not self._closed and dist.is_initialized():
            self._closed = True
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - a broken group is being left anyway
                pass

    def wrap(self, model):
        """``model`` for training: itself in one process; under torchrun in DDP (with
        SyncBatchNorm on CUDA, where per-GPU batches are small)."""
        if not self.enabled:
            return model
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        dev = next(model.parameters()).device
        if dev.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DDP(model, device_ids=[dev.index], output_device=dev.index)
        return DDP(model)

    def label(self) -> str:
        """' × N processes (gloo)' under torchrun, '' in one process: added to the run's device."""
        return f" × {self.world} processes ({self.backend})" if self.enabled else ""

    def check_batch(self, batch: int) -> str | None:
        """Why the global batch cannot be split over the ranks (None when it can)."""
        if batch % self.world:
            return (f"the global batch size {batch} does not split evenly over {self.world} processes; "
                    f"use a multiple of {self.world} (e.g. {max(1, batch // self.world) * self.world})")
        return None

    # ---- data ----------------------------------------------------------------------
    def shard(self, idx):
        """This rank's contiguous share of a global batch of indices (all shares equal)."""
        if not self.enabled:
            return idx
        n = len(idx) // self.world
        return idx[self.rank * n:(self.rank + 1) * n]

    def bounds(self, n: int) -> tuple[int, int]:
        """This rank's [lo, hi) of ``n`` items split as evenly as possible (evaluation)."""
        lo = n * self.rank // self.world
        return lo, n * (self.rank + 1) // self.world

    # ---- collectives -----------------------------------------------------------------
    def sum_(self, *values: float) -> list[float]:
        """The sums over all ranks of a few numbers (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return t.tolist()

    def any_(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any."""
        return bool(self.sum_(1.0 if flag else 0.0)[0] > 0) if self.enabled else bool(flag)

    def agree_stop(self, reason: str | None, time_up: bool) -> tuple[str | None, bool]:
        """One stop decision for all ranks: (the stop reason, the time budget is used up).
        A stop request or SIGTERM seen on any rank stops them all at this step."""
        if not self.enabled:
            return reason, time_up
        code = STOP_REASONS.index(reason) + 1 if reason in STOP_REASONS else (3 if reason else 0)
        got = self.sum_(*(1.0 if code == c else 0.0 for c in (1, 2, 3)), 1.0 if time_up else 0.0)
        for c, n in zip((1, 2, 3), got[:3]):
            if n > 0:
                reason = reason or (STOP_REASONS[c - 1] if c < 3 else "stopped")
        return reason, got[3] > 0

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object, e.g. the run id)."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0, device=self._comm_device())
        return box[0]

    def evaluate(self, evaluate_fn, x, y) -> tuple[float, float, list]:
        """``evaluate_fn(x, y, hits)`` → (mean loss, accuracy) over the whole test set,
        each rank testing its share; ``hits`` (per image right/wrong) gathered in order."""
        hits: list = []
        if not self.enabled:
            loss, acc = evaluate_fn(x, y, hits)
            return loss, acc, hits
        lo, hi = self.bounds(len(y))
        mine = x.part(slice(lo, hi)) if hasattr(x, "part") else x[lo:hi]  # streamed images stay on disk
        loss, acc = evaluate_fn(mine, y[lo:hi], hits)
        n = hi - lo
        loss_sum, right, total = self.sum_(loss * n, acc * n, n)
        total = max(1.0, total)
        return loss_sum / total, round(right) / total, [self._gather_hits(hits, len(y))]

    def _gather_hits(self, hits: list, n_total: int):
        import torch
        import torch.distributed as dist

        mine = torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)
        width = -(-n_total // self.world)  # the longest share
        padded = torch.zeros(width, dtype=torch.uint8)
        padded[:len(mine)] = mine.to(torch.uint8)
        dev = self._comm_device()
        parts = [torch.zeros(width, dtype=torch.uint8, device=dev) for _ in range(self.world)]
        dist.all_gather(parts, padded.to(dev))
        return torch.cat([p[:_share_len(n_total, r, self.world)] for r, p in enumerate(parts)]).bool().cpu()

    def _comm_device(self):
        import torch

        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")

    # ---- the run store ---------------------------------------------------------------
    def follower_store(self, store):
        """The store for this rank: the real one on rank 0, a silent one elsewhere."""
        return store if self.is_main else FollowerStore(store)

    def explain(self, error: str) -> str:
        """A collective's error in a distributed run, said as what it means for the user."""
        if not self.enabled:
            return error
        low = error.lower()
        if any(s in low for s in ("connection closed", "connection reset", "broken pipe", "timed out",
                                  "timeout", "nccl", "gloo", "process group")):
            return f"another process of the {self.world}-process run died or stopped answering ({error})"
        return error


def _share_len(n: int, rank: int, world: int) -> int:
    return n * (rank + 1) // world - n * rank // world


class FollowerStore:
    """What ranks other than 0 write to: nothing.  Reads that steer the run (is it
    deleted? was a stop asked for?) answer 'no': rank 0 reads them and tells the others."""

    def __init__(self, store):
        self.real = store
        self.root = getattr(store, "root", None)

    def __getattr__(self, name):  # every writer the engine calls is a no-op
        return lambda *a, **k: None

    def get_run(self, run_id):  # 'queued': the state in which rank 0 starts it
        return {"id": run_id, "status": "queued"}

    def stop_requested(self, run_id) -> bool:
        return False


def join(device_name: str | None) -> Dist:
    """This process's Dist, its process group started when under torchrun (the device
    decides the backend; a device name that is no good here is left for the run to report)."""
    d = from_env()
    if d.enabled:
        import torch

        from .config import ConfigError
        from .devices import resolve_device

        try:
            dev = resolve_device(device_name)
        except ConfigError:
            dev = torch.device("cpu")
        d.start(d.device_for(dev))
    return d


def from_env() -> Dist:
    """This process's Dist from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK);
    one process when they are not set.  The process group starts with ``Dist.start``."""
    if not under_torchrun():
        return Dist()
    return Dist(rank=int(os.environ["RANK"]), world=int(os.environ["WORLD_SIZE"]),
                local_rank=int(os.environ.get("LOCAL_RANK", "0")))


# ---- the launcher: python -m alexnet train --nproc N ---------------------------------------
def torchrun_args(nproc: int, nnodes: str | None, rdzv_endpoint: str | None, train_args: list[str]) -> list[str]:
    """torchrun's command line for ``python -m alexnet train`` with ``train_args``."""
    args = ["--nproc-per-node", str(nproc), "--max-restarts", "0", "--monitor-interval", "0.5",
            "--local-ranks-filter", "0"]
    if nnodes and nnodes != "1":
        if not rdzv_endpoint:
            raise ValueError("--nnodes needs --rdzv-endpoint HOST:PORT (the first machine's address)")
        args += ["--nnodes", nnodes, "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint]
    else:
        args.append("--standalone")
    return args + ["-m", "alexnet", "train", *train_args]


def launch(nproc: int, nnodes: str | None, rdzv_endpoint: str | None, train_args: list[str]) -> tuple[int, str | None]:
    """Run ``train_args`` as ``nproc`` processes per machine through torch.distributed.run.
    Returns (exit code, why it failed or None)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // max(1, nproc))))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        run(get_args_parser().parse_args(torchrun_args(nproc, nnodes, rdzv_endpoint, train_args)))
        return 0, None
    except ChildFailedError as e:
        return 1, failure_text(e)
    except SignalException as e:  # SIGTERM/SIGINT to the launcher: torchrun passed it on to every rank
        return 128 + int(e.sigval), f"the launcher was stopped by {e.sigval.name}"


def failure_text(e) -> str:
    """Which rank failed first and how, from torchrun's ChildFailedError."""
    import signal

    rank, failure = e.get_first_failure()
    rc = failure.exitcode
    if rc is not None and rc < 0:
        try:
            how = f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            how = f"was killed by signal {-rc}"
    else:
        how = f"exited with code {rc}"
    msg = failure.message if isinstance(failure.message, str) else ""
    extra = f": {msg.strip().splitlines()[-1]}" if msg and msg.strip() and "Signal" not in msg else ""
    return f"process rank {rank} {how}{extra}"


def main_print(*args, **kw) -> None:
    """print() on rank 0 only."""
    if env_rank() == 0:
        print(*args, **kw)
        (kw.get("file") or sys.stdout).flush()
