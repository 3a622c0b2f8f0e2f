"""Plotly figures for the Activations page.  Pure functions of numpy arrays (no streamlit),
so tests can build them and check what they show.

Feature maps are drawn as ONE heatmap: the maps of a page laid out as tiles of a montage
with NaN gaps between them.  One trace means one shared colour scale and one colour bar, and
it is far cheaper to build and send than a subplot per map (96 subplots take seconds)."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

TILE_GAP = 1  # pixels of gap between montage tiles
LABEL_PX = 14  # screen pixels between rows of feature maps for their 9-px channel numbers


def grid_columns(n: int, max_cols: int = 12) -> int:
    """Columns for n tiles: near-square, at most ``max_cols``."""
    return max(1, min(max_cols, math.ceil(math.sqrt(n))))


def montage(tiles: np.ndarray, ncols: int | None = None, gap: int = TILE_GAP, fill=np.nan,
            row_gap: int | None = None):
    """Lay out tiles [N, h, w] or [N, h, w, C] in rows of ``ncols``, ``gap`` pixels apart
    (``row_gap`` between rows, where labels go).  Returns the montage and each tile's (top, left)."""
    n, h, w = tiles.shape[:3]
    rg = gap if row_gap is None else row_gap
    ncols = ncols or grid_columns(n)
    nrows = max(1, math.ceil(n / ncols))
    shape = (nrows * (h + rg) - rg, ncols * (w + gap) - gap) + tuple(tiles.shape[3:])
    dtype = np.float32 if np.issubdtype(tiles.dtype, np.floating) or isinstance(fill, float) else tiles.dtype
    grid = np.full(shape, fill, dtype=dtype)
    corners = []
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = r * (h + rg), c * (w + gap)
        grid[top:top + h, left:left + w] = tiles[i]
        corners.append((top, left))
    return grid, corners


def _square_axes(fig: go.Figure) -> None:
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")


def feature_grid_figure(maps: np.ndarray, channels, *, zmin: float, zmax: float, title: str,
                        ncols: int | None = None, colorscale: str = "Viridis",
                        label_tiles: bool = True) -> go.Figure:
    """Feature maps [N, h, w] (one page of a layer) as tiles on one shared colour scale
    [zmin, zmax] with a colour bar; hovering a pixel says its channel and value."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    ncols = ncols or grid_columns(n)
    tile_px = max(40, min(120, 900 // ncols))  # on screen
    row_gap = max(TILE_GAP, math.ceil(LABEL_PX * h / tile_px)) if label_tiles else TILE_GAP
    grid, corners = montage(maps, ncols, row_gap=row_gap)
    # which channel each montage pixel belongs to, for the hover text (int16: small to send)
    chan = np.full(grid.shape, -1, dtype=np.int16)
    for ch, (top, left) in zip(channels, corners):
        chan[top:top + h, left:left + w] = ch
    if zmax <= zmin:
        zmax = zmin + 1e-6
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=chan, zmin=zmin, zmax=zmax, colorscale=colorscale, hoverongaps=False,
        colorbar={"title": {"text": "activation"}, "thickness": 14},
        hovertemplate="channel %{customdata}<br>value %{z:.4g}<extra></extra>"))
    if label_tiles:  # channel numbers above the tiles: one text trace (annotations are slow)
        fig.add_trace(go.Scatter(x=[left - 0.5 for _, left in corners], y=[top - 0.5 for top, _ in corners],
                                 text=[str(c) for c in channels], mode="text", textposition="top right",
                                 textfont={"size": 9, "color": "#444"}, hoverinfo="skip", showlegend=False))
    fig.update_layout(title=title, height=min(1400, 60 + round(grid.shape[0] * tile_px / h)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    _square_axes(fig)
    return fig


def filter_tiles(filters: np.ndarray, scale: str = "shared") -> np.ndarray:
    """Filters [N, kh, kw, C] (C = 3 RGB or 1 grey) → uint8 RGB tiles [N, kh, kw, 3].
    'shared': one symmetric scale for all (0 weight = mid grey, so filters compare);
    'per-filter': each stretched to its own min..max (shows the shape of weak filters)."""
    f = np.asarray(filters, dtype=np.float32)
    if scale == "per-filter":
        lo = f.min(axis=(1, 2, 3), keepdims=True)
        hi = f.max(axis=(1, 2, 3), keepdims=True)
        x = (f - lo) / np.maximum(hi - lo, 1e-12)
    else:
        m = float(np.abs(f).max()) or 1.0
        x = 0.5 + 0.5 * f / m
    x = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def filter_grid_figure(filters: np.ndarray, *, title: str, scale: str = "shared",
                       ncols: int | None = None) -> go.Figure:
    """The first conv's filters, one RGB (or grey) tile per output channel."""
    tiles = filter_tiles(filters, scale)
    n, kh, kw, _ = tiles.shape
    ncols = ncols or grid_columns(n, 16)
    grid, corners = montage(tiles, ncols, fill=255)
    fig = go.Figure(go.Image(z=grid, hovertemplate="x %{x}, y %{y}<extra></extra>"))
    fig.update_layout(title=title, height=min(900, 80 + math.ceil(n / ncols) * 46),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.layout.meta = {"tiles": len(corners)}
    return fig


def input_figure(arr: np.ndarray, *, title: str, box: tuple[int, int, int, int] | None = None,
                 box_label: str | None = None, grad_box: tuple[int, int, int, int] | None = None) -> go.Figure:
    """The network's input (uint8 [H, W, C]) with the chosen unit's receptive field as a box
    (top, left, bottom, right; inclusive pixel indices) and, optionally, the bounding box of
    the pixels with a non-zero gradient on this image (dashed)."""
    a = np.asarray(arr)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    elif a.shape[-1] > 3:
        a = a[..., :3]
    h, w = a.shape[:2]
    fig = go.Figure(go.Image(z=a, hovertemplate="row %{y}, col %{x}<extra></extra>"))
    if box is not None:
        t, left, b, r = box
        fig.add_shape(type="rect", x0=left - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                      line={"color": "#ff2d2d", "width": 3})
        if box_label:
            fig.add_annotation(x=left - 0.5, y=t - 0.5, text=box_label, showarrow=False, xanchor="left",
                               yanchor="bottom", font={"color": "#ff2d2d", "size": 11},
                               bgcolor="rgba(255,255,255,0.7)")
    if grad_box is not None:
        t, left, b, r = grad_box
        fig.add_shape(type="rect", x0=left - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                      line={"color": "#00c0ff", "width": 2, "dash": "dash"})
    fig.update_layout(title=title, height=420, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    return fig


def topk_figure(preds: list[dict], *, title: str) -> go.Figure:
    """Horizontal bars of the top-k class probabilities, most probable on top."""
    labels = [p["label"] if p["label"] in (f"class {p['index']}", str(p["index"])) else f"{p['label']} ({p['index']})"
              for p in preds][::-1]
    probs = [100 * p["prob"] for p in preds][::-1]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", text=[f"{v:.1f} %" for v in probs],
                           textposition="auto", marker_color="#4c78a8",
                           hovertemplate="%{y}: %{x:.2f} %<extra></extra>"))
    fig.update_layout(title=title, height=80 + 36 * len(preds), margin={"l": 10, "r": 10, "t": 50, "b": 40})
    fig.update_xaxes(title="probability (%)", range=[0, 100])
    fig.update_yaxes(type="category")  # class names like "1", "6" are names: one row each, every one labelled
    return fig


def vector_figure(values: np.ndarray, *, title: str) -> go.Figure:
    """The units of a flat layer (flatten/linear), in index order."""
    v = np.asarray(values, dtype=np.float32)
    fig = go.Figure(go.Bar(x=np.arange(len(v)), y=v, marker_color="#4c78a8",
                           hovertemplate="unit %{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(title=title, height=320, bargap=0, margin={"l": 10, "r": 10, "t": 50, "b": 40})
    fig.update_xaxes(title="unit")
    fig.update_yaxes(title="activation")
    return fig


def layer_stats_figure(rows: list[dict], *, title: str) -> go.Figure:
    """Mean and max of every layer's output (left axis) and its percentage of zeros (right;
    rows carry ``zeros`` in percent)."""
    names = [r["layer"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[r["max"] for r in rows], name="max", marker_color="#9ecae9"))
    fig.add_trace(go.Bar(x=names, y=[r["mean"] for r in rows], name="mean", marker_color="#4c78a8"))
    fig.add_trace(go.Scatter(x=names, y=[r["zeros"] for r in rows], name="zeros (%)", yaxis="y2",
                             mode="lines+markers", line={"color": "#e45756"}))
    fig.update_layout(title=title, height=340, barmode="overlay", margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      yaxis={"title": "activation"},
                      yaxis2={"title": "zeros (%)", "overlaying": "y", "side": "right", "range": [0, 100],
                              "tickmode": "linear", "tick0": 0, "dtick": 20, "showgrid": False},
                      legend={"orientation": "h", "y": 1.12})
    fig.update_xaxes(automargin=True, tickangle=-45)  # whole layer names, never "con", "poo"
    return fig


# ---- explain one unit ------------------------------------------------------------------------
PAD_COLOUR = "#b0b0b0"
MAX_NUMBERED = 49  # cells of a window that get their number printed (7×7); larger: on hover


def contributions_figure(labels: list[str], values: list[float], total: float, *, title: str) -> go.Figure:
    """A waterfall: each contribution (per input channel, per input, 'the rest', the bias)
    stacked up to the unit's value, the last bar."""
    fig = go.Figure(go.Waterfall(
        x=labels + ["= value"], y=list(values) + [total], measure=["relative"] * len(values) + ["total"],
        text=[f"{v:+.3g}" for v in values] + [f"{total:.4g}"], textposition="outside",
        increasing={"marker": {"color": "#4c78a8"}}, decreasing={"marker": {"color": "#e45756"}},
        totals={"marker": {"color": "#2ca02c"}}, connector={"line": {"color": "#bbb", "width": 1}},
        hovertemplate="%{x}: %{y:.5g}<extra></extra>"))
    fig.update_layout(title=title, height=360, margin={"l": 10, "r": 10, "t": 50, "b": 90}, showlegend=False)
    fig.update_xaxes(tickangle=-40, type="category")
    return fig


def _cell_text(z: np.ndarray, where: np.ndarray | None) -> np.ndarray:
    txt = np.vectorize(lambda v: "" if not np.isfinite(v) else f"{v:.2g}")(z)
    if where is not None:
        txt = np.where(where == 1, np.char.add(txt, "<br>pad"), txt)
    return txt


def _window_heatmap(z, where, rows, cols, *, colorscale, zmid=None, name="value"):
    """One window as a heatmap with its input rows/columns as the axes; padding greyed."""
    z = np.asarray(z, dtype=np.float64)
    numbered = z.size <= MAX_NUMBERED
    return go.Heatmap(
        z=np.where(where == 0, z, np.nan) if where is not None else z, x=[str(c) for c in cols],
        y=[str(r) for r in rows], colorscale=colorscale, zmid=zmid, showscale=False,
        text=_cell_text(z, where) if numbered else None, texttemplate="%{text}" if numbered else None,
        customdata=z, hovertemplate=f"row %{{y}}, col %{{x}}: {name} %{{customdata:.5g}}<extra></extra>",
        hoverongaps=False, xgap=1, ygap=1)


def window_figure(patch: np.ndarray, where: np.ndarray, rows: list[int], cols: list[int], *, title: str,
                  kernel: np.ndarray | None = None, winner: tuple[int, int] | None = None) -> go.Figure:
    """The input window of one channel (padding grey), and for a conv its kernel and the
    element-wise products; a max pool's winner is outlined."""
    from plotly.subplots import make_subplots

    panels = [("input window (grey: padding)", patch, where, "Viridis", None, "input")]
    if kernel is not None:
        panels += [("kernel (weights)", kernel, None, "RdBu", 0.0, "weight"),
                   ("input × weight", np.nan_to_num(patch) * kernel, None, "RdBu", 0.0, "product")]
    fig = make_subplots(1, len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.06)
    for i, (_, z, wh, cs, mid, name) in enumerate(panels, start=1):
        fig.add_trace(_window_heatmap(z, wh, rows if i == 1 else list(range(z.shape[0])),
                                      cols if i == 1 else list(range(z.shape[1])), colorscale=cs, zmid=mid,
                                      name=name), 1, i)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    if winner is not None:
        fig.add_shape(type="rect", x0=winner[1] - 0.5, x1=winner[1] + 0.5, y0=winner[0] - 0.5, y1=winner[0] + 0.5,
                      line={"color": "#ff2d2d", "width": 3}, row=1, col=1)
    fig.update_layout(title=title, height=360, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      plot_bgcolor=PAD_COLOUR)
    return fig


def unit_map_figure(fmap: np.ndarray, row: int, col: int, *, title: str, clickable: bool) -> go.Figure:
    """One feature map with the chosen unit outlined; ``clickable``: an invisible marker on
    every pixel, so that clicking one selects it (Streamlit's selection reads scatter points)."""
    fmap = np.asarray(fmap, dtype=np.float32)
    h, w = fmap.shape
    fig = go.Figure(go.Heatmap(z=fmap, colorscale="Viridis", colorbar={"thickness": 12},
                               hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>"))
    if clickable:
        yy, xx = np.mgrid[0:h, 0:w]
        fig.add_trace(go.Scatter(x=xx.ravel(), y=yy.ravel(), mode="markers", showlegend=False,
                                 marker={"symbol": "square", "size": max(4, min(24, 420 // max(h, w))),
                                         "opacity": 0.01, "color": "#000"},
                                 hovertemplate="row %{y}, col %{x} (click to explain)<extra></extra>"))
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                  line={"color": "#ff2d2d", "width": 3})
    fig.update_layout(title=title, height=420, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      clickmode="event+select", dragmode=False)
    fig.update_xaxes(range=[-0.5, w - 0.5], constrain="domain")
    fig.update_yaxes(range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain")
    return fig


def _slide_shapes(s, y: int, x: int) -> list[dict]:
    """The kernel's window on the input channel (left, input coordinates: padding < 0), the
    output cell it fills (right), and the edge of the real input (dotted)."""
    (sh, sw), (dh, dw) = s.stride, s.dilation
    kh, kw = s.kernel.shape
    top, left = s.offset
    r0, c0 = y * sh + top, x * sw + left
    real_r, real_c = np.flatnonzero((s.where == 0).any(axis=1)), np.flatnonzero((s.where == 0).any(axis=0))
    edge = {"type": "rect", "xref": "x", "yref": "y", "x0": real_c[0] + left - 0.5, "x1": real_c[-1] + left + 0.5,
            "y0": real_r[0] + top - 0.5, "y1": real_r[-1] + top + 0.5, "line": {"color": "#1a73e8", "width": 1,
                                                                              "dash": "dot"}}
    return [edge,
            {"type": "rect", "xref": "x", "yref": "y", "x0": c0 - 0.5, "x1": c0 + dw * (kw - 1) + 0.5,
             "y0": r0 - 0.5, "y1": r0 + dh * (kh - 1) + 0.5, "line": {"color": "#ff2d2d", "width": 3}},
            {"type": "rect", "xref": "x2", "yref": "y2", "x0": x - 0.5, "x1": x + 0.5, "y0": y - 0.5,
             "y1": y + 0.5, "line": {"color": "#ff2d2d", "width": 3}}]


def slide_positions(out_h: int, out_w: int, row: int, max_frames: int = 100) -> list[tuple[int, int]]:
    """Every output position in reading order, or — for a large map — the chosen unit's row."""
    if out_h * out_w <= max_frames:
        return [(y, x) for y in range(out_h) for x in range(out_w)]
    return [(row, x) for x in range(out_w)]


def slide_figure(s, positions: list[tuple[int, int]], start: int, *, title: str,
                 frame_ms: int = 250) -> go.Figure:
    """The kernel sliding over one (padded) input channel, the map of Σ input·weight for that
    channel filling in beside it: Play / Pause buttons and a step slider (plotly frames)."""
    from plotly.subplots import make_subplots

    oh, ow = s.partial.shape
    fig = make_subplots(1, 2, figure=AnimatedFigure(), subplot_titles=["input channel (grey: padding; dotted: its edge)",
                                                    "Σ input·weight, this channel (faint: all of it)"],
                        horizontal_spacing=0.08)
    (ph, pw), (top, left) = s.padded.shape, s.offset
    fig.add_trace(go.Heatmap(z=np.where(s.where == 0, s.padded, np.nan).astype(np.float32), x=np.arange(pw) + left,
                             y=np.arange(ph) + top, colorscale="Viridis", showscale=False, hoverongaps=False,
                             hovertemplate="input row %{y}, col %{x}: %{z:.4g}<extra></extra>"), 1, 1)
    rows = sorted({y for y, _ in positions})  # the frames fill in these rows (all, or the unit's)
    revealed = [_revealed(s.partial, rows, positions[: i + 1]) for i in range(len(positions))]
    lim = float(np.abs(s.partial).max()) or 1.0
    fig.add_trace(go.Heatmap(z=s.partial.astype(np.float32), colorscale="RdBu", zmin=-lim, zmax=lim, opacity=0.25,
                             showscale=False, hoverinfo="skip"), 1, 2)  # the whole map, faint
    fig.add_trace(go.Heatmap(z=revealed[start], y=rows, colorscale="RdBu", zmin=-lim, zmax=lim, showscale=False,
                             hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>"), 1, 2)
    frames = [{"name": str(i), "data": [{"type": "heatmap", "z": z}], "traces": [2],
               "layout": {"shapes": _slide_shapes(s, *positions[i])}} for i, z in enumerate(revealed)]
    fig.update_layout(title=title, height=500, margin={"l": 10, "r": 10, "t": 70, "b": 70},
                      plot_bgcolor=PAD_COLOUR, shapes=_slide_shapes(s, *positions[start]))
    fig.update_xaxes(showgrid=False, zeroline=False)
    fig.update_yaxes(showgrid=False, zeroline=False)
    fig.update_xaxes(range=[left - 0.5, left + pw - 0.5], row=1, col=1)
    fig.update_yaxes(range=[top + ph - 0.5, top - 0.5], scaleanchor="x", row=1, col=1)
    fig.update_xaxes(range=[-0.5, ow - 0.5], row=1, col=2)
    fig.update_yaxes(range=[oh - 0.5, -0.5], scaleanchor="x2", row=1, col=2)
    fig.raw_frames = frames
    fig.raw_layout = {"updatemenus": [_play_buttons(frame_ms)], "sliders": [_frame_slider(positions, start)]}
    return fig


class AnimatedFigure(go.Figure):
    """A figure whose animation frames and controls (Play/Pause, the step slider) are kept as
    plain dicts and added by ``to_dict`` (what st.plotly_chart sends).  Plotly checks every
    frame and slider step in Python, about 10 ms each: seconds for a 100-frame animation on
    every rerun.  They are built from the same few keys each time (a heatmap's z, rectangles,
    'animate' steps)."""

    raw_frames: list[dict] = []
    raw_layout: dict = {}

    def to_dict(self) -> dict:
        d = super().to_dict()
        return {**d, "layout": {**d.get("layout", {}), **self.raw_layout}, "frames": self.raw_frames}


def _revealed(partial: np.ndarray, rows: list[int], done: list[tuple[int, int]]) -> np.ndarray:
    """The rows ``rows`` of the map with the positions ``done`` filled in (the rest NaN)."""
    z = np.full((len(rows), partial.shape[1]), np.nan, dtype=np.float32)
    for y, x in done:
        z[rows.index(y), x] = partial[y, x]
    return z


def _play_buttons(frame_ms: int) -> dict:
    play = {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    return {"type": "buttons", "direction": "left", "x": 0.0, "y": -0.1, "xanchor": "left", "yanchor": "top",
            "pad": {"t": 4, "r": 8}, "buttons": [{"label": "Play", "method": "animate", "args": [None, play]},
                                                 {"label": "Pause", "method": "animate", "args": [[None], pause]}]}


def _frame_slider(positions: list[tuple[int, int]], start: int) -> dict:
    steps = [{"label": f"{y},{x}", "method": "animate",
              "args": [[str(i)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                  "transition": {"duration": 0}}]} for i, (y, x) in enumerate(positions)]
    return {"active": start, "steps": steps, "x": 0.12, "len": 0.88, "y": -0.1, "yanchor": "top",
            "currentvalue": {"prefix": "output row,col: "}, "pad": {"t": 4}}
