"""Plotly figures of training runs, built from the run store's metric rows.

Pure functions (no Streamlit) so they are tested directly and timed in the bench.
Long runs stay fast to draw: the raw loss is reduced to at most ``MAX_POINTS`` points
per trace by keeping each bucket's minimum and maximum (spikes survive), while the
smoothed curve is computed on every step and then thinned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

MAX_POINTS = 2000  # per trace, for drawing
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def column(rows, key: str) -> np.ndarray:
    """One metric as a float array (None → NaN).  ``rows`` is a list of metric dicts or
    already columnar (a mapping of name → array, as ``StepCache.columns``)."""
    if isinstance(rows, dict):
        return np.asarray(rows[key], dtype=float)
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)


def _len(rows) -> int:
    if isinstance(rows, dict):
        return len(next(iter(rows.values()), ()))
    return len(rows)


def ema(y: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """TensorBoard-style smoothing: exponential moving average with bias correction,
    skipping NaNs (they hold the last value).  ``weight`` 0 = raw, 0.99 = very smooth."""
    y = np.asarray(y, dtype=float)
    w = float(weight)
    ok = np.isfinite(y)
    if not ok.any():
        return np.full_like(y, np.nan)
    n = np.cumsum(ok)  # finite values seen so far
    x = np.where(ok, y, 0.0)
    try:
        from scipy.signal import lfilter

        # acc_t = w·acc_{t−1} + (1−w)·x_t, but a NaN step must leave acc unchanged:
        # filter the finite values only, then spread each result over the NaNs after it
        acc_f = lfilter([1 - w], [1, -w], x[ok])
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        acc_f = np.empty(int(ok.sum()))
        a = 0.0
        for i, v in enumerate(x[ok]):
            a = w * a + (1 - w) * v
            acc_f[i] = a
    out = np.full_like(y, np.nan)
    seen = n > 0
    idx = n[seen] - 1
    out[seen] = acc_f[idx] / (1 - w ** (idx + 1))
    return out


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` (+2) points: each of max_points/2 equal buckets keeps its
    min and max in x order, so the drawn line has the same envelope as the raw one;
    the first and last points are always kept."""
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(max_points // 2, 1)
    k = -(-n // buckets)  # bucket width
    pad = buckets * k - n
    yy = np.where(np.isfinite(y), y, np.nan)
    lo = np.concatenate([np.where(np.isnan(yy), np.inf, yy), np.full(pad, np.inf)]).reshape(buckets, k)
    hi = np.concatenate([np.where(np.isnan(yy), -np.inf, yy), np.full(pad, -np.inf)]).reshape(buckets, k)
    base = np.arange(buckets) * k
    idx = np.concatenate([[0, n - 1], base + lo.argmin(1), base + hi.argmax(1)])
    idx = np.unique(idx[idx < n])
    return x[idx], y[idx]


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (for smooth curves), always keeping the last."""
    n = len(x)
    if n <= max_points:
        return x, y
    idx = np.unique(np.r_[np.linspace(0, n - 1, max_points).astype(int), n - 1])
    return x[idx], y[idx]


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, height: int = 300, *, x: dict | None = None,
            y: dict | None = None) -> go.Figure:
    """Title, axis titles (and ``x``/``y`` axis settings), margins; keeps the zoom across refreshes."""
    lay = dict(title=dict(text=title, x=0, font=dict(size=14)), height=height,
               margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25),
               xaxis=dict(title=dict(text=xtitle), **(x or {})), yaxis=dict(title=dict(text=ytitle), **(y or {})),
               uirevision="keep")  # keep the user's zoom across refreshes
    if fig.layout.annotations:  # set before (the "no data yet" note)
        lay["annotations"] = [a.to_plotly_json() for a in fig.layout.annotations]
    if fig.layout.yaxis.range:
        lay["yaxis"]["range"] = list(fig.layout.yaxis.range)
    fig.layout = go.Layout(lay, _validate=False)  # validation took ~6 ms a figure; these are fixed dicts
    return fig


def _line(fig: go.Figure, x, y, name: str, color: str, width: float = 2, mode: str = "lines") -> None:
    """Add a trace without plotly's per-property validation of the arrays (the live
    charts are rebuilt every second; validation was most of their cost)."""
    fig.add_traces([go.Scatter(dict(type="scatter", x=x, y=y, mode=mode, name=name,
                                    line=dict(color=color, width=width)), _validate=False)])


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(color="#888"))
    return fig


def loss_figure(steps: Sequence[dict], smoothing: float = 0.9, max_points: int = MAX_POINTS) -> go.Figure:
    """Training loss per step: raw (faint, min/max-downsampled) and smoothed."""
    fig = go.Figure()
    if _len(steps):
        x, y = column(steps, "step"), column(steps, "loss")
        rx, ry = downsample(x, y, max_points)
        sx, sy = thin(x, ema(y, smoothing), max_points)
        _line(fig, rx, ry, "loss (raw)", "#9ecae1", 1)
        _line(fig, sx, sy, f"loss (smoothed {smoothing:g})", PALETTE[0])
    else:
        _empty(fig, "no steps yet")
    return _layout(fig, "Training loss per step", "step", "cross-entropy loss")


def accuracy_figure(epochs: Sequence[dict]) -> go.Figure:
    """Train and test accuracy per epoch (in %)."""
    fig = go.Figure()
    if epochs:
        x = column(epochs, "epoch")
        for key, name, color in (("train_acc", "train", PALETTE[0]), ("test_acc", "test", PALETTE[1])):
            fig.add_scatter(x=x, y=100 * column(epochs, key), mode="lines+markers", name=name,
                            line=dict(color=color))
    else:
        _empty(fig, "accuracy appears after the first epoch")
    fig.update_yaxes(range=[0, 100])
    return _layout(fig, "Accuracy per epoch", "epoch", "accuracy (%)", x=epoch_ticks(len(epochs)))


def epoch_ticks(n: int) -> dict:
    """Whole-epoch ticks (1, 2, 3 … or every k-th for a long run), never 1.5."""
    return dict(tickmode="linear", tick0=0, dtick=max(1, -(-n // 10)))


def lr_figure(steps: Sequence[dict], max_points: int = MAX_POINTS) -> go.Figure:
    fig = go.Figure()
    if _len(steps):
        x, y = thin(column(steps, "step"), column(steps, "lr"), max_points)
        _line(fig, x, y, "learning rate", PALETTE[2])
    else:
        _empty(fig, "no steps yet")
    return _layout(fig, "Learning rate", "step", "learning rate")


def throughput_figure(steps: Sequence[dict], max_points: int = MAX_POINTS) -> go.Figure:
    fig = go.Figure()
    if _len(steps):
        x, y = column(steps, "step"), column(steps, "images_per_sec")
        sx, sy = thin(x, ema(y, 0.8), max_points)
        _line(fig, sx, sy, "images/s", PALETTE[3])
    else:
        _empty(fig, "no steps yet")
    return _layout(fig, "Throughput", "step", "images per second", y=dict(rangemode="tozero"))


def memory_figure(epochs: Sequence[dict], device: str | None = None) -> go.Figure:
    """Peak memory per epoch (MB): the accelerator's on a GPU run, the training process's
    resident memory (RSS) on a CPU run."""
    fig = go.Figure()
    gpu = bool(device) and not str(device).startswith("cpu")
    y = column(epochs, "peak_mem_bytes") if epochs else np.array([])
    if len(y) and np.any(np.isfinite(y) & (y > 0)):
        fig.add_bar(x=column(epochs, "epoch"), y=y / 2**20, name="peak memory", marker_color=PALETTE[4])
    else:
        _empty(fig, "memory appears after the first epoch")
    title = "Peak GPU memory" if gpu else "Peak memory of the training process (RSS)"
    return _layout(fig, title, "epoch", "MB", x=epoch_ticks(len(epochs)))


def elapsed(epochs: Sequence[dict], started: float | None) -> np.ndarray:
    """Wall-clock seconds since the run started at the end of each epoch."""
    t = column(epochs, "time")
    if started and np.all(np.isfinite(t)):
        return t - float(started)
    return np.cumsum(np.nan_to_num(column(epochs, "epoch_seconds")))


def overlay_figure(runs: Sequence[dict], metric: str = "test_acc", x: str = "epoch") -> go.Figure:
    """Several runs' per-epoch ``metric`` on one chart.  ``runs`` items: {"label",
    "epochs" (epoch rows), "started"}; ``x`` is 'epoch' or 'time' (wall-clock seconds)."""
    names = {"test_acc": "test accuracy (%)", "train_acc": "train accuracy (%)", "test_loss": "test loss",
             "train_loss": "train loss"}
    fig = go.Figure()
    for i, r in enumerate(runs):
        ep = r["epochs"]
        if not ep:
            continue
        xs = column(ep, "epoch") if x == "epoch" else elapsed(ep, r.get("started"))
        ys = column(ep, metric) * (100 if metric.endswith("acc") else 1)
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=r["label"],
                        line=dict(color=PALETTE[i % len(PALETTE)]))
    if not fig.data:
        _empty(fig, "the selected runs have no finished epoch")
    if metric.endswith("acc"):
        fig.update_yaxes(range=[0, 100])
    xt = "epoch" if x == "epoch" else "wall-clock time (s)"
    ticks = epoch_ticks(max((len(r["epochs"]) for r in runs), default=0)) if x == "epoch" else None
    return _layout(fig, f"{names.get(metric, metric)} vs {xt}", xt, names.get(metric, metric), height=340, x=ticks)


def point_count(fig: go.Figure) -> int:
    """Number of drawn points over all traces (tests, bench)."""
    return sum(len(t.x) if t.x is not None else 0 for t in fig.data)


STEP_X = {"step": "step", "epoch": "epoch", "time": "wall-clock time (s)"}


def step_x(steps, x: str, started: float | None = None) -> np.ndarray:
    """The x values of step rows: the step, the (fractional) epoch, or wall-clock seconds
    since the run started (since its first logged step when the start is unknown)."""
    if x == "time":
        t = column(steps, "time")
        t0 = float(started) if started else (t[0] if len(t) else 0.0)
        return t - t0
    return column(steps, "step" if x == "step" else "epoch")


def step_overlay_figure(runs: Sequence[dict], smoothing: float = 0.6, x: str = "step", log_y: bool = False,
                        max_points: int = MAX_POINTS) -> go.Figure:
    """Several runs' training loss per step on one chart, TensorBoard-style: each run's raw
    loss faint (min/max-downsampled) under its smoothed curve (EMA with bias correction,
    ``smoothing`` 0 = raw … 0.999) in the same colour.  ``runs`` items: {"label", "steps"
    (step rows or columns), "started"}; ``x`` is 'step', 'epoch' or 'time'; ``log_y`` puts
    the loss on a log scale."""
    fig = go.Figure()
    for i, r in enumerate(runs):
        steps = r["steps"]
        if not _len(steps):
            continue
        color = PALETTE[i % len(PALETTE)]
        xs, ys = step_x(steps, x, r.get("started")), column(steps, "loss")
        rx, ry = downsample(xs, ys, max_points)
        fig.add_traces([go.Scatter(dict(type="scatter", x=rx, y=ry, mode="lines", name=f"{r['label']} (raw)",
                                        line=dict(color=color, width=1), opacity=0.3, showlegend=False,
                                        legendgroup=r["label"]), _validate=False)])
        sx, sy = thin(xs, ema(ys, smoothing) if smoothing > 0 else ys, max_points)
        fig.add_traces([go.Scatter(dict(type="scatter", x=sx, y=sy, mode="lines", name=r["label"],
                                        line=dict(color=color, width=2), legendgroup=r["label"]),
                                   _validate=False)])
    if not fig.data:
        _empty(fig, "the selected runs have no logged steps yet")
    title = f"Training loss per step (smoothing {smoothing:g}{', log scale' if log_y else ''})"
    fig = _layout(fig, title, STEP_X.get(x, x), "cross-entropy loss", height=360)
    if log_y:
        fig.update_yaxes(type="log")
    return fig
