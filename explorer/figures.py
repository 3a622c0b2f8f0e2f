"""Plotly figures for the architecture page: pure functions of ``alexnet.summarize`` dicts.

* ``network_diagram``  — the network drawn to scale like Figure 2 of the 2012 paper:
  every feature map is a box seen at an angle; its height and (oblique) depth are
  its H and W in input pixels, its thickness along the network axis is its channel
  count (one linear scale for all conv/pool maps).  Fully-connected layers are bars
  whose height follows their width (their own linear scale).
* ``params_macs_bars`` — per layer, its share of the parameters next to its share of
  the multiply-adds: the FC layers hold the weights, the convs do the compute.
* ``diff_rows`` / ``diff_figure`` — what changed against the preset one started from.

No Streamlit here, so the figures can be tested (tests/test_figures.py).  Figures are
built from plain dicts in one go (``go.Figure(dict)``); building them shape by shape
with ``add_shape`` costs ~100 ms, which the slider cannot afford.
"""

from __future__ import annotations

import difflib

import plotly.graph_objects as go

from alexnet import layers as L
from alexnet.textfmt import human_bytes, human_count, shape_text

# colours by layer kind (Tableau 10, readable on white)
COLORS = {"input": "#9aa5b1", "conv": "#4c78a8", "pool": "#f58518", "adaptive": "#e45756",
          "linear": "#54a24b", "error": "#d62728"}
DRAWN = tuple(n for n, lt in L.REGISTRY.items() if lt.diagram)  # drawn to scale; the rest is not
OBLIQUE = 0.35  # depth (W) is drawn at 45° and shortened to this fraction
THICK_FRACTION = 0.35  # the widest conv/pool map is this fraction of the largest side thick
FONT = dict(family="Source Sans Pro, sans-serif", size=11)


def _kind(t: str) -> str:
    """How the drawing shows a layer type: conv, pool, adaptive, linear (its colour)."""
    return (L.get(t).diagram if t in L.REGISTRY else None) or t


def _shade(hex_color: str, f: float) -> str:
    """Lighten (f > 0) or darken (f < 0) a #rrggbb colour."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    if f >= 0:
        r, g, b = (round(c + (255 - c) * f) for c in (r, g, b))
    else:
        r, g, b = (round(c * (1 + f)) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def _poly(points) -> str:
    return "M " + " L ".join(f"{x:.2f} {y:.2f}" for x, y in points) + " Z"


def diagram_boxes(summary: dict) -> list[dict]:
    """The boxes the diagram draws, in order: the input, then every conv/pool/adaptive
    pool/linear layer that computed, then the failing layer if there is one.

    Each box: name, type, kind, shape, h, w (drawn side lengths in pixel units),
    t (thickness), x (left edge), flat (True for FC bars), error (bool), params, macs.
    """
    c, h, w = summary["input"]
    items = [{"name": "input", "type": "input", "kind": "input", "shape": [c, h, w], "params": 0, "macs": 0,
              "error": False}]
    for row in summary["layers"]:
        if row["status"] == "not_computed":
            break
        if row["type"] not in DRAWN and row["status"] != "error":
            continue
        items.append({"name": row["name"], "type": row["type"], "kind": _kind(row["type"]),
                      "shape": row["out_shape"] or row["in_shape"], "params": row["params"],
                      "macs": row["macs"], "error": row["status"] == "error", "index": row["index"]})
    spatial = [b for b in items if b["shape"] and len(b["shape"]) == 3]
    max_c = max((b["shape"][0] for b in spatial), default=1)
    max_side = max((max(b["shape"][1], b["shape"][2]) for b in spatial), default=1)
    flat = [b for b in items if b["shape"] and len(b["shape"]) == 1]
    max_f = max((b["shape"][0] for b in flat), default=1)
    x = 0.0
    for b in items:
        s = b["shape"]
        if s and len(s) == 3:
            b["flat"] = False
            b["h"], b["w"] = float(s[1]), float(s[2])
            b["t"] = max(1.5, THICK_FRACTION * max_side * s[0] / max_c)
        else:  # a fully-connected layer: a bar, height ∝ its width
            b["flat"] = True
            n = s[0] if s else 1
            b["h"] = max(2.0, max_side * n / max_f)
            b["w"] = 0.0
            b["t"] = 4.0
        if b["error"]:  # an empty output: draw a small red outline where it would be
            b["h"] = b["w"] = max(4.0, max_side * 0.06)
            b["t"] = 4.0
        b["x"] = x
        x += b["t"] + b["w"] * OBLIQUE + max(14.0, max_side * 0.09)
    return items


def _box_shapes(b: dict) -> list[dict]:
    """One feature map as a box seen at an angle (front, top, side), or a dotted outline
    where the layer collapses."""
    x0, t, h, d = b["x"], b["t"], b["h"], b["w"] * OBLIQUE
    y0, y1 = -h / 2, h / 2
    base = COLORS["error"] if b["error"] else COLORS.get(b["kind"], "#888888")
    if b["error"]:
        return [dict(type="rect", x0=x0, x1=x0 + t + d, y0=y0, y1=y1 + d,
                     line=dict(color=base, width=2, dash="dot"), fillcolor="rgba(0,0,0,0)")]
    line = dict(color=_shade(base, -0.45), width=1)
    front = [(x0, y0), (x0 + t, y0), (x0 + t, y1), (x0, y1)]
    top = [(x0, y1), (x0 + t, y1), (x0 + t + d, y1 + d), (x0 + d, y1 + d)]
    side = [(x0 + t, y0), (x0 + t + d, y0 + d), (x0 + t + d, y1 + d), (x0 + t, y1)]
    return [dict(type="path", path=_poly(pts), fillcolor=_shade(base, f), line=line, layer="below")
            for pts, f in ((side, -0.25), (top, 0.35), (front, 0.0))]


def _kernel_marks(summary: dict, items: list[dict]) -> list[dict]:
    """The kernel of each conv drawn to scale on the front face of the map it reads."""
    marks = []
    for prev, b in zip(items, items[1:]):
        if _kind(b["type"]) == "conv" and not prev["flat"] and not b["error"]:
            k = _kernel_side(summary, b["index"])
            if k and k < prev["h"]:
                kx = prev["x"] + prev["t"] * 0.15
                marks.append(dict(type="rect", x0=kx, x1=kx + min(k, prev["t"] * 0.7), y0=prev["h"] / 2 - k - 2,
                                  y1=prev["h"] / 2 - 2, line=dict(color="#222222", width=1),
                                  fillcolor="rgba(255,255,255,0.55)"))
    return marks


def network_diagram(summary: dict) -> go.Figure:
    """The to-scale box diagram (see the module docstring)."""
    items = diagram_boxes(summary)
    shapes, hx, hy, htext = [], [], [], []
    annotations = []
    max_h = max(b["h"] for b in items)
    label_y = -max_h / 2 - 6
    for n, b in enumerate(items):
        shapes += _box_shapes(b)
        d = b["w"] * OBLIQUE
        hx.append(b["x"] + (b["t"] + d) / 2)
        hy.append(d / 2)
        shape = shape_text(b["shape"]) if not b["error"] else "collapses"
        tip = f"<b>{b['name']}</b> ({b['type']})<br>output {shape}"
        if b["params"]:
            tip += f"<br>{b['params']:,} parameters<br>{b['macs']:,} multiply-adds"
        htext.append(tip)
        # labels alternate between two lines so neighbours do not overlap
        annotations.append(dict(x=hx[-1], y=label_y, yanchor="top", showarrow=False,
                                text=f"<b>{b['name']}</b><br>{shape}", font=dict(size=10,
                                color=COLORS["error"] if b["error"] else "#333333"),
                                yshift=-24 if n % 2 else 0))
    shapes += _kernel_marks(summary, items)
    broken = [r for r in summary["layers"] if r["status"] == "not_computed"]
    if broken:
        last = items[-1]
        annotations.append(dict(x=last["x"] + last["t"] + 14, y=0, xanchor="left", showarrow=False,
                                text=f"{len(broken)} later layers<br>not computed",
                                font=dict(size=11, color=COLORS["error"])))
    xmax = items[-1]["x"] + items[-1]["t"] + items[-1]["w"] * OBLIQUE + (90 if broken else 10)
    ymax = max(b["h"] / 2 + b["w"] * OBLIQUE for b in items) + 6
    title = (f"{summary['name']} to scale: box height × depth = feature-map H × W (pixels), "
             f"thickness ∝ channels; FC layers are bars ∝ width")
    fig = {
        "data": [{"type": "scatter", "x": hx, "y": hy, "mode": "markers", "hovertext": htext,
                  "hoverinfo": "text", "marker": {"size": 18, "opacity": 0}, "showlegend": False}],
        "layout": {
            "title": {"text": title, "font": {"size": 13}, "x": 0.01},
            "shapes": shapes, "annotations": annotations,
            "xaxis": {"visible": False, "range": [-8, xmax], "fixedrange": True},
            "yaxis": {"visible": False, "range": [label_y - 62, ymax], "scaleanchor": "x", "scaleratio": 1,
                      "fixedrange": True},
            "height": 400, "margin": {"l": 4, "r": 4, "t": 34, "b": 4},
            "plot_bgcolor": "white", "paper_bgcolor": "white", "font": FONT, "hovermode": "closest",
        },
    }
    return _figure(fig)


def _h(v) -> float:
    return float(v[0] if isinstance(v, (list, tuple)) else v)


def _kernel_side(summary: dict, index: int) -> int | None:
    """A conv's (dilated) kernel height, recovered from the receptive-field recurrence
    r' = r + (F − 1)·j of the summary's own numbers."""
    rows = summary["layers"]
    r_prev, j_prev = (1.0, 1.0) if index == 0 else (rows[index - 1]["receptive_field"], rows[index - 1]["jump"])
    r = rows[index]["receptive_field"]
    if r is None or r_prev is None or j_prev is None:
        return None
    return round((_h(r) - _h(r_prev)) / _h(j_prev)) + 1


def params_macs_bars(summary: dict) -> go.Figure | None:
    """Horizontal bars: each weighted layer's % of all parameters and of all multiply-adds.
    None when no layer has parameters."""
    rows = [r for r in summary["layers"] if r["params"] or r["macs"]]
    if not rows:
        return None
    names = [r["name"] for r in rows]
    partial = any(r["status"] in ("error", "not_computed") for r in summary["layers"])
    traces = []
    for label, key, color in (("parameters", "params", COLORS["linear"]),
                              ("multiply-adds", "macs", COLORS["conv"])):
        traces.append({
            "type": "bar", "orientation": "h", "name": label, "y": names,
            "x": [r[key + "_pct"] for r in rows], "marker": {"color": color},
            "customdata": [[f"{r[key]:,}", human_count(r[key])] for r in rows],
            "hovertemplate": "%{y}: %{x:.1f} % of " + label + " (%{customdata[0]})<extra></extra>",
            "text": [f"{r[key + '_pct']:.0f}%" if r[key + "_pct"] >= 1 else "" for r in rows],
            "textposition": "outside", "cliponaxis": False,
        })
    title = (f"Weights vs compute<br><sub>{human_count(summary['total_params'])} parameters, "  # two short lines:
             f"{human_count(summary['total_macs'])} multiply-adds per image"  # a half-width chart clips one long one
             + ("<br>(the layers that compute)" if partial else "") + "</sub>")
    fig = {
        "data": traces,
        "layout": {
            "title": {"text": title, "font": {"size": 13}, "x": 0.01},
            "barmode": "group", "bargap": 0.25,
            "xaxis": {"title": {"text": "share of the network's total (%)"}, "range": [0, 112],
                      "ticksuffix": "%", "fixedrange": True},
            "yaxis": {"autorange": "reversed", "title": {"text": "layer"}, "fixedrange": True},
            # the legend in its own strip under the axis title, never on it
            "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
            "height": 170 + 34 * len(rows), "margin": {"l": 8, "r": 8, "t": 64 if partial else 50, "b": 70},
            "font": FONT, "plot_bgcolor": "white",
        },
    }
    return _figure(fig)


# --------------------------------------------------------------------------------------
# changes against the starting preset
# --------------------------------------------------------------------------------------
def _aligned(a: list[dict], b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Pairs of summary rows (None: removed or added): by type in order, or by name and type
    (``_by_name``), whichever leaves fewer rows unpaired (a tie keeps the order by type: an
    inserted or deleted layer renumbers the automatic names after it, 'lrn2' becoming 'lrn1')."""
    by_type, by_name = _by_type(a, b), _by_name(a, b)

    def unpaired(pairs: list) -> int:
        return sum(x is None or y is None for x, y in pairs)

    return by_name if unpaired(by_name) < unpaired(by_type) else by_type


def _by_name(a: list[dict], b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """A layer pairs with the one of the same name and type (its role), also when it moved (a
    dropout before or after its linear); the layers left over pair by type in order."""
    def key(r: dict) -> tuple:
        return r["type"], r["name"]

    ops = _opcodes([key(r) for r in a], [key(r) for r in b])
    loose = [{key(r) for op, *ij in ops if op != "equal" for r in rows[ij[lo]:ij[lo + 1]]}
             for rows, lo in ((a, 0), (b, 2))]
    moved, a_of = loose[0] & loose[1], {key(r): r for r in a}
    out: list = []
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            out += zip(a[i1:i2], b[j1:j2])
            continue
        out += [(a_of[key(r)], r) for r in b[j1:j2] if key(r) in moved]
        out += _by_type([r for r in a[i1:i2] if key(r) not in moved], [r for r in b[j1:j2] if key(r) not in moved])
    return out


def _by_type(a: list[dict], b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    out: list = []
    for op, i1, i2, j1, j2 in _opcodes([r["type"] for r in a], [r["type"] for r in b]):
        n = min(i2 - i1, j2 - j1) if op in ("equal", "replace") else 0
        out += zip(a[i1:i1 + n], b[j1:j1 + n])
        out += [(ra, None) for ra in a[i1 + n:i2]] + [(None, rb) for rb in b[j1 + n:j2]]
    return out


def _opcodes(a: list, b: list):
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()


def diff_rows(base: dict, cur: dict) -> list[dict]:
    """Rows that differ between two summaries, layers paired by name and type (``_aligned``),
    so that inserting a layer shows as one 'added' row rather than renaming everything after it.

    Each row: name, base_name, change ('changed' | 'added' | 'removed' | 'input'),
    base_shape, shape (text), base_params, params, d_params, base_macs, macs.
    """
    out: list[dict] = []
    if list(base["input"]) != list(cur["input"]):
        out.append({"name": "input", "base_name": "input", "change": "input",
                    "base_shape": shape_text(base["input"]), "shape": shape_text(cur["input"]),
                    "base_params": 0, "params": 0, "d_params": 0, "base_macs": 0, "macs": 0})

    def pair(ra, rb):
        sa, sb = _row_shape(ra), _row_shape(rb)
        if sa != sb or ra["params"] != rb["params"] or ra["macs"] != rb["macs"] or ra["status"] != rb["status"]:
            out.append({"name": rb["name"], "base_name": ra["name"], "change": "changed",
                        "base_shape": sa, "shape": sb, "base_params": ra["params"], "params": rb["params"],
                        "d_params": rb["params"] - ra["params"], "base_macs": ra["macs"], "macs": rb["macs"]})

    for ra, rb in _aligned(base["layers"], cur["layers"]):
        if ra is not None and rb is not None:
            pair(ra, rb)
        elif ra is not None:
            out.append({"name": ra["name"], "base_name": ra["name"], "change": "removed",
                        "base_shape": _row_shape(ra), "shape": "—", "base_params": ra["params"], "params": 0,
                        "d_params": -ra["params"], "base_macs": ra["macs"], "macs": 0})
        else:
            out.append({"name": rb["name"], "base_name": "—", "change": "added",
                        "base_shape": "—", "shape": _row_shape(rb), "base_params": 0, "params": rb["params"],
                        "d_params": rb["params"], "base_macs": 0, "macs": rb["macs"]})
    return out


def _row_shape(r: dict) -> str:
    if r["status"] == "error":
        return "error"
    if r["status"] == "not_computed":
        return "not computed"
    return shape_text(r["out_shape"])


MIRRORS = tuple(n for n, lt in L.REGISTRY.items() if not lt.diagram)  # follow the layer before them


def diff_figure(base: dict, cur: dict) -> go.Figure | None:
    """One bar per changed layer: its change in parameters; the label says how its output
    shape changed.  Activation/dropout/LRN rows that only mirror the layer before them are
    left out (their change is the previous row's).  None when nothing changed."""
    rows = diff_rows(base, cur)
    if not rows:
        return None
    shown = [r for r in rows if not (r["change"] == "changed" and r["d_params"] == 0
                                     and _type_of(cur, r["name"]) in MIRRORS)]
    labels = []
    for r in shown:
        if r["change"] == "added":
            labels.append(f"{r['name']} (added): {r['shape']}")
        elif r["change"] == "removed":
            labels.append(f"{r['name']} (removed): was {r['base_shape']}")
        elif r["base_shape"] == r["shape"]:
            labels.append(f"{r['name']}: {r['shape']}")
        else:
            labels.append(f"{r['name']}: {r['base_shape']} → {r['shape']}")
    d = [r["d_params"] for r in shown]
    colors = [COLORS["linear"] if v > 0 else COLORS["error"] if v < 0 else "#9aa5b1" for v in d]
    text = [f"{_signed_count(v)} params" if v else "same params" for v in d]
    dt = cur["total_params"] - base["total_params"]
    title = (f"Changes vs preset {base['name']}: parameters {human_count(base['total_params'])} → "
             f"{human_count(cur['total_params'])} ({_signed(dt)})")
    span = max(1, max(abs(v) for v in d))
    fig = {
        "data": [{"type": "bar", "orientation": "h", "y": labels, "x": d, "marker": {"color": colors},
                  "text": text, "textposition": "outside", "cliponaxis": False,
                  "customdata": [[r["base_params"], r["params"]] for r in shown],
                  "hovertemplate": "%{y}<br>params %{customdata[0]:,} → %{customdata[1]:,}<extra></extra>",
                  "showlegend": False}],
        "layout": {
            "title": {"text": title, "font": {"size": 13}, "x": 0.01},
            "xaxis": {"title": {"text": "change in parameters (count)"},
                      "range": [-span * 1.6 if min(d) < 0 else -span * 0.05, span * 1.6 if max(d) > 0 else span * 0.05],
                      "zeroline": True, "zerolinecolor": "#555", "fixedrange": True},
            "yaxis": {"autorange": "reversed", "fixedrange": True, "automargin": True},
            "height": 110 + 26 * len(shown), "margin": {"l": 8, "r": 8, "t": 34, "b": 8},
            "font": FONT, "plot_bgcolor": "white", "bargap": 0.35,
        },
    }
    return _figure(fig)


def _type_of(summary: dict, name: str) -> str | None:
    return next((r["type"] for r in summary["layers"] if r["name"] == name), None)


def _signed_count(v: int) -> str:
    return ("+" if v > 0 else "−") + human_count(abs(v))


def _signed(v: int) -> str:
    return f"+{v:,}" if v > 0 else f"{v:,}".replace("-", "−")


def memory_line(summary: dict, batch: int) -> str:
    """'activations 2.55 MB per image, 326.6 MB for a batch of 128' (fp32 forward outputs)."""
    per = summary["activation_bytes"]
    return f"{human_bytes(per)} per image, {human_bytes(per * batch)} for a batch of {batch}"


def _figure(d: dict) -> go.Figure:
    """Build without plotly's per-property validation (3–4× faster); the tests build every
    figure again with validation on."""
    try:
        return go.Figure(d, _validate=False)
    except TypeError:  # pragma: no cover - plotly without the private flag
        return go.Figure(d)

