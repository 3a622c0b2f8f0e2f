"""Shape arithmetic for AlexNet-style networks, written out with the user's numbers.

Pure Python: importing this module must not import torch (the UI reruns it on
every slider move, and a teacher's laptop may not have torch at all).

The core formula, per spatial dimension, for a conv or pool with input size W,
kernel F (dilated: F_eff = D·(F − 1) + 1), stride S, padding P on each side:

    N = floor((W − F_eff + 2P) / S) + 1                (PyTorch, floor mode)
    N = ceil((W − F_eff + 2P) / S) + 1, minus 1 if the last window would start
        in the right padding                         (PyTorch ceil_mode=True)

TensorFlow/Keras 'same' pads so that N = ceil(W / S), splitting the total
padding (N − 1)·S + F_eff − W with the extra pixel after (bottom/right);
'valid' is P = 0.

Receptive field (r), jump (j, the distance in input pixels between adjacent
units) and start (centre of the first unit's field, in input pixel coordinates)
follow the usual recurrence:  r' = r + (F_eff − 1)·j;  j' = j·S;
start' = start + ((F_eff − 1)/2 − P_before)·j.

MACs follow torchinfo's convention so the two can be cross-checked: every
weight *and bias* of a conv counts once per output position; a linear layer's
weights and biases count once; BatchNorm counts its 2·C affine parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import layers as L
from .spec import NetSpec, SpecError, as_spec, hw, layer_names
from .window import Dim, _fmt, dim_arith  # noqa: F401  (dim_arith re-exported: the formula's public home)

BYTES_FP32 = 4


# --------------------------------------------------------------------------------------
# per-layer information
# --------------------------------------------------------------------------------------
@dataclass
class LayerInfo:
    index: int
    name: str
    type: str
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    params: int = 0
    weight_params: int = 0
    bias_params: int = 0
    macs: int = 0
    formula: str | None = None
    params_formula: str | None = None
    exact: bool | None = None
    status: str = "ok"  # ok | inexact | error | not_computed
    message: str | None = None  # the warning or error text
    fixes: list[dict] = field(default_factory=list)
    receptive_field: Any = None  # int, or [h, w] when they differ; whole input after flatten
    jump: Any = None
    start: Any = None
    rf_hw: tuple[int, int] | None = None  # always (h, w), for drawing
    jump_hw: tuple[float, float] | None = None
    start_hw: tuple[float, float] | None = None
    dims: tuple[Dim, Dim] | None = None
    # the spatial operations from the input up to and including this layer, for
    # receptive_box: ("win", Dim_h, Dim_w) or ("adaptive", in_h, in_w, out_h, out_w)
    chain: tuple = ()

    @property
    def activation_bytes(self) -> int:
        return math.prod(self.out_shape) * BYTES_FP32 if self.out_shape else 0

    def to_dict(self, total_params: int, total_macs: int) -> dict:
        return {
            "index": self.index, "name": self.name, "type": self.type,
            "in_shape": list(self.in_shape) if self.in_shape else None,
            "out_shape": list(self.out_shape) if self.out_shape else None,
            "params": self.params, "weight_params": self.weight_params, "bias_params": self.bias_params,
            "params_pct": 100.0 * self.params / total_params if total_params else 0.0,
            "macs": self.macs,
            "macs_pct": 100.0 * self.macs / total_macs if total_macs else 0.0,
            "activation_bytes": self.activation_bytes,
            "formula": self.formula, "params_formula": self.params_formula,
            "exact": self.exact, "status": self.status, "message": self.message, "fixes": self.fixes,
            "receptive_field": self.receptive_field, "jump": self.jump, "start": self.start,
        }


def _collapse_one(v):
    """[a, a] → a; keep pairs that differ."""
    a, b = v
    if isinstance(a, float) and a.is_integer():
        a = int(a)
    if isinstance(b, float) and b.is_integer():
        b = int(b)
    return a if a == b else [a, b]


@dataclass
class Summary:
    name: str
    input_shape: tuple[int, int, int]
    layers: list[LayerInfo]
    warnings: list[str]
    errors: list[str]

    @property
    def total_params(self) -> int:
        return sum(x.params for x in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(x.macs for x in self.layers)

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_FP32

    @property
    def activation_bytes(self) -> int:
        """Bytes of every layer's output for one image, fp32 (what a forward keeps for backward)."""
        return sum(x.activation_bytes for x in self.layers)

    @property
    def output_shape(self):
        last = self.layers[-1] if self.layers else None
        return last.out_shape if last else None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def partial(self) -> str:
        """'' when every layer computes; otherwise what the totals leave out (they add up only
        the layers before the first failing one)."""
        bad = next((x for x in self.layers if x.status == "error"), None)
        if bad is None:
            return ""
        if bad.index == 0:
            return f"partial: no layer computes (layer 0 '{bad.name}' fails)"
        return (f"partial: layers 0–{bad.index - 1} only; layer {bad.index} '{bad.name}' fails and "
                "the layers from it on are not counted")

    def to_dict(self) -> dict:
        tp, tm = self.total_params, self.total_macs
        return {
            "name": self.name,
            "input": list(self.input_shape),
            "layers": [x.to_dict(tp, tm) for x in self.layers],
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "total_params": tp,
            "total_macs": tm,
            "partial": self.partial,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }


def _walk_sizes(spec: NetSpec, h: int, w: int, stop: int | None = None):
    """Fast forward walk of spatial sizes only.  Yields (index, (H_in, W_in), dims) for
    window layers; stops at the first collapse (dims with out < 1) or the flatten."""
    for i, layer in enumerate(spec.layers):
        if stop is not None and i > stop:
            return
        step = L.get(layer.type).size_step(layer, h, w)
        if step is None:
            continue
        if step[0] == "stop":
            return
        if step[0] == "set":
            h, w = step[1], step[2]
            continue
        a, b = step[1], step[2]
        yield i, (h, w), (a, b)
        if a.collapsed or b.collapsed:
            return
        h, w = a.out, b.out


def _nearby_inputs(spec: NetSpec, axis: int):
    """(size, H, W) for the input sizes nearest the current one along ``axis`` (±1 … ±64,
    ties: larger first), within 1 … 4096."""
    cur = spec.input.height if axis == 0 else spec.input.width
    for delta in range(1, 65):
        for cand in (cur + delta, cur - delta):
            if 1 <= cand <= 4096:
                yield (cand, cand if axis == 0 else spec.input.height, cand if axis == 1 else spec.input.width)


def _exact_up_to(spec: NetSpec, h: int, w: int, index: int, axis: int) -> bool:
    """Whether layer ``index`` is reached and it and every conv/pool before it divide exactly along ``axis``."""
    for i, _, dims in _walk_sizes(spec, h, w, stop=index):
        d = dims[axis]
        if d.collapsed or not d.exact:
            return False
        if i == index:
            return True
    return False


def _input_fix(spec: NetSpec, index: int, axis: int) -> int | None:
    """The input size closest to the current one (ties: larger) for which layer ``index``
    divides exactly along ``axis`` and no earlier conv/pool becomes inexact."""
    # first choice: the nearest size that makes every conv/pool exact along this axis
    for cand, h, w in _nearby_inputs(spec, axis):
        steps = list(_walk_sizes(spec, h, w))
        if steps and all(not d[axis].collapsed and (d[axis].exact or d[axis].ceil_mode)
                         for _, _, d in steps) and any(i == index for i, _, _ in steps):
            return cand
    # otherwise the nearest that makes this layer exact without breaking an earlier one
    for cand, h, w in _nearby_inputs(spec, axis):
        if _exact_up_to(spec, h, w, index, axis):
            return cand
    return None


def _smallest_surviving_input(spec: NetSpec, limit: int = 1024) -> tuple[int, int] | None:
    """Smallest input (keeping the aspect ratio, longer side ≤ ``limit``) for which no
    conv/pool collapses, or None when even the largest does not help (a collapse after
    an adaptive pool does not depend on the input)."""
    h0, w0 = spec.input.height, spec.input.width
    side = max(h0, w0)

    def size(s):
        return max(1, round(s * h0 / side)), max(1, round(s * w0 / side))

    def survives(s):
        return not any(d[0].collapsed or d[1].collapsed for _, _, d in _walk_sizes(spec, *size(s)))

    if not survives(limit):
        return None
    lo, hi = 1, limit  # every output size is non-decreasing in the input size: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        if survives(mid):
            hi = mid
        else:
            lo = mid + 1
    return size(lo)


class Walk:
    """What the walk down the network carries from layer to layer: the tensor shape, the
    receptive field r, the jump j and the start of the first unit's field (per axis), the
    spatial operations so far (for ``receptive_box``) and the warnings.  Layer rules in
    ``alexnet.layers`` read and advance it:

        r' = r + (F_eff − 1)·j;   j' = j·S;   start' = start + ((F_eff − 1)/2 − P_before)·j
    """

    def __init__(self, spec: NetSpec, check_fixes: bool = True):
        self.spec = spec
        self.check_fixes = check_fixes  # False: no fixes at all (valid_fixes' own look at a fixed network)
        self.shape: tuple[int, ...] = spec.input.shape
        self.rf, self.jump, self.start = (1, 1), (1.0, 1.0), (0.0, 0.0)
        self.flat = False  # after a flatten: every unit sees the whole input
        self.chain: tuple = ()
        self.warnings: list[str] = []

    def window(self, a: Dim, b: Dim) -> None:
        self._advance(a.kernel_eff, b.kernel_eff, a.stride, b.stride, a.pad_before, b.pad_before)
        self.chain += (("win", a, b),)

    def adaptive(self, h: int, w: int, oh: int, ow: int, kh: int, kw: int) -> None:
        self._advance(kh, kw, h / oh, w / ow, 0, 0)
        self.chain += (("adaptive", h, w, oh, ow),)

    def _advance(self, fh, fw, sh, sw, ph, pw) -> None:
        (r0, r1), (j0, j1), (s0, s1) = self.rf, self.jump, self.start
        self.rf = (r0 + (fh - 1) * j0, r1 + (fw - 1) * j1)
        self.start = (s0 + ((fh - 1) / 2 - ph) * j0, s1 + ((fw - 1) / 2 - pw) * j1)
        self.jump = (j0 * sh, j1 * sw)

    def flatten(self) -> None:
        self.flat = True

    def smallest_input(self):
        return _smallest_surviving_input(self.spec) if self.check_fixes else None

    def exact_fixes(self, index, layer, lt, a: Dim, b: Dim) -> list[dict]:
        if not self.check_fixes:
            return []
        return self.valid_fixes(index, _exact_fixes(self.spec, index, layer, lt, a, b), exact=True)

    def valid_fixes(self, index: int, fixes: list[dict], exact: bool = False) -> list[dict]:
        return valid_fixes(self.spec, index, fixes, exact) if self.check_fixes else fixes

    def fill_receptive_field(self, info: LayerInfo) -> None:
        info.chain = self.chain
        if self.flat:
            info.rf_hw = (self.spec.input.height, self.spec.input.width)
            info.receptive_field = _collapse_one(info.rf_hw)
            return
        if any(op[0] == "adaptive" for op in self.chain):  # windows of unequal size and spacing
            fields = [exact_field(self.chain, axis, info.out_shape[1 + axis]) for axis in (0, 1)]
            rf, jump, start = (tuple(f[i] for f in fields) for i in range(3))
        else:
            rf, jump, start = tuple(int(r) if float(r).is_integer() else r for r in self.rf), self.jump, self.start
        info.rf_hw, info.jump_hw, info.start_hw = rf, jump, start
        info.receptive_field = _collapse_one(info.rf_hw)
        info.jump, info.start = _collapse_one(jump), _collapse_one(start)


def unit_span(chain: tuple, axis: int, u: int) -> tuple[int, int]:
    """The first and last input position (padding included, not clipped) that unit ``u`` of
    the chain's last operation reads along ``axis`` (0 rows, 1 columns)."""
    lo = hi = u
    for op in reversed(chain):
        if op[0] == "win":
            d = op[1 + axis]
            lo, hi = lo * d.stride - d.pad_before, hi * d.stride - d.pad_before + d.kernel_eff - 1
        else:  # adaptive: output v reads inputs ⌊v·n_in/n_out⌋ … ⌈(v + 1)·n_in/n_out⌉ − 1
            n_in, n_out = op[1 + axis], op[3 + axis]
            lo, hi = (lo * n_in) // n_out, -(-((hi + 1) * n_in) // n_out) - 1
    return lo, hi


def exact_field(chain: tuple, axis: int, n: int) -> tuple[int, int | None, float | None]:
    """(receptive field, jump, start) along one axis from every unit's own span: after an
    adaptive pool the windows can differ in size and spacing, so the recurrence's fractional
    stride would give fractions (13 → 6 then a 3×3 conv: 7.33, true 7).  The field is the
    largest unit's; jump and start are None (not defined) unless every unit u spans exactly
    start + u·jump ± (field − 1)/2."""
    spans = [unit_span(chain, axis, u) for u in range(n)]
    widths = {hi - lo + 1 for lo, hi in spans}
    steps = {b[0] - a[0] for a, b in zip(spans, spans[1:])}
    field = max(widths)
    start = (spans[0][0] + spans[0][1]) / 2
    if len(widths) > 1 or len(steps) != 1:
        return field, None, (start if n == 1 else None)
    return field, steps.pop(), start


def analyze(config: dict | NetSpec | str, check_fixes: bool = True) -> Summary:
    """Walk the network once and compute everything the table shows: each layer type's
    own rule (``alexnet.layers``) fills in its row.  ``check_fixes=False``: the rows only, without
    the fixes (``valid_fixes`` looks at each fixed network that way)."""
    spec = as_spec(config)
    walk = Walk(spec, check_fixes)
    rows: list[LayerInfo] = []
    errors: list[str] = []
    bad: LayerInfo | None = None
    for i, (layer, name) in enumerate(zip(spec.layers, layer_names(spec))):
        if bad is not None:
            rows.append(LayerInfo(i, name, layer.type, None, None, status="not_computed",
                                  message=f"cannot be computed: layer {bad.index} '{bad.name}' above fails"))
            continue
        info = LayerInfo(i, name, layer.type, walk.shape, None)
        try:
            L.get(layer.type).rule(layer, walk, info)
        except L.LayerFailure as f:
            info.status, info.message, info.fixes, bad = "error", f.message, walk.valid_fixes(i, f.fixes), info
            errors.append(f.message)
        else:
            walk.fill_receptive_field(info)
        rows.append(info)
    if bad is None and spec.num_classes is not None and rows and rows[-1].out_shape != (spec.num_classes,):
        walk.warnings.append(f"the network ends in {list(rows[-1].out_shape)}, not [{spec.num_classes}] "
                             f"(num_classes); add a flatten/linear to {spec.num_classes} outputs at the end")
    return Summary(spec.name, spec.input.shape, rows, walk.warnings, errors)


def fixed_spec(spec: NetSpec, index: int, fix: dict) -> NetSpec:
    """The network a fix of layer ``index`` gives (SpecError when it does not validate)."""
    kind = fix.get("kind")
    if kind == "field":
        return spec.with_layer(index, spec.layers[index].replace(**{fix["field"]: fix["value"]}))
    if kind == "input":
        return spec.with_input(height=fix["height"], width=fix["width"])
    if kind == "delete":
        return spec.delete_layer(index)
    raise SpecError(f"unknown fix {fix!r}")


def valid_fixes(spec: NetSpec, index: int, fixes: list[dict], exact: bool = False) -> list[dict]:
    """Only the fixes that work: the editor accepts them (the fixed network validates), they
    change something, and layer ``index`` then computes (and divides exactly, when ``exact``).
    A button the page then refuses helps nobody (maxpool kernel 4, padding [0, 2] on 3×3:
    kernel 3 would break the pool's padding ≤ kernel/2 rule)."""
    out = []
    for fix in fixes:
        try:
            new = fixed_spec(spec, index, fix)
        except SpecError:
            continue
        row = None if fix["kind"] == "delete" else analyze(new, check_fixes=False).layers[index]
        if new != spec and (row is None or (row.status != "error" and (row.exact or not exact))):
            out.append(fix)
    return out


def _exact_fixes(spec: NetSpec, index: int, layer, lt, a: Dim, b: Dim) -> list[dict]:
    """The smallest padding change, and the nearest input size, that make this layer exact."""
    fixes: list[dict] = []
    if not isinstance(layer.padding, str) and not (a.ceil_mode or b.ceil_mode):
        ph, pw = hw(layer.padding)
        cap_h = a.kernel // 2 if lt.pool else ph + 2 * a.stride
        cap_w = b.kernel // 2 if lt.pool else pw + 2 * b.stride
        new = [p if d.exact else _exact_padding(d, p, cap) for d, p, cap in ((a, ph, cap_h), (b, pw, cap_w))]
        if None not in new and tuple(new) != (ph, pw):
            value = new[0] if new[0] == new[1] else list(new)
            fixes.append({"kind": "field", "field": "padding", "value": value,
                          "label": f"set padding = {value}"})
    h_new = _input_fix(spec, index, 0) if not a.exact else spec.input.height
    w_new = _input_fix(spec, index, 1) if not b.exact else spec.input.width
    if h_new and w_new and (h_new, w_new) != (spec.input.height, spec.input.width):
        fixes.append({"kind": "input", "height": h_new, "width": w_new,
                      "label": f"use input {h_new}×{w_new}"})
    return fixes


def _exact_padding(d: Dim, p: int, cap: int) -> int | None:
    """The padding nearest ``p`` (ties: larger), at most ``cap``, that divides exactly."""
    for q in sorted(range(0, cap + 1), key=lambda q: (abs(q - p), -q)):
        num = d.size_in + 2 * q - d.kernel_eff
        if num >= 0 and num % d.stride == 0:
            return q
    return None


def summarize(config: dict | NetSpec | str) -> dict:
    """The one summary the UI and ``python -m alexnet summary --json`` both show."""
    return analyze(config).to_dict()


def receptive_box(info: LayerInfo, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Input pixels (top, left, bottom, right; inclusive) that can influence unit
    (row, col) of a layer's output: the bounding box of its true receptive field.

    Walks the conv/pool windows backwards with the exact set of positions per axis,
    dropping taps that land in padding at every layer.  (The recurrence
    r' = r + (F − 1)·j, clipped only at the image border, over-counts when an inner
    layer's window reaches into its padding or a dilated kernel skips pixels.)"""
    if info.jump_hw is None:  # after flatten: every pixel
        return 0, 0, height - 1, width - 1
    rows, cols = {row}, {col}
    for op in reversed(info.chain):
        if op[0] == "win":
            _, a, b = op
            rows, cols = _back(rows, a), _back(cols, b)
        else:
            _, ih, iw, oh, ow = op
            rows = {p for r in rows for p in range((r * ih) // oh, -(-((r + 1) * ih) // oh))}
            cols = {p for c in cols for p in range((c * iw) // ow, -(-((c + 1) * iw) // ow))}
        if not rows or not cols:  # the unit sees only padding
            return 0, 0, -1, -1
    return min(rows), min(cols), max(rows), max(cols)


def _back(units: set[int], d: Dim) -> set[int]:
    """Output positions of one window layer → the input positions their taps read
    (a dilated kernel reads every D-th position; taps in zero padding read nothing, taps in
    reflect/replicate/circular padding read the input pixel the padding copies)."""
    dil = (d.kernel_eff - 1) // (d.kernel - 1) if d.kernel > 1 else 1
    out: set[int] = set()
    for u in units:
        start = u * d.stride - d.pad_before
        if d.fill != "zeros":
            out.update(_padded_source(p, d.size_in, d.fill) for p in range(start, start + d.kernel_eff, dil))
            continue
        first = start if start >= 0 else start + math.ceil(-start / dil) * dil  # first tap inside
        out.update(range(first, min(start + d.kernel_eff, d.size_in), dil))
    return out


def _padded_source(p: int, n: int, fill: str) -> int:
    """The input position that padded position ``p`` (of an ``n``-wide input) copies."""
    if 0 <= p < n:
        return p
    if fill == "circular":
        return p % n
    if fill == "replicate":
        return min(max(p, 0), n - 1)
    return -p if p < 0 else 2 * (n - 1) - p  # reflect (no edge repeat; torch needs pad < n)


def training_memory_bytes(summary: Summary | dict, batch: int, optimizer: str = "sgd") -> int:
    """Rough fp32 training memory: weights + grads + optimizer state (SGD momentum 1,
    Adam 2 copies) + every activation kept for backward and its gradient (2×)."""
    states = {"sgd": 1, "adam": 2, "adamw": 2}.get(optimizer.lower(), 1)
    if isinstance(summary, dict):
        pb, ab = summary["param_bytes"], summary["activation_bytes"]
    else:
        pb, ab = summary.param_bytes, summary.activation_bytes
    return pb * (2 + states) + 2 * ab * batch
