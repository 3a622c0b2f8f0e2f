"""The run store: one SQLite database (WAL mode) plus a folder of checkpoints per run.

Layout under the root (``$ALEXNET_RUNS_DIR``, default ``./runs``)::

    runs.sqlite          runs, step_metrics, epoch_metrics tables
    <run_id>/best.pt     checkpoints, written atomically (temp file, then os.replace)
    <run_id>/last.pt

WAL mode lets the web UI read metrics while a training process writes them; every
write is its own short transaction, so a crash loses at most the step in flight.

A training process records its pid, host name and process start time in its run
row.  Opening the store (or calling ``reap()``) marks every 'running' run whose
process is gone — killed, crashed, rebooted — as 'interrupted'; its metrics stay.
The start time guards against pid reuse.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

ACTIVE = ("queued", "running")  # waiting for, or holding, a device
FINISHED = ("completed", "failed", "stopped", "interrupted")
STATUSES = ACTIVE + FINISHED
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")  # fullmatch: "$" would let a newline through

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    config TEXT NOT NULL,
    device TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    proc_start TEXT,
    started REAL,
    finished REAL,
    best_test_acc REAL,
    last_test_acc REAL,
    epochs_done REAL NOT NULL DEFAULT 0,
    experiment_id TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS step_metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL,
    loss REAL,
    lr REAL,
    images_per_sec REAL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS step_metrics_run ON step_metrics (run_id, step);
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id TEXT NOT NULL,
    epoch REAL NOT NULL,
    train_loss REAL,
    train_acc REAL,
    test_loss REAL,
    test_acc REAL,
    epoch_seconds REAL,
    peak_mem_bytes INTEGER,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS epoch_metrics_run ON epoch_metrics (run_id, epoch);
"""

_RUN_COLS = ("id", "name", "created", "status", "spec", "config", "device", "error", "pid", "host",
             "proc_start", "started", "finished", "best_test_acc", "last_test_acc", "epochs_done",
             "experiment_id", "stop_requested")
_STEP_COLS = ("step", "epoch", "loss", "lr", "images_per_sec", "time")
_EPOCH_COLS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "epoch_seconds",
               "peak_mem_bytes", "time")


class RunStoreError(ValueError):
    """A bad run id, a run that does not exist, or a run store that cannot be opened."""


def default_root(root: str | os.PathLike | None = None) -> Path:
    """The runs folder: ``root``, else $ALEXNET_RUNS_DIR, else ./runs."""
    return Path(root or os.environ.get("ALEXNET_RUNS_DIR") or "runs").expanduser()


def runs_folder(root: str | os.PathLike | None = None) -> Path:
    """The runs folder (see ``default_root``), created if missing; RunStoreError when it
    cannot be (a file is in the way, no permission)."""
    path = default_root(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunStoreError(f"the runs folder {path} is a file, not a folder; use --runs-dir (or "
                            "ALEXNET_RUNS_DIR) to point at a folder") from None
    except OSError as e:
        raise RunStoreError(f"cannot create the runs folder {path}: {e.strerror}") from None
    return path


# ---- is a process alive? ------------------------------------------------------------------
def process_start_token(pid: int) -> str | None:
    """Something that identifies one process among all that ever had this pid: the
    start time in clock ticks since boot from /proc (Linux).  None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None  # field 22 overall: starttime


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] in ("Z", "X")


def process_alive(pid: int | None, host: str | None, start_token: str | None) -> bool | None:
    """True/False when we can tell, None when the process is on another host."""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if _zombie(pid):
        return False  # killed, not yet reaped by its parent
    if start_token is not None:
        now = process_start_token(pid)
        if now is not None and now != start_token:
            return False  # the pid was reused by another process
    return True


class RunStore:
    """Runs, their metrics and checkpoints.  Safe to use from several threads and
    processes at once (one SQLite connection per thread, WAL, busy timeout)."""

    def __init__(self, root: str | os.PathLike | None = None, *, reap: bool = True):
        self.root = runs_folder(root)
        self.db_path = self.root / "runs.sqlite"
        self._local = threading.local()
        try:
            con = self._conn()
            con.execute("PRAGMA journal_mode=WAL")
            with con:
                con.executescript(_SCHEMA)
            if reap:
                self.reap()
        except sqlite3.DatabaseError as e:
            self.close()
            raise RunStoreError(self.damaged(e)) from None

    def damaged(self, e: BaseException) -> str:
        """What is wrong with the database, and how to recover (one line)."""
        if self.db_path.is_dir():
            return (f"the run store {self.db_path} is a folder, not a database: move it out of {self.root} "
                    "and a new, empty store is created there")
        if "locked" in str(e):
            return f"the run store {self.db_path} is busy ({e}); try again in a moment"
        return (f"the run store {self.db_path} is damaged or not a run store ({e}). Put a backup copy of "
                f"runs.sqlite in its place, or move it aside (e.g. rename it runs.sqlite.damaged) to start an "
                f"empty store; the checkpoints in the run folders of {self.root} are kept either way")

    def orphans_note(self) -> str | None:
        """A warning when run folders have checkpoints but no entry in the database (it was
        emptied, deleted or replaced: their runs are not listed), else None."""
        known = {r["id"] for r in self.read("SELECT id FROM runs")}
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name not in known
                       and _ID_RE.fullmatch(p.name) and any(p.glob("*.pt")))
        if not found:
            return None
        return (f"{len(found)} run folder(s) in {self.root} have checkpoints but no entry in {self.db_path} "
                f"(was it emptied or replaced?), so they are not listed: {', '.join(found[:3])}"
                f"{' …' if len(found) > 3 else ''}. Put a backup copy of runs.sqlite back to list them again.")

    # ---- connection -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con, self._local.pid = con, os.getpid()
        return con

    def write(self, sql: str, args: tuple = ()) -> int:
        """One statement in its own write transaction; the number of rows it changed."""
        con = self._conn()
        with con:
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute(sql, args)
            return cur.rowcount

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """The rows of one query (rows index by column name)."""
        return self._conn().execute(sql, args).fetchall()

    def add_schema(self, script: str) -> None:
        """Create more tables in this store's database (``CREATE TABLE IF NOT EXISTS …``):
        how the experiment store keeps its table next to the runs, on the same connection."""
        con = self._conn()
        with con:
            con.executescript(script)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # ---- runs -----------------------------------------------------------------------
    @staticmethod
    def _check_id(run_id: str) -> str:
        if not isinstance(run_id, str) or not _ID_RE.fullmatch(run_id):
            raise RunStoreError(f"invalid run id {run_id!r}: letters, digits, '.', '_' and '-' only")
        return run_id

    def new_id(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)

    def create_run(self, name: str, spec: dict, config: dict, experiment_id: str | None = None,
                   run_id: str | None = None) -> str:
        """A new run in status 'queued'.  Returns its id."""
        run_id = self._check_id(run_id) if run_id else self.new_id()
        self.write("INSERT INTO runs (id, name, created, status, spec, config, experiment_id) "
                    "VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    (run_id, str(name)[:200] or run_id, time.time(), json.dumps(spec), json.dumps(config),
                     experiment_id))
        return run_id

    @staticmethod
    def _row(r: sqlite3.Row) -> dict[str, Any]:
        d = {k: r[k] for k in _RUN_COLS}
        d["spec"] = json.loads(d["spec"]) if d["spec"] else None
        d["config"] = json.loads(d["config"]) if d["config"] else None
        d["stop_requested"] = bool(d["stop_requested"])
        ed = d["epochs_done"]
        d["epochs_done"] = int(ed) if ed is not None and float(ed).is_integer() else ed
        return d

    def get_run(self, run_id: str) -> dict | None:
        r = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._row(r) if r else None

    def list_runs(self, experiment_id: str | None = None) -> list[dict]:
        """All runs, newest first (optionally one experiment's)."""
        if experiment_id is None:
            rows = self._conn().execute("SELECT * FROM runs ORDER BY created DESC, rowid DESC").fetchall()
        else:
            rows = self._conn().execute("SELECT * FROM runs WHERE experiment_id = ? "
                                        "ORDER BY created DESC, rowid DESC", (experiment_id,)).fetchall()
        return [self._row(r) for r in rows]

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        if status not in STATUSES:
            raise RunStoreError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
        finished = time.time() if status in FINISHED else None
        self.write("UPDATE runs SET status = ?, error = ?, finished = COALESCE(?, finished) WHERE id = ?",
                    (status, error, finished, run_id))

    def rename(self, run_id: str, name: str) -> None:
        name = str(name).strip()[:200]
        if not name:
            raise RunStoreError("a run name cannot be empty")
        if not self.write("UPDATE runs SET name = ? WHERE id = ?", (name, run_id)):
            raise RunStoreError(f"no run {run_id!r}")

    def delete(self, run_id: str) -> None:
        """The run row, its metrics and its checkpoint folder."""
        self._check_id(run_id)
        con = self._conn()
        with con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM step_metrics WHERE run_id = ?", (run_id,))
            con.execute("DELETE FROM epoch_metrics WHERE run_id = ?", (run_id,))
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.root / run_id, ignore_errors=True)

    def request_stop(self, run_id: str) -> None:
        """Ask a running training to stop (it saves a checkpoint and ends as 'stopped').
        A queued run is marked stopped at once."""
        self.write("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))
        self.write("UPDATE runs SET status = 'stopped', finished = ? WHERE id = ? AND status = 'queued'",
                    (time.time(), run_id))

    def stop_requested(self, run_id: str) -> bool:
        """True if a stop was requested — or the run was deleted under the trainer."""
        r = self._conn().execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return r is None or bool(r[0])

    # ---- used by the trainer --------------------------------------------------------
    def mark_running(self, run_id: str, device: str, pid: int | None = None) -> None:
        pid = pid or os.getpid()
        self.write("UPDATE runs SET status = 'running', device = ?, pid = ?, host = ?, proc_start = ?, "
                    "started = ?, finished = NULL, error = NULL WHERE id = ?",
                    (device, pid, socket.gethostname(), process_start_token(pid), time.time(), run_id))

    def set_device(self, run_id: str, device: str) -> None:
        self.write("UPDATE runs SET device = ? WHERE id = ?", (device, run_id))

    def log_steps(self, run_id: str, rows: list[dict]) -> None:
        """Per-step metrics: dicts with step, epoch, loss, lr, images_per_sec (time optional)."""
        if not rows:
            return
        now = time.time()
        con = self._conn()
        with con:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                "INSERT INTO step_metrics (run_id, step, epoch, loss, lr, images_per_sec, time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, int(r["step"]), r.get("epoch"), r.get("loss"), r.get("lr"), r.get("images_per_sec"),
                  r.get("time", now)) for r in rows])

    def log_epoch(self, run_id: str, row: dict) -> None:
        """One per-epoch metrics row; also updates epochs_done and last/best test accuracy."""
        now = time.time()
        acc = row.get("test_acc")
        con = self._conn()
        with con:
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "INSERT INTO epoch_metrics (run_id, epoch, train_loss, train_acc, test_loss, test_acc, "
                "epoch_seconds, peak_mem_bytes, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, row["epoch"], row.get("train_loss"), row.get("train_acc"), row.get("test_loss"), acc,
                 row.get("epoch_seconds"), row.get("peak_mem_bytes"), row.get("time", now)))
            con.execute("UPDATE runs SET epochs_done = ?, last_test_acc = COALESCE(?, last_test_acc), "
                        "best_test_acc = CASE WHEN ? IS NOT NULL AND (best_test_acc IS NULL OR ? > best_test_acc) "
                        "THEN ? ELSE best_test_acc END WHERE id = ?",
                        (row["epoch"], acc, acc, acc, acc, run_id))

    def step_metrics(self, run_id: str, since_step: int | None = None) -> list[dict]:
        """Per-step rows (step, epoch, loss, lr, images_per_sec, time), after ``since_step``."""
        q = f"SELECT {', '.join(_STEP_COLS)} FROM step_metrics WHERE run_id = ?"
        args: tuple = (run_id,)
        if since_step is not None:
            q += " AND step > ?"
            args += (int(since_step),)
        rows = self._conn().execute(q + " ORDER BY step", args).fetchall()
        return [dict(zip(_STEP_COLS, r)) for r in rows]

    def epoch_metrics(self, run_id: str) -> list[dict]:
        q = f"SELECT {', '.join(_EPOCH_COLS)} FROM epoch_metrics WHERE run_id = ? ORDER BY epoch, rowid"
        out = []
        for r in self._conn().execute(q, (run_id,)).fetchall():
            d = dict(zip(_EPOCH_COLS, r))
            if d["epoch"] is not None and float(d["epoch"]).is_integer():
                d["epoch"] = int(d["epoch"])
            out.append(d)
        return out

    # ---- liveness -------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Mark 'running' runs whose process is gone as 'interrupted'.  Returns their ids."""
        rows = self._conn().execute(
            "SELECT id, pid, host, proc_start FROM runs WHERE status = 'running'").fetchall()
        gone = []
        for r in rows:
            if process_alive(r["pid"], r["host"], r["proc_start"]) is False:
                n = self.write("UPDATE runs SET status = 'interrupted', finished = ?, "
                                "error = COALESCE(error, ?) WHERE id = ? AND status = 'running' AND "
                                "COALESCE(pid, 0) = COALESCE(?, 0)",
                                (time.time(), f"the training process (pid {r['pid']}) ended without "
                                 "finishing the run (killed or crashed)", r["id"], r["pid"]))
                if n:
                    gone.append(r["id"])
        return gone

    # ---- checkpoints ------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / self._check_id(run_id)

    def checkpoint_path(self, run_id: str, which: str = "best") -> Path | None:
        """The 'best' or 'last' checkpoint file of a run, or None if there is none yet."""
        if which not in ("best", "last"):
            raise RunStoreError(f"which must be 'best' or 'last', got {which!r}")
        p = self.run_dir(run_id) / f"{which}.pt"
        return p if p.is_file() else None

    def save_checkpoint(self, run_id: str, which: str, payload: dict) -> Path:
        if which not in ("best", "last"):
            raise RunStoreError(f"which must be 'best' or 'last', got {which!r}")
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        return save_checkpoint(d / f"{which}.pt", payload)

    # ---- per-image test record (which test images the latest evaluation got right) ---
    def save_test_record(self, run_id: str, record: dict) -> Path:
        """``{"epoch", "n", "correct": base64 bits}`` as test_record.json beside the
        checkpoints, replaced atomically after every evaluation."""
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        path = d / "test_record.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        return path

    def test_record(self, run_id: str) -> dict | None:
        """The run's latest per-image test record, or None (older runs have none)."""
        try:
            return json.loads((self.run_dir(run_id) / "test_record.json").read_text())
        except (OSError, ValueError):
            return None


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """torch.save to a temp file in the same folder, fsync, then os.replace: a reader
    sees the old file or the new one, never half of one."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint as written by the trainer, loaded safely (tensors and plain data only)."""
    import torch

    return torch.load(path, weights_only=True, map_location="cpu")
