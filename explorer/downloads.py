"""Data for download buttons, ready when the button is drawn.

A callable given to ``st.download_button`` runs only when the person clicks, and the browser
then waits for the server (a busy server once made a Runs download time out after 60 s).  So
small files are read here, at draw time (cached on the file's size and modification time), and
only files too big to hold in memory keep the on-click callable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import streamlit as st

INLINE_BYTES = 64 << 20  # checkpoints up to 64 MB are read at draw time (alexnet-cifar-32: ~9 MB)


@st.cache_resource(max_entries=2, show_spinner=False)
def _read(path: str, size: int, mtime_ns: int) -> bytes:
    return Path(path).read_bytes()


def file_data(path: str | os.PathLike) -> bytes | Callable[[], bytes]:
    """The file's bytes, or (over INLINE_BYTES) a callable that reads them on click."""
    st_ = os.stat(path)
    if st_.st_size > INLINE_BYTES:
        return lambda: Path(path).read_bytes()
    return _read(str(path), st_.st_size, st_.st_mtime_ns)
