"""Widgets and actions of the architecture page: pick, edit, fix, save and load a network.

Every edit goes through ``commit``: build the new ``NetSpec`` with the spec's own
editing helpers (which validate), check the memory budget on its summary, and only
then store it with ``explorer.state.set_spec``.  A refused edit leaves the network
untouched, says why next to the widget, and re-creates the widgets from the spec so
they show the real values again.

Widget keys carry ``state.version()`` (bumped by every change) and a local epoch
(bumped by every refusal): after any change all widgets are created afresh from the
spec, so a preset change or a fix can never leave a stale slider behind.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from alexnet import NetSpec, SpecError, get_preset, get_spec, list_presets
from alexnet import layers as L
from alexnet.budget import BUDGET_ACTIVATION_BYTES, BUDGET_WEIGHT_BYTES, budget_problem  # noqa: F401
from alexnet.spec import layer_from_dict
from alexnet.textfmt import human_bytes, shape_text
from explorer import arch_table
from explorer.state import base_is_preset, base_preset, base_spec, current_spec, set_spec, summary_of, version

# ---- the memory budget ------------------------------------------------------------------
# The arithmetic never allocates tensors, but the Train and Activations pages build what
# is edited here.  No edit, fix or upload may produce a network above these limits.
MAX_UPLOAD_MB = 1  # the uploader states it ("Limit 1MB per file"); a 256-layer spec is ~40 KB of JSON
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20  # the same limit for pasted JSON
BUDGET_TEXT = (f"Memory budget: at most {human_bytes(BUDGET_WEIGHT_BYTES)} of fp32 weights and "
               f"{human_bytes(BUDGET_ACTIVATION_BYTES)} of activations per image; edits or uploads beyond "
               "are refused. The table's arithmetic never allocates tensors.")

# ---- widget bounds of the input (a layer's fields carry their own: alexnet.layers) ---------
B = {"side": 1024, "in_channels": 64}

# what the "new layer type" box offers where the tensor is C×H×W, and where it is flat
SPATIAL_INSERT = tuple(n for n, lt in L.REGISTRY.items() if lt.insertable and lt.where != "flat")
FLAT_INSERT = tuple(sorted((n for n, lt in L.REGISTRY.items() if lt.insertable and lt.where != "spatial"),
                           key=lambda n: L.get(n).category != "classifier"))  # linear first

_SEL, _EPOCH, _MSG, _IO_MSG, _TYPED, _BATCH = ("arch_sel", "arch_epoch", "arch_msg", "arch_io_msg",
                                                "arch_typed", "arch_batch")
_KEYS_AT, _OWN_AT = "arch_keys_at", "arch_own_at"  # see prefix()


# --------------------------------------------------------------------------------------
# actions (pure-ish: they only touch session state through explorer.state and the keys above)
# --------------------------------------------------------------------------------------
def prefix() -> str:
    """Widget keys: new ones (widgets drawn afresh from the spec) after every change, except one
    that a widget made itself (its value already is the spec's).  Rebuilding ~20 widgets costs
    the browser far more than the table (bench/browser_latency.py), so a slider keeps its key."""
    v = version()
    if st.session_state.get(_OWN_AT) != v or _KEYS_AT not in st.session_state:
        st.session_state[_KEYS_AT] = v
    return f"arch{st.session_state[_KEYS_AT]}e{st.session_state.get(_EPOCH, 0)}"


def _refuse(text: str, where: str = "layer") -> None:
    """Keep the refusal for the place it came from ('top': preset and input boxes, 'layer': the
    layer panel, 'fix<i>': row i's fix buttons): it is shown next to that control."""
    st.session_state[_MSG] = ("error", text, where)
    st.session_state[_EPOCH] = st.session_state.get(_EPOCH, 0) + 1  # widgets re-read the spec


def commit(make: Callable[[NetSpec], NetSpec], done: str | None = None, base: str | None = None,
           where: str = "layer", own: bool = False) -> bool:
    """Apply an edit if the result is a valid network within the budget; a refusal is said
    at ``where`` (see _refuse).  ``own``: the edit is a widget's own new value (see prefix)."""
    try:
        new = make(current_spec())
    except (SpecError, ValueError, TypeError, KeyError) as e:
        _refuse(f"Not applied — {e}", where)
        return False
    problem = budget_problem(summary_of(new))
    if problem:
        _refuse(f"Not applied — the network would be too big: it {problem}", where)
        return False
    set_spec(new, base=base)
    st.session_state[_OWN_AT] = version() if own else None
    st.session_state[_MSG] = ("success", done) if done else None
    st.session_state[_IO_MSG] = None
    n = len(new.layers)
    if st.session_state.get(_SEL, 0) >= n:
        st.session_state[_SEL] = n - 1
    return True


def load_preset(name: str) -> None:
    if commit(lambda _: get_spec(name), f"Loaded preset {name}.", base=name, where="top"):
        st.session_state[_SEL] = 0


def reset_to_preset() -> None:
    if base_is_preset():
        load_preset(base_preset())
    elif commit(lambda _: base_spec(), f"Back to {base_preset()} as loaded.", base=base_spec(), where="top"):
        st.session_state[_SEL] = 0


def apply_fix(index: int, fix: dict) -> bool:
    """Apply one of the fixes ``alexnet.summarize`` suggests for a row."""
    kind, done, where = fix.get("kind"), f"Applied: {fix['label']}.", f"fix{index}"
    if kind == "field":
        return commit(lambda s: s.with_layer(index, s.layers[index].replace(**{fix["field"]: fix["value"]})),
                      done, where=where)
    if kind == "input":
        return commit(lambda s: s.with_input(height=fix["height"], width=fix["width"]), done, where=where)
    if kind == "delete":
        return commit(lambda s: s.delete_layer(index), done, where=where)
    _refuse(f"unknown fix {fix!r}", where)
    return False


def set_field(index: int, field: str, value) -> bool:
    """A field widget's new value (only widgets call this)."""
    return commit(lambda s: s.with_layer(index, s.layers[index].replace(**{field: value})), own=True)


def change_type(index: int, new_type: str) -> bool:
    """Swap an activation for another, max for average pooling, … keeping shared fields."""
    def make(s: NetSpec) -> NetSpec:
        old = s.layers[index].to_dict()
        new = layer_from_dict({"type": new_type, "name": old.get("name")})
        keep = {k: v for k, v in old.items() if k in new.to_dict() and k != "type"}
        return s.with_layer(index, layer_from_dict({**keep, "type": new_type}))
    return commit(make)


def default_layer(layer_type: str, out_shape) -> object:
    """A new layer that keeps the tensor's shape where it can (3×3 'same' conv with the
    incoming channels; a linear as wide as its input), so inserting breaks nothing."""
    return layer_from_dict(L.get(layer_type).new_layer(out_shape))


def insert_after(index: int, layer_type: str, out_shape) -> bool:
    if commit(lambda s: s.insert_layer(index + 1, default_layer(layer_type, out_shape)),
              f"Inserted a {layer_type} layer after #{index}."):
        st.session_state[_SEL] = index + 1
        return True
    return False


def delete(index: int) -> bool:
    return commit(lambda s: s.delete_layer(index), f"Deleted layer #{index}.")


def move(index: int, delta: int) -> bool:
    if commit(lambda s: s.move_layer(index, delta), f"Moved layer #{index} {'up' if delta < 0 else 'down'}."):
        st.session_state[_SEL] = max(0, min(index + delta, len(current_spec().layers) - 1))
        return True
    return False


def parse_network_json(data: bytes | str) -> NetSpec:
    """Validate an uploaded/pasted network; raises SpecError with a message for a person."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_UPLOAD_BYTES:
        raise SpecError(f"the file is {human_bytes(len(raw))}; a network spec is at most "
                        f"{human_bytes(MAX_UPLOAD_BYTES)} (it is a short JSON list of layers)")
    if not raw.strip():
        raise SpecError("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("not a text file (not UTF-8): expected the JSON this page downloads") from None
    try:
        spec = NetSpec.from_json(text)
    except SpecError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise SpecError(f"not a network spec: {type(e).__name__}: {e}") from None
    problem = budget_problem(summary_of(spec))
    if problem:
        raise SpecError(f"the network is too big: it {problem}")
    return spec


def load_json(data: bytes | str, source: str) -> bool:
    try:
        spec = parse_network_json(data)
    except SpecError as e:
        st.session_state[_IO_MSG] = ("error", f"{source} refused — the network is unchanged: {e}")
        return False
    set_spec(spec, base=spec)  # its own base: Reset and the diff refer to it, not to a preset
    st.session_state[_SEL] = 0
    st.session_state[_IO_MSG] = ("success", f"Loaded '{spec.name}' from {source.lower()} "
                                            f"({len(spec.layers)} layers).")
    return True


# --------------------------------------------------------------------------------------
# widgets
# --------------------------------------------------------------------------------------
def css() -> None:
    st.html(arch_table.CSS)


def typed() -> bool:
    return bool(st.session_state.get(_TYPED, False))


def selected(spec: NetSpec) -> int:
    i = int(st.session_state.get(_SEL, 0))
    return max(0, min(i, len(spec.layers) - 1))


def top_bar(spec: NetSpec) -> None:
    """Preset picker, input C/H/W and reset, in one row; the preset's note under it."""
    names = list_presets()
    base = base_preset()
    p = prefix()
    cols = st.columns([2.4, 0.75, 0.9, 0.9, 1.2], vertical_alignment="bottom")
    cols[0].selectbox("Preset (a network from the tutorials)", names,
                      index=names.index(base) if base_is_preset() and base in names else None, key=f"{p}_preset",
                      placeholder=f"{base} (your own) — pick a preset to replace it",
                      on_change=lambda: st.session_state[f"{p}_preset"] and load_preset(
                          st.session_state[f"{p}_preset"]))
    c, h, w = spec.input.shape
    for col, label, fld, val, hi in ((cols[1], "input C", "channels", c, B["in_channels"]),
                                     (cols[2], "input H", "height", h, B["side"]),
                                     (cols[3], "input W", "width", w, B["side"])):
        key = f"{p}_in_{fld}"
        col.number_input(label, 1, max(hi, val), val, step=1, key=key,
                         on_change=_commit_input, args=(fld, key))
    cols[4].button("Reset", icon=":material/restart_alt:", key=f"{p}_reset", on_click=reset_to_preset,
                   help=f"Discard edits and reload {base}", width="stretch")
    messages(_MSG, "top")  # a refused preset or input size is said under these boxes
    own = not base_is_preset()
    note = "loaded from a file, pasted, or taken from a run; Reset returns to it" if own else get_preset(base).note
    edited = spec != base_spec()
    st.caption(("**Edited** from " if edited else "") + f"**{base}** — {note}")


def _commit_input(field: str, key: str) -> None:
    commit(lambda s: s.with_input(**{field: int(st.session_state[key])}), where="top", own=True)


def table(summary: dict, sel: int) -> None:
    """The live table, cut after every row that has fixes; its fix buttons sit under it."""
    p = prefix()
    for seg in arch_table.table_segments(summary, sel):
        st.html(seg.html)
        if seg.row is not None:
            row = seg.row
            box = st.container(key=f"fixrow{'err' if row['status'] == 'error' else ''}{p}_{row['index']}")
            line = box.container(horizontal=True, vertical_alignment="center")  # buttons as wide as their
            line.markdown("**Fix:**", width="content")  # words, wrapping to a new line when the table is narrow
            for j, fix in enumerate(seg.fixes):
                line.button(fix["label"], key=f"{p}_fix_{row['index']}_{j}", on_click=apply_fix,
                            args=(row["index"], fix), width="content")
            with box:
                messages(_MSG, f"fix{row['index']}")


def totals(summary: dict) -> None:
    """Totals under the table, with the batch size for training memory."""
    from types import SimpleNamespace

    from alexnet.arithmetic import training_memory_bytes
    from alexnet.textfmt import human_count

    a, b = st.columns([1, 4], vertical_alignment="center")
    batch = a.number_input("batch size", 1, 4096, st.session_state.get(_BATCH, 128), key=_BATCH,
                           help="for the training-memory estimate")
    s = SimpleNamespace(param_bytes=summary["param_bytes"], activation_bytes=summary["activation_bytes"])
    b.markdown(
        ("Partial totals (layers before the collapse only): " if summary["errors"] else "") +
        f"**{summary['total_params']:,}** parameters ({human_count(summary['total_params'])}, "
        f"{human_bytes(summary['param_bytes'])} fp32) · **{human_count(summary['total_macs'])}** multiply-adds "
        f"per image · activations **{human_bytes(summary['activation_bytes'])}** per image, "
        f"**{human_bytes(summary['activation_bytes'] * batch)}** for a batch of {batch} · training with SGD "
        f"≈ **{human_bytes(training_memory_bytes(s, batch, 'sgd'))}** (weights, grads, momentum, "
        "2× activations)")


def _rename(key: str) -> None:
    name = (st.session_state.get(key) or "").strip()
    if name:
        commit(lambda s: s.replace(name=name), f"Renamed the network to {name}.", own=True)


def save_and_load(spec: NetSpec) -> None:
    """Download the JSON; upload or paste one (validated; a refused file changes nothing)."""
    a, b, c = st.columns(3, gap="medium")
    key = f"{prefix()}_name"
    a.text_input("Network name (the file name on download)", spec.name, key=key, max_chars=80, on_change=_rename,
                 args=(key,), help="an edited preset keeps the preset's name until you give it one of its own")
    a.download_button("Download network JSON", spec.to_json(), icon=":material/download:",
                      file_name=f"{spec.name}.json",
                      mime="application/json", width="stretch")
    a.caption("The package's format; `python -m alexnet summary --config file.json` reads it too.")
    key = f"arch_upload_{version()}"  # a successful load bumps the version: the uploader empties

    def uploaded():
        f = st.session_state.get(key)
        if f is not None:
            load_json(f.getvalue(), "Upload")

    b.file_uploader("Upload a network JSON", type=["json"], max_upload_size=MAX_UPLOAD_MB,
                    key=key, on_change=uploaded)
    with c.form("arch_paste", border=False):
        st.text_area("…or paste JSON", height=68, key="arch_paste_text")
        st.form_submit_button("Load pasted JSON",
                              on_click=lambda: load_json(st.session_state.get("arch_paste_text", ""), "Pasted JSON"))
    messages(_IO_MSG)


def messages(key: str, where: str | None = None) -> None:
    """An error stays in place until the next successful action, shown where it came from
    (``where``; None shows any); a success is a toast, once."""
    m = st.session_state.get(key)
    if m:
        level, text, *came_from = m
        if level == "error" and where is not None and came_from and came_from[0] != where:
            return
        if level == "error":
            st.error(text)
        else:
            st.toast(text)
            st.session_state[key] = None


def layer_panel(spec: NetSpec, summary: dict) -> None:
    """Pick a layer; edit every field of it; insert / delete / move."""
    p = prefix()
    sel = selected(spec)
    rows = summary["layers"]

    def label(i: int) -> str:
        r = rows[i]
        shape = shape_text(r["out_shape"], "") or {"error": "ERROR"}.get(r["status"], "—")
        flag = {"inexact": " · inexact"}.get(r["status"], "")  # an error row already says ERROR
        return f"#{i} {r['name']} ({r['type']}) → {shape}{flag}"

    sk = f"{p}v{version()}_sel"  # its labels show the shapes: a box kept across a change sends an old label back
    st.selectbox("Layer to edit", range(len(spec.layers)), index=sel, format_func=label, key=sk,
                 on_change=lambda: st.session_state.__setitem__(_SEL, st.session_state[sk]))
    row, layer = rows[sel], spec.layers[sel]
    if row["formula"] or row.get("params_formula"):
        lines = []
        if row["in_shape"]:
            lines.append(f"{shape_text(row['in_shape'], '')} → "
                         f"{shape_text(row['out_shape'], '') or row['status']}")
        if row["formula"]:
            lines.append("N = " + row["formula"] if not row["formula"].startswith(("H:", "same", "adaptive"))
                         else row["formula"])
        if row.get("params_formula"):
            lines.append("params = " + row["params_formula"])
        st.code("\n".join(lines), language=None, wrap_lines=True)
    messages(_MSG, "layer")
    _fields(spec, sel, layer, row, p)
    st.toggle("type numbers instead of sliders", key=_TYPED)
    a, b, c = st.columns([1, 1, 2])  # the arrows alone, so the three fit a 270-px panel whole
    a.button(":material/arrow_upward:", key=f"{p}_up", on_click=move, args=(sel, -1), help="move the layer up",
             disabled=sel == 0, width="stretch")
    b.button(":material/arrow_downward:", key=f"{p}_down", on_click=move, args=(sel, 1),
             help="move the layer down", disabled=sel == len(spec.layers) - 1, width="stretch")
    c.button("delete", icon=":material/delete:", key=f"{p}_del", on_click=delete, args=(sel,),
             disabled=len(spec.layers) == 1, width="stretch")
    flat = bool(row["out_shape"]) and len(row["out_shape"]) == 1
    d, e = st.columns([1.3, 1], vertical_alignment="bottom")
    kinds = FLAT_INSERT if flat else SPATIAL_INSERT
    d.selectbox(f"new layer after #{sel}", kinds, key=f"{p}_newtype")
    e.button("insert", icon=":material/add:", key=f"{p}_ins", width="stretch", help=f"insert it after layer #{sel}",
             on_click=lambda: insert_after(sel, st.session_state[f"{p}_newtype"], row["out_shape"]))


def _int(col, label: str, value, lo: int, hi: int, key: str, index: int, field: str, help=None) -> None:
    """One int-or-pair field: a slider (or a number box when typing), two when H ≠ W."""
    pair = isinstance(value, (list, tuple))
    vals = list(value) if pair else [value]
    keys = [f"{key}_h", f"{key}_w"] if pair else [key]
    hi = max(hi, *vals)

    def cb():
        got = [int(st.session_state[k]) for k in keys]
        set_field(index, field, got if pair else got[0])

    for v, k, suffix in zip(vals, keys, (" H", " W") if pair else ("",)):
        if typed() or hi <= lo:
            col.number_input(label + suffix, lo, max(hi, lo), v, step=1, key=k, on_change=cb, help=help)
        else:
            col.slider(label + suffix, lo, hi, v, key=k, on_change=cb, help=help)


def _fields(spec: NetSpec, i: int, layer, row: dict, p: str) -> None:
    """Every field of the layer, as its registry entry describes it (alexnet.layers)."""
    lt = L.get(layer.type)
    k = f"{p}_L{i}"
    if lt.swap_group:
        group = [n for n, t in L.REGISTRY.items() if t.swap_group == lt.swap_group]
        st.selectbox(L.SWAP_LABELS.get(lt.swap_group, "type"), group, index=group.index(lt.name), key=f"{k}_type",
                     on_change=lambda: change_type(i, st.session_state[f"{k}_type"]))
    shown = [f for f in lt.fields if f.kind != "bool"]
    if not lt.fields:
        st.caption(f"{lt.name} has no settings: {lt.help}.")
    for n in range(0, len(shown), 2):
        cols = st.columns(2)
        for col, f in zip(cols, shown[n:n + 2]):
            _field(col, spec, i, layer, row, f, f"{k}_{f.name}")
    for f in lt.fields:
        if f.kind == "bool":
            key = f"{k}_{f.name}"
            st.checkbox(lt.editor_label(f, spec, i), getattr(layer, f.name), key=key, help=f.help or None,
                        on_change=lambda f=f, key=key: set_field(i, f.name, st.session_state[key]))


def _field(col, spec: NetSpec, i: int, layer, row: dict, f, key: str) -> None:
    """One non-boolean field: a slider or number box, a pair of them, a padding or a choice."""
    lt = L.get(layer.type)
    label, value = lt.editor_label(f, spec, i), getattr(layer, f.name)
    if f.kind == "padding":
        _padding(col, layer, i, key.rsplit("_", 1)[0], _pad_hi(lt, layer, f))
    elif f.kind == "choice":
        col.selectbox(label, f.choices, index=f.choices.index(value), key=key, help=f.help or None,
                      on_change=lambda: set_field(i, f.name, st.session_state[key]))
    elif f.ui == "divisor":
        _divisor(col, layer, row, f, label, key, i)
    elif f.kind in ("int", "pair", "stride"):
        shown = layer.kernel if (f.kind == "stride" and value is None) else value
        _int(col, label, shown, max(int(f.lo), 1 if f.lo >= 1 else 0), int(f.ui_hi or f.hi), key, i, f.name,
             help=f.help or None)
    elif f.ui == "slider" and not typed():
        col.slider(label, float(f.lo), float(f.ui_hi), float(min(value, f.ui_hi)), f.ui_step, key=key,
                   on_change=lambda: set_field(i, f.name, float(st.session_state[key])))
    else:
        lo = 1e-8 if f.open_lo else float(f.lo)
        _float(col, label, value, lo, float(f.ui_hi or f.hi), f.ui_step or 0.01, f.ui_fmt or "%.3f", key, i,
               help=f.help or None, field=f.name)


def _pad_hi(lt, layer, f) -> int:
    if getattr(lt, "pool", False):  # PyTorch pads a pool by at most half its kernel
        kernel = layer.kernel
        return (min(kernel) if isinstance(kernel, (list, tuple)) else kernel) // 2
    return int(f.ui_hi or f.hi)


def _divisor(col, layer, row: dict, f, label: str, key: str, i: int) -> None:
    """A count that must divide the incoming channels (and a conv's out channels)."""
    value = getattr(layer, f.name)
    cin = row["in_shape"][0] if row["in_shape"] else value
    cout = getattr(layer, "out_channels", cin)
    opts = sorted({g for g in range(1, min(cin, cout) + 1) if cin % g == 0 and cout % g == 0} | {value})
    col.selectbox(label, opts, index=opts.index(value), key=key, help=f.help or None,
                  on_change=lambda: set_field(i, f.name, st.session_state[key]))


def _float(col, label, value, lo, hi, step, fmt, key, index, help=None, field=None):
    field = field or key.rsplit("_", 1)[1]
    col.number_input(label, lo, max(hi, value), float(value), step, format=fmt, key=key, help=help,
                     on_change=lambda: set_field(index, field, float(st.session_state[key])))


def _padding(col, layer, index: int, k: str, hi: int) -> None:
    """Padding: a number (slider) or TensorFlow's 'same' / 'valid'."""
    pad = layer.padding
    mode = pad if isinstance(pad, str) else "number"
    col.selectbox("padding", ("number", "same", "valid"), index=("number", "same", "valid").index(mode),
                  key=f"{k}_padmode", on_change=lambda: set_field(
                      index, "padding", 0 if st.session_state[f"{k}_padmode"] == "number"
                      else st.session_state[f"{k}_padmode"]),
                  help="'same': out = ⌈in/stride⌉ (TF/Keras); 'valid': no padding")
    if mode == "number":
        _int(col, "padding P", pad, 0, hi, f"{k}_padding", index, "padding")
