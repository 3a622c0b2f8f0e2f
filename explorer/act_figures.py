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


def grid_columns(n: int, max_cols: int = 12) -> int:
    """Columns for n tiles: near-square, at most ``max_cols``."""
    return max(1, min(max_cols, math.ceil(math.sqrt(n))))


def montage(tiles: np.ndarray, ncols: int | None = None, gap: int = TILE_GAP, fill=np.nan):
    """Lay out tiles [N, h, w] or [N, h, w, C] in rows of ``ncols``.  Returns the montage
    ([rows·(h+gap)−gap, cols·(w+gap)−gap(, C)]) and each tile's (top, left) corner."""
    n, h, w = tiles.shape[:3]
    ncols = ncols or grid_columns(n)
    nrows = max(1, math.ceil(n / ncols))
    shape = (nrows * (h + gap) - gap, ncols * (w + gap) - gap) + tuple(tiles.shape[3:])
    dtype = np.float32 if np.issubdtype(tiles.dtype, np.floating) or isinstance(fill, float) else tiles.dtype
    grid = np.full(shape, fill, dtype=dtype)
    corners = []
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = r * (h + gap), c * (w + gap)
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
    grid, corners = montage(maps, ncols)
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
    nrows = math.ceil(n / ncols)
    tile_px = max(40, min(120, 900 // ncols))
    fig.update_layout(title=title, height=min(1400, 90 + nrows * (tile_px + 12)),
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
    labels = [p["label"] if p["label"] == f"class {p['index']}" else f"{p['label']} ({p['index']})"
              for p in preds][::-1]
    probs = [100 * p["prob"] for p in preds][::-1]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", text=[f"{v:.1f} %" for v in probs],
                           textposition="auto", marker_color="#4c78a8",
                           hovertemplate="%{y}: %{x:.2f} %<extra></extra>"))
    fig.update_layout(title=title, height=80 + 36 * len(preds), margin={"l": 10, "r": 10, "t": 50, "b": 40})
    fig.update_xaxes(title="probability (%)", range=[0, 100])
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
    return fig
