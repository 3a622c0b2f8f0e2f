"""Explain one unit: how the value of one output unit of one layer came about, with the
real numbers of the current image and weights (as CNN Explainer does for its fixed net,
here for any network built from a spec).

``explain_unit(model, spec, image, layer, unit)`` returns an ``Explanation``: the value
recomputed step by step in float64 from the layer's input and weights, the value the
model computed, a one-line formula with the numbers, and what the UI draws — the window
a conv or pool reads (every input channel, padding shown as what it holds), the kernel,
the per-channel sums of the element-wise products, the winning element of a max, the
top contributing inputs of a linear unit.  A pointwise activation right after the layer
is explained on the same unit (``after``).

Per-type behaviour goes through the registry: each ``LayerType`` names its explainer in
``explain`` (a key of ``EXPLAINERS`` below).  No streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import layers as L
from .activations import Activations, capture
from .arithmetic import LayerInfo, Summary, _padded_source, analyze
from .spec import NetSpec, as_spec
from .window import Dim

REAL, PAD, BEYOND = 0, 1, 2  # a tap reads the input, the padding, or nothing (past the padding: ceil mode)
TOP_TERMS = 10  # a linear unit lists this many inputs by |input · weight|, then 'the rest'


# ---- what an explanation holds -------------------------------------------------------------
@dataclass
class Window:
    """What one conv or pool window reads: input channels × kernel rows × kernel columns."""

    channels: list[int]  # the input channels it reads
    rows: list[int]  # the input row of each kernel row (< 0 or ≥ H: padding)
    cols: list[int]
    where: np.ndarray  # [kh, kw]: REAL, PAD or BEYOND
    patch: np.ndarray  # [c, kh, kw]: the values read (padding: what it holds; BEYOND: nan)
    kernel: np.ndarray | None = None  # conv: [c, kh, kw]
    bias: float | None = None
    pad_note: str = ""  # what the padding holds

    @property
    def products(self) -> np.ndarray:
        return self.patch * self.kernel

    @property
    def per_channel(self) -> np.ndarray:
        """Σ of the element-wise products, per input channel (conv)."""
        return self.products.sum(axis=(1, 2))


@dataclass
class Term:
    """One input of a linear unit: its label, value, weight."""

    label: str
    index: int
    input: float
    weight: float

    @property
    def product(self) -> float:
        return self.input * self.weight


@dataclass
class Explanation:
    layer: str
    type: str
    kind: str  # the explainer (LayerType.explain)
    unit: tuple[int, ...]  # (channel, row, column) or (index,)
    value: float  # recomputed here, step by step
    formula: str  # the computation with its numbers, one line
    steps: list[str] = field(default_factory=list)
    window: Window | None = None
    winner: tuple[int, int] | None = None  # max pools: (kernel row, kernel column) of the winner
    terms: list[Term] = field(default_factory=list)  # linear: the top inputs
    rest: float | None = None  # linear: Σ of the other inputs' products
    n_inputs: int = 0  # linear: how many inputs the sum runs over
    bias: float | None = None  # conv and linear: the bias added
    model_value: float = math.nan  # what the model computed for this unit
    after: Explanation | None = None  # the pointwise activation right after, on this unit

    @property
    def agrees(self) -> bool:
        """The recomputed value equals the model's (float32) to float tolerance."""
        return math.isclose(self.value, self.model_value, rel_tol=1e-4, abs_tol=1e-5)


@dataclass
class _Ctx:
    """What an explainer reads: the layer, its arithmetic, its module, its input (float64)."""

    name: str
    layer: object  # the LayerSpec
    info: LayerInfo
    module: nn.Module
    inp: np.ndarray
    unit: tuple[int, ...]
    source: Callable[[int], str]  # label of flat input i (linear)

    def result(self, value: float, formula: str, **kw) -> Explanation:
        return Explanation(self.name, self.info.type, L.get(self.info.type).explain, self.unit, float(value),
                           formula, **kw)


EXPLAINERS: dict[str, Callable[[_Ctx], Explanation]] = {}


def explainer(key: str):
    def add(fn):
        EXPLAINERS[key] = fn
        return fn
    return add


def _g(x: float) -> str:
    return f"{x:.5g}"


# ---- reading a window ----------------------------------------------------------------------
def _positions(d: Dim, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the input index each position reads, REAL/PAD/BEYOND) along one axis."""
    where = np.where((pos >= 0) & (pos < d.size_in), REAL,
                     np.where((pos >= -d.pad_before) & (pos < d.size_in + d.pad_after), PAD, BEYOND))
    if d.fill == "zeros":
        return np.clip(pos, 0, d.size_in - 1), where
    src = [_padded_source(int(p), d.size_in, d.fill) if w != BEYOND else 0 for p, w in zip(pos, where)]
    return np.asarray(src, dtype=np.int64), where


def read(inp: np.ndarray, chans, rpos, cpos, dims: tuple[Dim, Dim], pad_value: float):
    """Values of ``inp`` [C, H, W] at input rows × columns (positions may lie in the padding):
    ([c, r, k] values, [r, k] REAL/PAD/BEYOND).  Zero padding holds ``pad_value``;
    reflect/replicate/circular padding holds the input pixel it copies."""
    a, b = dims
    rs, rw = _positions(a, np.asarray(rpos))
    cs, cw = _positions(b, np.asarray(cpos))
    where = np.maximum.outer(rw, cw)
    vals = inp[np.ix_(list(chans), rs, cs)].astype(np.float64)
    if a.fill == "zeros":
        vals[:, where == PAD] = pad_value
    vals[:, where == BEYOND] = np.nan
    return vals, where


def taps(d: Dim, u: int) -> list[int]:
    """Input positions of the kernel taps of output position ``u`` along one axis."""
    dil = (d.kernel_eff - 1) // (d.kernel - 1) if d.kernel > 1 else 1
    start = u * d.stride - d.pad_before
    return [start + dil * k for k in range(d.kernel)]


def _window(c: _Ctx, chans, pad_value: float, pad_note: str) -> Window:
    _, y, x = c.unit
    rows, cols = taps(c.info.dims[0], y), taps(c.info.dims[1], x)
    patch, where = read(c.inp, chans, rows, cols, c.info.dims, pad_value)
    fill = c.info.dims[0].fill
    note = pad_note if fill == "zeros" else f"padding copies the input ({fill})"
    return Window(list(chans), rows, cols, where, patch, pad_note=note)


# ---- conv and pools --------------------------------------------------------------------------
@explainer("conv")
def _conv(c: _Ctx) -> Explanation:
    o = c.unit[0]
    out_channels, per = c.module.weight.shape[:2]
    first = o // (out_channels // c.layer.groups) * per
    win = _window(c, range(first, first + per), 0.0, "padding holds zeros")
    win.kernel = c.module.weight.detach()[o].double().numpy()
    win.bias = float(c.module.bias.detach()[o]) if c.module.bias is not None else None
    sums = win.per_channel
    value = float(sums.sum()) + (win.bias or 0.0)
    kh, kw = win.kernel.shape[1:]
    group = f" (group {first // per + 1} of {c.layer.groups}: input channels {first}–{first + per - 1})" \
        if c.layer.groups > 1 else ""
    bias = f" + bias {_g(win.bias)}" if win.bias is not None else ""
    formula = (f"Σ over {per} input channel{'s' * (per > 1)} × {kh}×{kw} taps of input·weight = "
               f"{_g(sums.sum())}{bias} = {_g(value)}")
    order = np.argsort(-np.abs(sums))
    steps = [f"filter {o}{group}; {int((win.where == PAD).sum())} of {kh * kw} taps in the padding "
             f"({win.pad_note})"]
    steps += [f"channel {win.channels[i]}: Σ input·weight = {_g(sums[i])}" for i in order[:8]]
    if per > 8:
        steps.append(f"… {per - 8} more channels: Σ = {_g(sums[order[8:]].sum())}")
    return c.result(value, formula, steps=steps, window=win, bias=win.bias)


@explainer("max")
def _max(c: _Ctx) -> Explanation:
    win = _window(c, [c.unit[0]], -math.inf, "padding never wins (−∞)")
    vals = np.where(win.where == REAL, win.patch[0], -np.inf)
    ky, kx = np.unravel_index(int(np.argmax(vals)), vals.shape)
    value = float(vals[ky, kx])
    n = int((win.where == REAL).sum())
    formula = (f"max over the {n} input values of its window = {_g(value)} "
               f"(input row {win.rows[ky]}, column {win.cols[kx]})")
    return c.result(value, formula, window=win, winner=(int(ky), int(kx)),
                    steps=[f"channel {c.unit[0]}, window rows {win.rows[0]}…{win.rows[-1]}, "
                           f"columns {win.cols[0]}…{win.cols[-1]}; {win.pad_note}"])


@explainer("mean")
def _mean(c: _Ctx) -> Explanation:
    win = _window(c, [c.unit[0]], 0.0, "padding holds zeros")
    total = float(np.nansum(np.where(win.where == REAL, win.patch[0], 0.0)))
    if c.layer.padding == "same":  # TF 'same': padded positions are not counted
        n, why = int((win.where == REAL).sum()), "input values (padding not counted: 'same')"
    else:  # torch AvgPool2d: count_include_pad=True, but not past the padding (ceil mode)
        n, why = int((win.where != BEYOND).sum()), "positions (padding counted, as torch's count_include_pad)"
    value = total / n
    return c.result(value, f"sum {_g(total)} / {n} {why} = {_g(value)}", window=win)


def _adaptive(c: _Ctx) -> Window:
    ch, y, x = c.unit
    _, ih, iw = c.inp.shape
    oh, ow = c.info.out_shape[1:]
    rows = list(range(y * ih // oh, -(-(y + 1) * ih // oh)))
    cols = list(range(x * iw // ow, -(-(x + 1) * iw // ow)))
    patch = c.inp[np.ix_([ch], rows, cols)].astype(np.float64)
    return Window([ch], rows, cols, np.zeros(patch.shape[1:], dtype=np.int64), patch)


@explainer("adaptive_max")
def _adaptive_max(c: _Ctx) -> Explanation:
    win = _adaptive(c)
    ky, kx = np.unravel_index(int(np.argmax(win.patch[0])), win.patch.shape[1:])
    value = float(win.patch[0, ky, kx])
    return c.result(value, f"max over input rows {win.rows[0]}–{win.rows[-1]}, columns {win.cols[0]}–"
                           f"{win.cols[-1]} = {_g(value)}", window=win, winner=(int(ky), int(kx)))


@explainer("adaptive_mean")
def _adaptive_mean(c: _Ctx) -> Explanation:
    win = _adaptive(c)
    total, n = float(win.patch.sum()), win.patch.size
    return c.result(total / n, f"mean over input rows {win.rows[0]}–{win.rows[-1]}, columns {win.cols[0]}–"
                               f"{win.cols[-1]}: {_g(total)} / {n} = {_g(total / n)}", window=win)


# ---- normalisation ---------------------------------------------------------------------------
@explainer("lrn")
def _lrn(c: _Ctx) -> Explanation:
    ch, *pos = c.unit
    n, C = c.layer.size, c.inp.shape[0]
    lo, hi = max(ch - n // 2, 0), min(ch + (n - 1) // 2, C - 1)
    a = c.inp[(slice(lo, hi + 1), *pos)]
    s = float((a * a).sum())
    x = float(c.inp[c.unit])
    denom = (c.layer.k + c.layer.alpha / n * s) ** c.layer.beta
    value = x / denom
    formula = (f"b = a / (k + α/n·Σa²)^β = {_g(x)} / ({c.layer.k:g} + {c.layer.alpha:g}/{n}·{_g(s)})"
               f"^{c.layer.beta:g} = {_g(x)} / {_g(denom)} = {_g(value)}")
    return c.result(value, formula, steps=[f"Σa² over channels {lo}–{hi} (the window of {n} around {ch}, "
                                           f"cut at the edges) = {_g(s)}"])


def _affine(c: _Ctx, ch: int) -> tuple[float, float]:
    m = c.module
    if getattr(m, "weight", None) is None:
        return 1.0, 0.0
    return float(m.weight.detach()[ch]), float(m.bias.detach()[ch])


@explainer("batchnorm")
def _batchnorm(c: _Ctx) -> Explanation:
    ch = c.unit[0]
    m = c.module
    mean, var = float(m.running_mean[ch]), float(m.running_var[ch])
    return _normalised(c, ch, mean, var, f"channel {ch}: mean and var are the running statistics "
                       "(evaluation mode), γ and β the learned scale and shift")


def _normalised(c: _Ctx, ch: int, mean: float, var: float, step: str) -> Explanation:
    """y = (x − mean)/√(var + eps)·γ + β with the numbers (BatchNorm's and GroupNorm's last step)."""
    gamma, beta = _affine(c, ch)
    x, eps = float(c.inp[c.unit]), c.module.eps
    value = (x - mean) / math.sqrt(var + eps) * gamma + beta
    formula = (f"y = (x − mean)/√(var + eps)·γ + β = ({_g(x)} − {_g(mean)})/√({_g(var)} + {eps:g})"
               f"·{_g(gamma)} + {_g(beta)} = {_g(value)}")
    return c.result(value, formula, steps=[step])


@explainer("groupnorm")
def _groupnorm(c: _Ctx) -> Explanation:
    ch, m = c.unit[0], c.module
    per = c.inp.shape[0] // m.num_groups
    g = ch // per
    vals = c.inp[g * per:(g + 1) * per]
    return _normalised(c, ch, float(vals.mean()), float(vals.var()),
                       f"group {g} = channels {g * per}–{(g + 1) * per - 1}: mean and variance of its "
                       f"{vals.size:,} values in this image")


# ---- pointwise, pass-through, linear ---------------------------------------------------------
@explainer("pointwise")
def _pointwise(c: _Ctx) -> Explanation:
    x = float(c.inp[c.unit])
    value = float(c.module(torch.tensor(x, dtype=torch.float64)))
    lt = L.get(c.info.type)
    return c.result(value, f"{lt.torch_name}({_g(x)}) = {_g(value)}", steps=[f"{lt.torch_name}: {lt.help}"])


@explainer("identity")
def _identity(c: _Ctx) -> Explanation:
    x = float(c.inp[c.unit])
    return c.result(x, f"passes its input through: {_g(x)}",
                    steps=["evaluation mode: dropout is off; while training it zeroes each value with "
                           f"probability {c.layer.p:g} and scales the rest by 1/(1 − p)"])


@explainer("flatten")
def _flatten(c: _Ctx) -> Explanation:
    pos = tuple(int(v) for v in np.unravel_index(c.unit[0], c.inp.shape))
    x = float(c.inp[pos])
    return c.result(x, f"unit {c.unit[0]} is input [{', '.join(map(str, pos))}] = {_g(x)}",
                    steps=[f"index = c·H·W + y·W + x over the {'×'.join(map(str, c.inp.shape))} input"])


@explainer("linear")
def _linear(c: _Ctx) -> Explanation:
    j = c.unit[0]
    w = c.module.weight.detach()[j].double().numpy()  # one row: fc1 of paper-2012 has 37 M weights
    prod = w * c.inp
    order = np.argsort(-np.abs(prod))
    top = order[:TOP_TERMS]
    terms = [Term(c.source(int(i)), int(i), float(c.inp[i]), float(w[i])) for i in top]
    rest = float(prod[order[TOP_TERMS:]].sum())
    b = float(c.module.bias.detach()[j]) if c.module.bias is not None else None
    value = float(prod.sum()) + (b or 0.0)
    bias = f" + bias {_g(b)}" if b is not None else ""
    formula = (f"Σ over {len(prod):,} inputs of input·weight = {_g(prod[top].sum())} (top {len(top)}) + "
               f"{_g(rest)} (the other {max(len(prod) - len(top), 0):,}){bias} = {_g(value)}")
    return c.result(value, formula, terms=terms, rest=rest, n_inputs=len(prod), bias=b,
                    steps=[f"{int((c.inp == 0).sum()):,} of the {len(prod):,} inputs are exactly 0"])


# ---- the entry point -------------------------------------------------------------------------
def check_unit(info: LayerInfo, unit) -> tuple[int, ...]:
    """The unit as a tuple of ints, or ValueError naming the layer and the valid range."""
    shape = tuple(info.out_shape)
    unit = tuple(int(u) for u in unit)
    if len(unit) != len(shape) or not all(0 <= u < s for u, s in zip(unit, shape)):
        raise ValueError(f"{info.name}: unit {list(unit)} is outside its output "
                         f"{'×'.join(map(str, shape))} (give {len(shape)} indices, each 0 … size − 1)")
    return unit


def _source_label(spec: NetSpec, summary: Summary, i: int) -> Callable[[int], str]:
    """Labels for the inputs of layer i: through a flatten (and any dropout or activation
    after it) the position they come from, 'pool5[3, 2, 1]'; else 'fc1[7]'."""
    j = i - 1
    while j >= 0 and L.get(spec.layers[j].type).explain in ("identity", "pointwise"):
        j -= 1  # element-wise: input k of layer i sits at position k of layer j too
    shape = summary.layers[j].in_shape if j >= 0 else None
    if j >= 0 and spec.layers[j].type == "flatten" and shape and len(shape) == 3:
        src = summary.layers[j - 1].name if j >= 1 else "input"
        return lambda k: f"{src}[{', '.join(str(int(v)) for v in np.unravel_index(k, shape))}]"
    prev = summary.layers[i - 1].name if i >= 1 else "input"
    return lambda k: f"{prev}[{k}]"


def _explain_at(model, spec: NetSpec, summary: Summary, acts: Activations, image, i: int, unit) -> Explanation:
    info = summary.layers[i]
    unit = check_unit(info, unit)
    inp = image[0] if i == 0 else acts.outputs[summary.layers[i - 1].name]
    ctx = _Ctx(info.name, spec.layers[i], info, model.get_submodule(info.name), inp.detach().double().numpy(),
               unit, _source_label(spec, summary, i))
    lt = L.get(info.type)
    if lt.explain not in EXPLAINERS:
        raise ValueError(f"{info.name}: layer type '{info.type}' has no explainer (LayerType.explain)")
    e = EXPLAINERS[lt.explain](ctx)
    e.model_value = float(acts.outputs[info.name][unit])
    return e


def explain_unit(model: nn.Module, spec: NetSpec | dict | str, image: torch.Tensor, layer: str, unit,
                 acts: Activations | None = None) -> Explanation:
    """How unit ``unit`` ((channel, row, column), or (index,) after the flatten) of ``layer``
    got its value for ``image`` ([1, C, H, W], normalised as the model expects).  ``acts``:
    the forward pass of the same model and image, when the caller already has it (run on a
    copy of ``image``: a network that starts with a pass-through layer and an in-place ReLU
    overwrites the tensor it is given)."""
    spec = as_spec(spec)
    summary = analyze(spec)
    if summary.errors:
        raise ValueError(summary.errors[0])
    names = [x.name for x in summary.layers]
    if layer not in names:
        raise ValueError(f"no layer named {layer!r} (the layers: {', '.join(names)})")
    model.eval()
    acts = acts if acts is not None else capture(model, image.clone())
    i = names.index(layer)
    e = _explain_at(model, spec, summary, acts, image, i, unit)
    if i + 1 < len(names) and L.get(spec.layers[i + 1].type).explain == "pointwise":
        e.after = _explain_at(model, spec, summary, acts, image, i + 1, e.unit)
    return e


# ---- the kernel sliding over one input channel (for the animation) ---------------------------
@dataclass
class Slide:
    """One input channel of a conv seen through the kernel of one filter, at every output
    position: the padded channel, the kernel slice, and the running map of Σ input·weight."""

    padded: np.ndarray  # [H + pads, W + pads] the channel with its padding
    where: np.ndarray  # REAL / PAD per padded pixel
    offset: tuple[int, int]  # input (row, column) of padded[0, 0]
    kernel: np.ndarray  # [kh, kw]
    dilation: tuple[int, int]
    stride: tuple[int, int]
    partial: np.ndarray  # [oh, ow]: Σ over this channel's taps of input·weight


def slide(model: nn.Module, spec: NetSpec | dict | str, image: torch.Tensor, acts: Activations, layer: str,
          out_channel: int, in_channel: int) -> Slide:
    """The data of the sliding-kernel animation of a conv layer for one (filter, input channel);
    ``in_channel`` counts within the filter's group (0 … in/groups − 1)."""
    spec = as_spec(spec)
    summary = analyze(spec)
    i = [x.name for x in summary.layers].index(layer)
    info = summary.layers[i]
    inp = (image[0] if i == 0 else acts.outputs[summary.layers[i - 1].name]).detach().double().numpy()
    conv = model.get_submodule(layer)
    per = conv.weight.shape[1]
    chan = out_channel // (conv.weight.shape[0] // conv.groups) * per + in_channel
    a, b = info.dims
    rows = np.arange(-a.pad_before, a.size_in + a.pad_after)
    cols = np.arange(-b.pad_before, b.size_in + b.pad_after)
    padded, where = read(inp, [chan], rows, cols, info.dims, 0.0)
    kernel = conv.weight.detach()[out_channel, in_channel].double().numpy()
    dh, dw = conv.dilation
    sh, sw = conv.stride
    r = (np.arange(a.out) * sh)[:, None] + dh * np.arange(a.kernel)[None, :]
    k = (np.arange(b.out) * sw)[:, None] + dw * np.arange(b.kernel)[None, :]
    windows = padded[0][r[:, None, :, None], k[None, :, None, :]]  # [oh, ow, kh, kw]
    partial = (windows * kernel).sum(axis=(2, 3))
    return Slide(padded[0], where, (-a.pad_before, -b.pad_before), kernel, (dh, dw), (sh, sw), partial)
