"""Background training jobs: a process-wide registry and a scheduler over the run store.

The run store (``alexnet.runs.RunStore``, SQLite) is the source of truth.  A job is a
run row; launching one means ``create_run`` (status ``queued``) and, when its device
is free, spawning ``python -m alexnet train --run-id ID --runs-dir DIR`` — a fresh
process (spawn semantics: CUDA cannot fork), so a crash in training can never take
the Streamlit server down, and the server never waits on training.

Because everything lives in the store, a page that is rerun, switched away from,
refreshed, closed and reopened, or served by a restarted server finds every job
again: it only reads the store.  The ``JobManager`` adds what the store cannot know:

* the child processes this server started (``Popen`` handles, to reap them and to
  explain a death the child could not record itself — a crash on import, SIGKILL);
* a scheduler: one job per device at a time by default, queued runs started in the
  order they were created.  Only one scheduler per runs folder launches at a time
  (an ``flock`` on ``<runs>/.scheduler.lock``), so two servers, or two copies of
  this module after Streamlit reloaded it, never start the same run twice.

Nothing here calls ``st.*``; the scheduler is a daemon thread that polls twice a
second while there is work and exits when there is none.  Pages keep the manager in
``st.cache_resource`` (``get_manager`` is also a plain process-wide registry, so
tests and scripts use it without Streamlit).

The second half of the file estimates a run before it is launched: seconds per
epoch from the multiply-adds and a measured CPU rate (or from a few timed training
steps), and training memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACTIVE = ("queued", "running")
TERMINAL = ("completed", "failed", "stopped", "interrupted")
POLL_SECONDS = 0.5  # scheduler tick while there is work
IDLE_EXIT_SECONDS = 5.0  # the scheduler thread ends after this long with nothing to do


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """The runs folder: ``root``, else $ALEXNET_RUNS_DIR, else ./runs (as RunStore)."""
    return Path(root or os.environ.get("ALEXNET_RUNS_DIR") or "runs").resolve()


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_DEVICE_CACHE: dict[str, str] = {}


def resolve_device(name: str | None) -> str:
    """'auto' → cuda:0 > mps > cpu; 'cuda' → 'cuda:0'.  The scheduler's device key."""
    name = (name or "auto").strip().lower()
    if name in _DEVICE_CACHE:
        return _DEVICE_CACHE[name]
    out = name
    if name == "auto":
        import torch

        if torch.cuda.is_available():
            out = "cuda:0"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            out = "mps"
        else:
            out = "cpu"
    elif name == "cuda":
        out = "cuda:0"
    _DEVICE_CACHE[name] = out
    return out


def available_devices() -> list[str]:
    """Devices a run can be sent to on this machine, 'auto' first."""
    out = ["auto", "cpu"]
    try:
        import torch

        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            out.append("mps")
    except Exception:  # torch missing or broken: CPU is still a device
        pass
    return out


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except (ValueError, AttributeError):
        return f"signal {-rc}"


def log_tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.replace("\r", "\n")


def explain_exit(rc: int, tail: str) -> str:
    """Plain words for a training process that died without recording why."""
    lines = [x.strip() for x in tail.splitlines() if x.strip()]
    reason = ""
    for x in reversed(lines):  # the last 'SomeError: message' or 'error: message' line
        head = x.split(":", 1)[0]
        if ":" in x and (head.endswith("Error") or head.endswith("Exception") or head == "error"):
            reason = x
            break
    if not reason and lines:
        reason = lines[-1]
    if rc < 0:
        msg = f"the training process was killed by {_signal_name(rc)}"
    elif rc == 137:
        msg = "the training process was killed (exit 137: out of memory or SIGKILL)"
    else:
        msg = f"the training process exited with code {rc} before finishing"
    return f"{msg}: {reason[:500]}" if reason else msg


# ---- the job manager -----------------------------------------------------------------
@dataclass
class Job:
    """A training process this server started."""

    run_id: str
    device: str
    popen: Any  # subprocess.Popen or a test double with poll()/send_signal()/pid
    log: Path
    started: float = field(default_factory=time.time)


def default_launcher(run_id: str, root: Path, log: Path) -> subprocess.Popen:
    """Spawn the engine on one queued run: a fresh interpreter, output to a log file."""
    cmd = [sys.executable, "-m", "alexnet", "train", "--run-id", str(run_id), "--runs-dir", str(root)]
    env = dict(os.environ, ALEXNET_RUNS_DIR=str(root), PYTHONUNBUFFERED="1", TQDM_MININTERVAL="2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True)


def _default_store_factory(root: Path):
    from alexnet.runs import RunStore

    return RunStore(root)


class JobManager:
    """Launches queued runs, one per device at a time, and watches the processes.

    ``launcher(run_id, root, log) -> Popen`` and ``store_factory(root) -> RunStore``
    are replaceable for tests.  Every public method is safe to call from any thread.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, per_device: int = 1,
                 launcher: Callable | None = None, store_factory: Callable | None = None,
                 poll_seconds: float = POLL_SECONDS, idle_exit_seconds: float = IDLE_EXIT_SECONDS):
        self.root = runs_root(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.per_device = per_device
        self.launcher = launcher or default_launcher
        self.store_factory = store_factory or _default_store_factory
        self.poll_seconds = poll_seconds
        self.idle_exit_seconds = idle_exit_seconds
        self.jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._store = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._lockfile = None  # open file holding the scheduler flock, or None
        self.last_error: str | None = None

    # -- store access (RunStore keeps one SQLite connection per thread itself)
    def store(self):
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self.store_factory(self.root)
        return self._store

    def meta_path(self, run_id: str) -> Path:
        return self.root / "jobs" / f"{run_id}.json"

    def log_path(self, run_id: str) -> Path:
        return self.root / "logs" / f"{run_id}.log"

    def meta(self, run_id: str) -> dict:
        """What the UI recorded at launch (recipe, estimate, network source)."""
        try:
            return json.loads(self.meta_path(run_id).read_text())
        except (OSError, ValueError):
            return {}

    # -- public API --------------------------------------------------------------
    def submit(self, name: str, spec: dict, config: dict, meta: dict | None = None,
               experiment_id: str | None = None) -> str:
        """Queue a run; it starts as soon as its device is free.  Returns its id."""
        rid = self.store().create_run(name, spec, config, experiment_id=experiment_id)
        m = dict(meta or {}, device_key=resolve_device(config.get("device")), submitted=time.time())
        p = self.meta_path(rid)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(m, default=str))
        os.replace(tmp, p)
        self.tick()
        self.ensure_running()
        return rid

    def stop(self, run_id: str) -> str:
        """Stop a run: a queued one is cancelled at once; a running one is asked to stop
        (store flag + SIGTERM) and ends 'stopped' with a checkpoint.  Returns what it did."""
        store = self.store()
        with self._lock:
            run = store.get_run(run_id)
            if run is None:
                return "unknown run"
            job = self.jobs.get(run_id)
            if run["status"] == "queued" and job is None:
                store.set_status(run_id, "stopped", error="cancelled before it started")
                return "cancelled"
            if run["status"] not in ACTIVE:
                return f"already {run['status']}"
            store.request_stop(run_id)
            # SIGTERM only once the engine runs (its handler is installed); before that
            # the flag in the store is enough and the reaper records 'stopped'.
            if run["status"] == "running":
                pid = job.popen.pid if job is not None else run.get("pid")
                if job is not None:
                    with contextlib.suppress(OSError, ProcessLookupError):
                        job.popen.send_signal(signal.SIGTERM)
                elif pid_alive(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGTERM)
        self.ensure_running()
        return "stop requested"

    def delete(self, run_id: str) -> None:
        """Delete a run (stopping it first if it is alive), its log and its launch notes."""
        run = self.store().get_run(run_id)
        if run is not None and run["status"] in ACTIVE:
            self.stop(run_id)
            job = self.jobs.get(run_id)
            if job is not None:
                with contextlib.suppress(Exception):
                    job.popen.wait(timeout=10)
                self.tick()
        self.store().delete(run_id)
        for p in (self.meta_path(run_id), self.log_path(run_id)):
            with contextlib.suppress(OSError):
                p.unlink()

    def queue(self) -> list[dict]:
        """Active runs in scheduling order with their device and queue position
        (0 = running or starting, 1 = next in line for that device, …)."""
        runs = [r for r in self.store().list_runs() if r["status"] in ACTIVE]
        runs.sort(key=lambda r: r["created"])
        pos: dict[str, int] = {}
        out = []
        for r in runs:
            dev = self._device_of(r)
            started = r["status"] == "running" or r["id"] in self.jobs
            if started:
                p = 0
            else:
                pos[dev] = pos.get(dev, 0) + 1
                p = pos[dev]
            out.append({"id": r["id"], "name": r["name"], "status": r["status"], "device": dev, "position": p})
        return out

    def position(self, run_id: str) -> int | None:
        for q in self.queue():
            if q["id"] == run_id:
                return q["position"]
        return None

    # -- scheduler ---------------------------------------------------------------
    def _device_of(self, run: dict) -> str:
        key = self.meta(run["id"]).get("device_key")
        if key:
            return key
        return resolve_device((run.get("config") or {}).get("device"))

    def _try_lock(self) -> bool:
        if self._lockfile is not None:
            return True
        f = open(self.root / ".scheduler.lock", "a+")  # noqa: SIM115 — held while scheduling
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._lockfile = f
        return True

    def _unlock(self) -> None:
        if self._lockfile is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lockfile.fileno(), fcntl.LOCK_UN)
                self._lockfile.close()
            self._lockfile = None

    def tick(self) -> bool:
        """One scheduling pass: reap finished processes, mark dead runs, launch what
        fits.  Returns True while there is work (live processes or queued runs)."""
        store = self.store()
        with self._lock:
            self._reap(store)
            runs = store.list_runs()
            busy: dict[str, set[str]] = {}
            for rid, job in self.jobs.items():
                busy.setdefault(job.device, set()).add(rid)
            queued = []
            reap = getattr(store, "reap", None)
            if callable(reap) and reap():  # runs whose process died elsewhere → 'interrupted'
                runs = store.list_runs()
            for r in runs:
                if r["status"] == "running" and r["id"] not in self.jobs:
                    busy.setdefault(self._device_of(r), set()).add(r["id"])
                elif r["status"] == "queued" and r["id"] not in self.jobs:
                    queued.append(r)
            queued.sort(key=lambda r: r["created"])
            for r in queued:
                dev = self._device_of(r)
                if len(busy.get(dev, ())) >= self.per_device:
                    continue
                if not self._try_lock():
                    break  # another scheduler (server) launches; we only watch
                self._launch(store, r, dev)
                busy.setdefault(dev, set()).add(r["id"])
            work = bool(self.jobs) or bool(queued)
            if not self.jobs:
                self._unlock()
            return work

    def _launch(self, store, run: dict, dev: str) -> None:
        rid = run["id"]
        log = self.log_path(rid)
        try:
            popen = self.launcher(rid, self.root, log)
        except Exception as e:  # no interpreter, no fork: a failed run, not a crash
            store.set_status(rid, "failed", error=f"could not start the training process: {e}")
            return
        self.jobs[rid] = Job(rid, dev, popen, log)

    def _reap(self, store) -> None:
        for rid, job in list(self.jobs.items()):
            rc = job.popen.poll()
            if rc is None:
                continue
            del self.jobs[rid]
            run = store.get_run(rid)
            if run is None or run["status"] not in ACTIVE:
                continue  # the engine recorded its own ending
            if store.stop_requested(rid):
                store.set_status(rid, "stopped", error="stopped before training started"
                                 if run["status"] == "queued" else None)
            elif rc < 0 or rc == 137:
                store.set_status(rid, "interrupted", error=explain_exit(rc, ""))
            else:
                store.set_status(rid, "failed", error=explain_exit(rc, log_tail(job.log)))

    def ensure_running(self) -> None:
        """Start the scheduler thread if it is not running (cheap; call on every render)."""
        with self._lock:
            if self._closed.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._loop, name=f"alexnet-jobs:{self.root.name}",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        idle_since = None
        while not self._closed.wait(self.poll_seconds):
            try:
                work = self.tick()
                self.last_error = None
            except Exception as e:  # a locked database, a bad row: log, keep scheduling
                self.last_error = f"{type(e).__name__}: {e}"
                work = True
            with self._lock:
                if work:
                    idle_since = None
                    continue
                idle_since = idle_since or time.time()
                if time.time() - idle_since >= self.idle_exit_seconds:
                    self._thread = None
                    self._unlock()
                    return

    def close(self, stop_jobs: bool = False) -> None:
        """End the scheduler thread (and, when asked, stop this server's jobs)."""
        self._closed.set()
        if stop_jobs:
            for rid in list(self.jobs):
                with contextlib.suppress(Exception):
                    self.stop(rid)
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        self._unlock()


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_manager(root: str | os.PathLike | None = None) -> JobManager:
    """The process-wide manager of one runs folder (created on first use)."""
    key = runs_root(root)
    with _MANAGERS_LOCK:
        m = _MANAGERS.get(key)
        if m is None or m._closed.is_set():
            m = _MANAGERS[key] = JobManager(key)
    m.ensure_running()
    return m


# ---- progress and ETA -------------------------------------------------------------------
def progress(run: dict, steps: list[dict], epochs: list[dict], steps_per_epoch: int | None = None) -> dict:
    """Fraction done, epoch/step text and ETA of a run from its metrics."""
    cfg = run.get("config") or {}
    total_epochs = int(cfg.get("epochs") or 1)
    done_epochs = len(epochs)
    last = steps[-1] if steps else None
    step = int(last["step"]) if last else 0
    # the engine logs every step with a fractional epoch (epoch − 1 + i/steps_per_epoch)
    if last and last.get("epoch"):
        spe = max(1, round(step / float(last["epoch"])))
    else:
        spe = steps_per_epoch or None
    if spe:
        frac = min(step / (spe * total_epochs), 1.0)
    else:
        frac = done_epochs / total_epochs
    if run.get("status") == "completed":
        frac = 1.0
    started = run.get("started")
    now = run.get("finished") or time.time()
    elapsed = (now - started) if started else 0.0
    eta = (elapsed / frac - elapsed) if frac > 0.01 and run.get("status") == "running" else None
    max_s = cfg.get("max_seconds")
    if eta is not None and max_s:
        eta = min(eta, max(0.0, float(max_s) - elapsed))
    cur_epoch = done_epochs
    if run.get("status") == "running":
        cur_epoch = min(max(done_epochs + 1, math.ceil(float(last["epoch"])) if last and last.get("epoch") else 1),
                        total_epochs)
    return {"fraction": frac, "epoch": cur_epoch, "epochs": total_epochs, "step": step,
            "steps_total": spe * total_epochs if spe else None, "elapsed": elapsed, "eta": eta}


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


# ---- estimates before launch ----------------------------------------------------------
_CPU_RATE: list[float] = []


def cpu_flops_per_second() -> float:
    """Effective fp32 FLOP/s of this CPU on conv training, measured once per process (~0.2 s)."""
    if _CPU_RATE:
        return _CPU_RATE[0]
    import torch
    from torch import nn

    net = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    x = torch.randn(16, 16, 32, 32)
    macs = 16 * (32 * 32 * 32 * 16 * 9 + 32 * 32 * 32 * 32 * 9)
    net(x).sum().backward()  # warm-up
    dt = float("inf")
    for _ in range(5):  # the fastest of five: robust to other work on the machine
        t0 = time.perf_counter()
        net.zero_grad()
        net(x).sum().backward()
        dt = min(dt, time.perf_counter() - t0)
    rate = 6 * macs / max(dt, 1e-6)  # forward 2·MACs, backward ≈ 4·MACs
    _CPU_RATE.append(rate)
    return rate


# Sustained training FLOP/s assumed for accelerators (rough: achieved, not peak).
NOMINAL_RATE = {"cuda": {"fp32": 25e12, "bf16": 120e12, "fp16": 120e12}, "mps": {"fp32": 3e12}}
# Per-step cost that is not multiply-adds (batch preprocessing on the device, optimizer,
# Python), and per-epoch cost (evaluation setup, two checkpoint writes), measured roughly
# on a 2-core CPU with a tiny network: they dominate for networks of a few kMACs.
STEP_OVERHEAD_S = {"cpu": 0.01, "cuda": 0.0005, "mps": 0.002}
EPOCH_OVERHEAD_S = {"cpu": 0.3, "cuda": 0.1, "mps": 0.2}


def estimate(spec, *, dataset: str, batch_size: int, epochs: int, device: str,
             precision: str = "fp32", optimizer: str = "sgd", train_subset: int | None = None,
             measured_step_s: float | None = None) -> dict:
    """Seconds per epoch and training memory before launching.

    ``spec`` is a NetSpec (or its dict/JSON).  Time: training costs about 6·MACs per
    image (forward 2, backward 4) plus the test pass at 2·MACs, at a rate measured on
    this CPU or assumed for a GPU; ``measured_step_s`` (timed steps) replaces the model.
    """
    from alexnet.arithmetic import analyze, training_memory_bytes
    from alexnet.data import dataset_info

    summary = analyze(spec)
    info = dataset_info(dataset)
    n_train, n_test, classes = info.train_size, info.test_size, info.num_classes
    if train_subset:
        n_train = min(n_train, int(train_subset))
    dev = resolve_device(device)
    kind = dev.split(":")[0]
    macs = int(summary.total_macs)
    if kind == "cpu":
        rate, basis = cpu_flops_per_second(), "multiply-adds at this CPU's measured rate"
    else:
        table = NOMINAL_RATE.get(kind, {"fp32": 1e12})
        rate, basis = table.get(precision, table["fp32"]), f"multiply-adds at an assumed {kind} rate"
    steps = max(1, n_train // max(min(batch_size, n_train), 1))  # the engine drops the last partial batch
    step_s = 6 * macs * batch_size / rate + STEP_OVERHEAD_S.get(kind, 0.002)
    if measured_step_s:
        step_s, basis = measured_step_s, "timed training steps"
    eval_s = 2 * macs * n_test / rate
    epoch_s = steps * step_s + eval_s + EPOCH_OVERHEAD_S.get(kind, 0.2)
    mem = training_memory_bytes(summary, batch_size, optimizer)
    return {"device": dev, "seconds_per_epoch": epoch_s, "seconds_total": epoch_s * epochs,
            "step_seconds": step_s, "steps_per_epoch": steps, "train_images": n_train,
            "memory_bytes": int(mem), "basis": basis, "classes": classes, "dataset_sizes_from": info.sizes_from}


def measure_step_seconds(spec_json: str, batch_size: int, steps: int = 3) -> float:
    """Time a few real training steps of the network on this CPU (random data).
    Uses a smaller batch for big networks and scales linearly."""
    import torch

    from alexnet.build import build_model

    model = build_model(spec_json)
    c, h, w = json.loads(spec_json)["input"].values()
    b = max(1, min(batch_size, 32))
    x = torch.randn(b, c, h, w)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    out = model(x)
    y = torch.zeros(out.shape[0], dtype=torch.long)
    loss_fn = torch.nn.CrossEntropyLoss()
    loss_fn(out.reshape(b, -1), y).backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x).reshape(b, -1), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * batch_size / b
