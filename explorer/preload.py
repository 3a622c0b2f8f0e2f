"""Import the training engine (PyTorch: seconds on a busy 2-core machine) in a background
thread once the app has drawn its first page, so that the first visit to Train, Runs or
Activations does not wait for it.

The import holds the interpreter lock for most of its seconds, which stalls both the page
script and the server thread that sends the page to the browser.  So the thread waits for
the page run that started it to end (or for a page that needs the engine: ``wait``), gives
the browser a moment to draw what the page sent, and loads torch's big shared libraries
through ctypes first, which lets other threads run meanwhile.  bench/train_first_paint.py and bench/browser_latency.py measure the first visit."""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import sys
import threading
import time
from pathlib import Path

import streamlit as st

ENGINE = ("alexnet.data", "alexnet.estimate", "alexnet.train")  # torch and what the pages build on it
FIRST_PAGE_WAIT_S = 3.0  # at most this long for the first page run to end
PAINT_S = 0.4  # then the browser's time to draw what the page sent, before the import takes the CPU
_NOW = threading.Event()  # a page needs the engine: no more waiting


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Once per server process (called from the first page run's thread)."""
    t = threading.Thread(target=_load, args=(threading.current_thread(),), name="preload-engine", daemon=True)
    t.start()
    return t


def wait() -> None:
    """Import the engine now, if not yet done, and wait until it is (the caller's own ``import
    torch`` is then instant, or raises what went wrong); the server keeps serving meanwhile."""
    _NOW.set()
    start().join()


def _load(page_run: threading.Thread) -> None:
    deadline = time.monotonic() + FIRST_PAGE_WAIT_S
    while page_run.is_alive() and not _NOW.is_set() and time.monotonic() < deadline:
        page_run.join(0.05)
    time.sleep(PAINT_S)
    _open_libraries()
    for name in ENGINE:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page that needs it imports it again and says what failed
            return


def _open_libraries() -> None:
    """Load torch's largest shared libraries with ctypes, which releases the interpreter lock
    while the dynamic loader works (Python's import of torch._C holds it throughout: a pause
    of 0.3 s or more in everything else).  Linux only; a failure is left to the import."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    with contextlib.suppress(OSError):
        ctypes.CDLL(str(lib / "libtorch_global_deps.so"), mode=ctypes.RTLD_GLOBAL)  # as torch loads it
        ctypes.CDLL(str(lib / "libtorch_python.so"))  # torch._C's library and all it links
