"""Share by link: the current network (and, on the Train page, the training settings) in
the page's address, so a teacher copies it and a student opens the same network.

The address carries ``?preset=NAME`` when the network is a preset unchanged, else
``?net=…``: the network JSON, zlib-compressed, in base64url (paper-2012 edited: about 600
characters).  The Train page adds ``&train=…`` the same way: the recipe, the dataset (a
built-in one) and the settings that differ from the recipe (never the device, nor a file
path: those belong to one machine).

A link is untrusted input.  Its network goes through the same check as an uploaded JSON
(``editor.parse_network_json``: size cap, UTF-8, JSON, every field, the memory budget),
after a cap on the link itself and on what it decompresses to.  A refused link changes
nothing and says what is wrong; the page keeps working with the network it had.  A link
is applied once per session (the page then writes the current network back into the
address as it changes), so editing after opening a link is not undone by the next rerun.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from urllib.parse import urlencode

import streamlit as st

from alexnet.config import OPTIONS, RECIPES, ConfigError, make_config
from alexnet.data import DATASETS
from alexnet.presets import get_preset, list_presets
from alexnet.spec import NetSpec, SpecError
from explorer.editor import MAX_UPLOAD_BYTES, parse_network_json
from explorer.state import current_spec, set_spec, version

MAX_LINK_CHARS = 16_000  # per parameter; a 256-layer network compresses to a few KB
NET_KEYS = ("preset", "net")
TRAIN_KEY = "train"
_SEEN = "share_seen"  # {"net"/"train": the parameters last applied or written, as one string}
_ERROR = "share_error"  # (message, network version when it was refused)
_OPENED = "share_opened"  # the toast after a link's network was opened


class LinkError(SpecError):
    """A share link that cannot be used; the message says why."""


# ---- pure: encode and decode ---------------------------------------------------------------
def pack(obj) -> str:
    """JSON → zlib → base64url without padding."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack(text: str, what: str) -> bytes:
    """The bytes a packed parameter holds, capped at the upload limit; LinkError naming
    the problem (too long, not base64url, not compressed data, too large once unpacked)."""
    if len(text) > MAX_LINK_CHARS:
        raise LinkError(f"the link's {what} is {len(text):,} characters, over the {MAX_LINK_CHARS:,} a link may "
                        "carry; share the network JSON file instead")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise LinkError(f"the link's {what} is damaged: it is not base64url text (was the link cut or edited?)") from None
    d = zlib.decompressobj()
    try:
        raw = d.decompress(packed, MAX_UPLOAD_BYTES + 1)
    except zlib.error:
        raise LinkError(f"the link's {what} is damaged: it is not compressed data (was the link cut or edited?)") from None
    if len(raw) > MAX_UPLOAD_BYTES or d.unconsumed_tail:
        raise LinkError(f"the link's {what} unpacks to more than {MAX_UPLOAD_BYTES // 2**20} MB; a network spec is "
                        "a few KB")
    if not d.eof:
        raise LinkError(f"the link's {what} is cut short (was the link copied whole?)")
    return raw


def network_params(spec: NetSpec) -> dict[str, str]:
    """The address parameters of a network: its preset's name when it is one unchanged."""
    d = spec.to_dict()
    for name in list_presets():
        if get_preset(name).spec.to_dict() == d:
            return {"preset": name}
    return {"net": pack(d)}


def network_from_params(params: dict[str, str]) -> tuple[NetSpec, str | None]:
    """(network, its preset name or None) from the address parameters; LinkError or
    SpecError (the upload check's message) when refused."""
    if "preset" in params:
        name = params["preset"]
        if name not in list_presets():
            raise LinkError(f"the link names the preset {name[:60]!r}, which does not exist; available: "
                            f"{', '.join(list_presets())}")
        return get_preset(name).spec, name
    return parse_network_json(unpack(params["net"], "network")), None


def train_params(recipe: str, cfg: dict, dataset: str) -> dict[str, str]:
    """The Train page's settings as one parameter: the recipe, a built-in dataset and the
    page's settings that differ from the recipe (no device, no path)."""
    base = make_config(recipe).to_dict()
    changed = {k: cfg[k] for k, opt in OPTIONS.items()
               if opt.page is not None and opt.page.kind != "devices" and cfg.get(k) != base.get(k)}
    out = {"recipe": recipe, "settings": changed}
    if dataset in DATASETS:
        out["dataset"] = dataset
    return {TRAIN_KEY: pack(out)}


def train_from_params(text: str) -> tuple[str, str | None, dict]:
    """(recipe, dataset or None, {option: value}) of a link's training settings, each
    checked against the option's rules and the page widget's bounds; LinkError if not."""
    try:
        d = json.loads(unpack(text, "training settings").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise LinkError("the link's training settings are damaged: not JSON") from None
    if not isinstance(d, dict) or not isinstance(d.get("settings", {}), dict):
        raise LinkError("the link's training settings are damaged: expected {recipe, dataset, settings}")
    recipe, dataset, settings = d.get("recipe"), d.get("dataset"), d.get("settings", {})
    if recipe not in RECIPES:
        raise LinkError(f"the link's recipe {str(recipe)[:40]!r} is unknown; recipes: {', '.join(RECIPES)}")
    if dataset is not None and dataset not in DATASETS:
        raise LinkError(f"the link's dataset {str(dataset)[:40]!r} is not a built-in one ({', '.join(DATASETS)})")
    for k, v in settings.items():
        _check_setting(k, v)
    try:
        make_config(recipe, **settings)
    except ConfigError as e:
        raise LinkError(f"the link's training settings are refused: {e}") from None
    return recipe, dataset, settings


def _check_setting(k: str, v) -> None:
    """One shared setting: a Train-page option (not the device) within the page's bounds."""
    opt = OPTIONS.get(k)
    if opt is None or opt.page is None or opt.page.kind == "devices":
        raise LinkError(f"the link's training settings name {str(k)[:40]!r}, which the Train page does not set")
    w = opt.page
    if w.kind == "select" and v not in opt.choices:
        raise LinkError(f"the link's {w.label} {repr(v)[:40]} is not one of: {', '.join(opt.choices)}")
    if w.kind == "checkbox" and not isinstance(v, bool):
        raise LinkError(f"the link's {w.label} must be true or false, got {repr(v)[:40]}")
    if w.kind in ("number", "slider") and not (v is None and w.zero_is_none):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and w.lo <= v <= w.hi
        if not ok:
            raise LinkError(f"the link's {w.label} is {repr(v)[:40]}; the Train page takes {w.lo:g} to {w.hi:g}")


# ---- Streamlit: read the link once, write the address, show it ---------------------------------
def _given(keys) -> dict[str, str]:
    return {k: st.query_params[k] for k in keys if k in st.query_params}


def _new(kind: str, given: dict) -> bool:
    """Whether these parameters were neither applied nor written by this session yet."""
    token = json.dumps(given, sort_keys=True)
    seen = st.session_state.setdefault(_SEEN, {})
    if not given or seen.get(kind) == token:
        return False
    seen[kind] = token
    return True


def apply_network_link() -> None:
    """At the top of a page, before its widgets: a link's network, new to this session,
    becomes the current network; a refused one leaves it as it was, with the reason."""
    given = _given(NET_KEYS)
    if not _new("net", given):
        return
    try:
        spec, base = network_from_params(given)
    except SpecError as e:
        st.session_state[_ERROR] = (f"This link's network was refused, so the page keeps the network it had "
                                    f"({current_spec().name}): {e}", version())
        return
    set_spec(spec, base)
    st.session_state[_ERROR] = None
    st.session_state[_OPENED] = f"Opened '{spec.name}' from the link ({len(spec.layers)} layers)."
    st.rerun()  # the sidebar, drawn before this page, shows the linked network too


def apply_train_link() -> None:
    """On the Train page, before its widgets: a link's training settings, new to this
    session, become the widgets' values; a refused one changes none of them."""
    given = _given((TRAIN_KEY,))
    if not _new("train", given):
        return
    try:
        recipe, dataset, settings = train_from_params(given[TRAIN_KEY])
    except SpecError as e:
        st.session_state[_ERROR] = (f"This link's training settings were refused; the settings are unchanged: {e}",
                                    version())
        return
    st.session_state["tr_recipe"] = recipe
    if dataset:
        st.session_state["tr_dataset"] = dataset
    for k, v in settings.items():
        w = OPTIONS[k].page
        st.session_state[f"tr_{recipe}_{w.key}"] = (0 if v is None else OPTIONS[k].kind(v)) if w.kind in (
            "number", "slider") else v


def refused() -> None:
    """The message of a refused link, until the network next changes (and the toast of
    an opened one, once)."""
    opened = st.session_state.pop(_OPENED, None)
    if opened:
        st.toast(opened, icon=":material/link:")
    err = st.session_state.get(_ERROR)
    if err and err[1] == version():
        st.error(err[0], icon=":material/link_off:")


def write_link(params: dict[str, str]) -> str:
    """Put the parameters in the address (only those that changed) and return the link."""
    seen = st.session_state.setdefault(_SEEN, {})
    for k in (*NET_KEYS, TRAIN_KEY):
        if k in params and st.query_params.get(k) != params[k]:
            st.query_params[k] = params[k]
        elif k not in params and k in st.query_params and (k != TRAIN_KEY or TRAIN_KEY in params):
            del st.query_params[k]
    net = {k: params[k] for k in NET_KEYS if k in params}
    seen["net"] = json.dumps(net, sort_keys=True)
    if TRAIN_KEY in params:
        seen["train"] = json.dumps({TRAIN_KEY: params[TRAIN_KEY]}, sort_keys=True)
    base = (st.context.url or "").split("?")[0]
    return f"{base}?{urlencode(params)}"


def copy_link(params: dict[str, str], what: str = "this network") -> None:
    """The address of ``what`` (written into the page's address too) with a copy button."""
    link = write_link(params)
    st.markdown(f"**Share {what} by link** — anyone who opens it sees the same; copy it with the button at the right "
                "(or copy the address bar).")
    st.code(link, language=None, wrap_lines=True)
