"""Import the training engine (PyTorch: seconds on a busy 2-core machine) in a background
thread once the app has drawn its first page, so that the first visit to Train, Runs or
Activations does not wait for it.  bench/browser_latency.py measures that first visit."""

from __future__ import annotations

import importlib
import threading

import streamlit as st

ENGINE = ("alexnet.data", "alexnet.estimate", "alexnet.train")  # torch and what the pages build on it


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Once per server process."""
    t = threading.Thread(target=_load, name="preload-engine", daemon=True)
    t.start()
    return t


def _load() -> None:
    for name in ENGINE:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page that needs it imports it again and says what failed
            return
