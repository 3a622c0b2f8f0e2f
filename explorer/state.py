"""Session state shared by every page: the current network and what it started from.

Pages call ``current_spec()`` and ``set_spec()``; nothing else touches the keys.
The summary is cached on the spec's JSON, so a rerun that changed nothing costs a
dictionary lookup.
"""

from __future__ import annotations

import streamlit as st

from alexnet import NetSpec, get_spec, summarize

DEFAULT_PRESET = "paper-2012"
_SPEC = "net_spec"  # the current NetSpec
_BASE = "net_base"  # the preset name it started from
_VERSION = "net_version"  # bumped on every change, used in widget keys


def current_spec() -> NetSpec:
    if _SPEC not in st.session_state:
        st.session_state[_SPEC] = get_spec(DEFAULT_PRESET)
        st.session_state[_BASE] = DEFAULT_PRESET
        st.session_state[_VERSION] = 0
    return st.session_state[_SPEC]


def base_preset() -> str:
    current_spec()
    return st.session_state[_BASE]


def version() -> int:
    current_spec()
    return st.session_state[_VERSION]


def set_spec(spec: NetSpec, base: str | None = None) -> None:
    """Replace the current network (already validated).  ``base`` names a preset it
    now derives from (when a preset is loaded)."""
    current_spec()
    st.session_state[_SPEC] = spec
    if base is not None:
        st.session_state[_BASE] = base
    st.session_state[_VERSION] += 1


@st.cache_data(max_entries=256, show_spinner=False)
def _summary_cached(spec_json: str) -> dict:
    return summarize(spec_json)


def current_summary() -> dict:
    """``alexnet.summarize`` of the current network (cached)."""
    return summary_of(current_spec())


def summary_of(spec: NetSpec) -> dict:
    return _summary_cached(spec.to_json(indent=None))
