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

Nothing here imports Streamlit: the CLI, benchmarks and tests use it as they are.
The scheduler is a daemon thread that polls twice a second while there is work and
exits when there is none.  ``get_manager`` is a plain process-wide registry: one
manager per runs folder, shared by every page render in the server process.

Estimates of a run's time and memory, and its progress/ETA, are in ``alexnet.estimate``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
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

from .devices import device_key
from .runs import ACTIVE, FINISHED, RunStore, default_root, process_alive, runs_folder  # noqa: F401 - ACTIVE, FINISHED for callers

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.5  # scheduler tick while there is work
IDLE_EXIT_SECONDS = 5.0  # the scheduler thread ends after this long with nothing to do


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
    devices: tuple[str, ...] = ()  # every device it holds (several GPUs under torchrun)


def default_launcher(run_id: str, root: Path, log: Path, devices: tuple[str, ...] = ()) -> subprocess.Popen:
    """Spawn the engine on one queued run: a fresh interpreter, output to a log file.  With
    several ``devices`` (cuda:i, reserved by the scheduler) it runs one process per GPU
    through torchrun (``--nproc``), seeing only those GPUs."""
    cmd = [sys.executable, "-m", "alexnet", "train", "--run-id", str(run_id), "--runs-dir", str(root)]
    env = dict(os.environ, ALEXNET_RUNS_DIR=str(root), PYTHONUNBUFFERED="1", TQDM_MININTERVAL="2")
    if len(devices) > 1:
        cmd += ["--nproc", str(len(devices))]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(d.split(":")[1] for d in devices)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # its own session: Ctrl-C in the server's terminal does not reach it
        return subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)


def _default_store_factory(root: Path) -> RunStore:
    return RunStore(root)


class JobManager:
    """Launches queued runs, one per device at a time, and watches the processes.

    ``launcher(run_id, root, log) -> Popen`` and ``store_factory(root) -> RunStore``
    are replaceable for tests.  Every public method is safe to call from any thread.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, per_device: int = 1,
                 launcher: Callable | None = None, store_factory: Callable | None = None,
                 poll_seconds: float = POLL_SECONDS, idle_exit_seconds: float = IDLE_EXIT_SECONDS):
        self.root = runs_folder(root).resolve()  # RunStoreError when a file is in the way
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
        m = dict(meta or {}, device_key=device_key(config.get("device")), submitted=time.time())
        gpus = int((meta or {}).get("gpus") or 1)
        if gpus > 1:  # one process per GPU through torchrun: the run holds all of them
            m["device_keys"] = [f"cuda:{i}" for i in range(gpus)]
            m["device_key"] = m["device_keys"][0]
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
                elif process_alive(pid, None, None):
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
        return device_key((run.get("config") or {}).get("device"))

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
                for d in job.devices or (job.device,):
                    busy.setdefault(d, set()).add(rid)
            queued = []
            reap = getattr(store, "reap", None)
            if callable(reap) and reap():  # runs whose process died elsewhere → 'interrupted'
                runs = store.list_runs()
            for r in runs:
                if r["status"] == "running" and r["id"] not in self.jobs:
                    for d in self._devices_of(r):
                        busy.setdefault(d, set()).add(r["id"])
                elif r["status"] == "queued" and r["id"] not in self.jobs:
                    queued.append(r)
            queued.sort(key=lambda r: r["created"])
            for r in queued:
                devs = self._devices_of(r)
                if any(len(busy.get(d, ())) >= self.per_device for d in devs):
                    continue
                if not self._try_lock():
                    break  # another scheduler (server) launches; we only watch
                self._launch(store, r, devs)
                for d in devs:
                    busy.setdefault(d, set()).add(r["id"])
            work = bool(self.jobs) or bool(queued)
            if not self.jobs:
                self._unlock()
            return work

    def _devices_of(self, run: dict) -> tuple[str, ...]:
        """Every device the run holds: one, or the GPUs of a multi-GPU (torchrun) run."""
        return tuple(self.meta(run["id"]).get("device_keys") or ()) or (self._device_of(run),)

    def _launch(self, store, run: dict, devs: tuple[str, ...]) -> None:
        rid = run["id"]
        log = self.log_path(rid)
        try:  # several devices: the launcher starts torchrun on them
            popen = self.launcher(rid, self.root, log, devices=devs) if len(devs) > 1 else \
                self.launcher(rid, self.root, log)
        except Exception as e:  # no interpreter, no fork: a failed run, not a crash
            store.set_status(rid, "failed", error=f"could not start the training process: {e}")
            return
        self.jobs[rid] = Job(rid, devs[0], popen, log, devices=devs)

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
    key = default_root(root).resolve()
    with _MANAGERS_LOCK:
        m = _MANAGERS.get(key)
        if m is None or m._closed.is_set():
            m = _MANAGERS[key] = JobManager(key)
    m.ensure_running()
    return m
