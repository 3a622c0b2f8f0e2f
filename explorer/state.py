"""Session state shared by every page: the current network and what it started from.

Pages call ``current_spec()`` and ``set_spec()``; nothing else touches the keys.
The summary is cached on the spec's JSON, so a rerun that changed nothing costs a
dictionary lookup.
"""

from __future__ import annotations

import zlib

import streamlit as st

from alexnet import NetSpec, get_spec, summarize

DEFAULT_PRESET = "paper-2012"
_SPEC = "net_spec"  # the current NetSpec
_BASE = "net_base"  # the name of what it started from: a preset, or a network loaded from a file or a run
_BASE_SPEC = "net_base_spec"  # that network itself, when it is not a preset
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


def base_spec() -> NetSpec:
    """The network the current one started from (what Reset restores, what the diff compares with)."""
    current_spec()
    own = st.session_state.get(_BASE_SPEC)
    return own if own is not None else get_spec(st.session_state[_BASE])


def base_is_preset() -> bool:
    current_spec()
    return st.session_state.get(_BASE_SPEC) is None


def set_spec(spec: NetSpec, base: str | NetSpec | None = None) -> None:
    """Replace the current network (already validated).  ``base`` is what it now derives
    from: a preset's name (a preset loaded), or a network that is its own base (one
    uploaded, pasted, or taken from a run)."""
    current_spec()
    st.session_state[_SPEC] = spec
    if isinstance(base, NetSpec):
        st.session_state[_BASE], st.session_state[_BASE_SPEC] = base.name, base
    elif base is not None:
        st.session_state[_BASE], st.session_state[_BASE_SPEC] = base, None
    st.session_state[_VERSION] += 1


@st.cache_data(max_entries=256, show_spinner=False)
def _summary_cached(spec_json: str) -> dict:
    return summarize(spec_json)


def current_summary() -> dict:
    """``alexnet.summarize`` of the current network (cached)."""
    return summary_of(current_spec())


def summary_of(spec: NetSpec) -> dict:
    return _summary_cached(spec.to_json(indent=None))


# ---- widget values that outlive the widget ----------------------------------------------------
_KEPT = "kept_widget_values"  # {widget key: its value when the page last ran with it}


def remember(keys: tuple[str, ...] = (), prefixes: tuple[str, ...] = ()) -> None:
    """Call at the top of a page, before its widgets: keeps the values of the widgets named
    by ``keys`` (or starting with one of ``prefixes``) across runs that do not draw them.

    Streamlit forgets a widget's value on any run that does not draw it — another page, or
    another branch of this one (the Activations page stops early while no image is chosen)
    — and the browser may then show one value while the page uses another.  A value this
    keeps is put back into session state before the widget is drawn again, so the server
    sends it to the browser and both agree (a value Streamlit still holds for an undrawn
    widget is not enough: the widget drawn again takes its default).  Only for widgets whose value can be set
    (not buttons, file uploaders or forms)."""
    kept = st.session_state.setdefault(_KEPT, {})

    def mine(k: str) -> bool:
        return k in keys or k.startswith(prefixes or ("\0",))

    for k in [k for k in st.session_state if isinstance(k, str) and mine(k)]:
        kept[k] = st.session_state[k]
    for k, v in kept.items():
        if mine(k):  # written back even when present: a value set this way is the one the widget shows
            st.session_state[k] = v


def forget(key: str) -> None:
    """Drop a kept value (the widget's own default applies the next time it is drawn)."""
    st.session_state.get(_KEPT, {}).pop(key, None)
    st.session_state.pop(key, None)


def chosen(key: str, options: list, default, format_func=str) -> dict:
    """Keyword arguments (key, format_func, on_change, args) for a select widget whose option
    labels can change between runs (a run renamed) or whose default moves (a newer run): the
    person's choice is kept under a key of our own, updated only when they change the widget,
    and written back before the widget is drawn, so it neither jumps nor shows a stale label
    (the widget's key carries a digest of its labels: new labels, a fresh widget).
    ``default`` is taken once; a chosen option that is gone gives way to it.  A list
    ``default`` is for a multiselect.  Pass no ``index``/``default`` to the widget."""
    own = f"{key}__chosen"
    value = st.session_state.setdefault(own, default)
    if isinstance(default, list):
        value = [v for v in value if v in options]
    elif value not in options:
        value = default
    labels = "\x1f".join(str(format_func(o)) for o in options)
    widget = f"{key}_{zlib.crc32(labels.encode()):08x}"
    st.session_state[widget] = st.session_state[own] = value
    st.session_state[f"{key}__widget"] = widget  # for tests
    return {"key": widget, "format_func": format_func, "on_change": _choose, "args": (widget, own)}


def _choose(widget: str, own: str) -> None:
    st.session_state[own] = st.session_state[widget]


def choose(key: str, value) -> None:
    """Select ``value`` in the ``chosen`` widget ``key`` from code (drawn later in this run,
    or on the next)."""
    st.session_state[f"{key}__chosen"] = value
