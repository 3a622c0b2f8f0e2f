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

from .spec import NetSpec, as_spec, hw, layer_names

BYTES_FP32 = 4
SPATIAL = ("conv", "maxpool", "avgpool")
_MINUS = "−"


def _fmt(x: float) -> str:
    """55 → '55', 54.25 → '54.25', 1/3 → '0.33'."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _n(x: int) -> str:
    return f"{x:,}"


# --------------------------------------------------------------------------------------
# one dimension of a conv / pool
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dim:
    """The arithmetic of one spatial dimension of one layer."""

    size_in: int
    kernel: int  # as given
    kernel_eff: int  # dilated
    stride: int
    pad_before: int
    pad_after: int
    ceil_mode: bool
    padding_mode: str  # 'int', 'same', 'valid'
    out: int  # < 1 means the layer collapses
    exact: bool
    remainder: int  # (W + pads − F_eff) mod S: padded-input columns never covered
    ceil_dropped: bool = False  # PyTorch removed a last window that started in the padding
    caffe_out: int | None = None  # what Caffe/Paddle's ceil rule gives, when it differs

    @property
    def numerator(self) -> int:
        return self.size_in + self.pad_before + self.pad_after - self.kernel_eff

    @property
    def collapsed(self) -> bool:
        # PyTorch's ceil mode still gives one (partial) window when the kernel overhangs
        # the input by less than a stride; floor mode gives none.
        return self.out < 1

    def formula(self) -> str:
        """'(224 − 11 + 2·2)/4 + 1 = 55.25 → 55' with the user's numbers."""
        w, f, s = self.size_in, self.kernel_eff, self.stride
        if self.padding_mode == "same":
            pt = self.pad_before + self.pad_after
            return (f"same: ⌈{w}/{s}⌉ = {self.out} (pads {pt}: {self.pad_before} before, "
                    f"{self.pad_after} after)")
        pads = ""
        if self.pad_before == self.pad_after and self.pad_before:
            pads = f" + 2·{self.pad_before}"
        elif self.pad_before or self.pad_after:
            pads = f" + {self.pad_before}+{self.pad_after}"
        body = f"{w} {_MINUS} {f}{pads}"
        if self.numerator < 0 and not self.ceil_mode:
            return f"({body})/{s} + 1 = {_fmt(self.numerator / s + 1)} < 1"
        value = self.numerator / s + 1
        if self.ceil_mode:
            text = f"⌈({body})/{s}⌉ + 1 = {math.ceil(self.numerator / s) + 1}"
            if self.ceil_dropped:
                text += f" − 1 = {self.out} (last window would start in the padding)"
            return text
        if self.exact:
            return f"({body})/{s} + 1 = {self.out}"
        return f"({body})/{s} + 1 = {_fmt(value)} → {self.out}"


def dim_arith(size_in: int, kernel: int, stride: int, padding, dilation: int = 1,
              ceil_mode: bool = False) -> Dim:
    """Output size of one dimension.  ``padding`` is an int, 'same' or 'valid'."""
    f_eff = dilation * (kernel - 1) + 1
    if padding == "same":
        out = -(-size_in // stride)
        total = max((out - 1) * stride + f_eff - size_in, 0)
        pb, pa, mode = total // 2, total - total // 2, "same"
    elif padding == "valid":
        pb = pa = 0
        mode = "valid"
    else:
        pb = pa = int(padding)
        mode = "int"
    num = size_in + pb + pa - f_eff
    dropped = False
    caffe = None
    if num < 0 and not (ceil_mode and mode != "same"):
        # floor mode: a window larger than the padded input gives nothing
        return Dim(size_in, kernel, f_eff, stride, pb, pa, ceil_mode, mode, min(num // stride + 1, 0), False, 0)
    if mode == "same":
        exact = num % stride == 0
        out = num // stride + 1  # equals ceil(W/S) by construction
    elif ceil_mode:
        out = -(-num // stride) + 1
        caffe_rule = out
        if (out - 1) * stride >= size_in + pb:
            out -= 1
            dropped = True
        if caffe_rule != out:
            caffe = caffe_rule
        exact = num % stride == 0
    else:
        out = num // stride + 1
        exact = num % stride == 0
    return Dim(size_in, kernel, f_eff, stride, pb, pa, ceil_mode, mode, out, exact,
               num % stride, dropped, caffe)


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

    def to_dict(self) -> dict:
        tp, tm = self.total_params, self.total_macs
        return {
            "name": self.name,
            "input": list(self.input_shape),
            "layers": [x.to_dict(tp, tm) for x in self.layers],
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "total_params": tp,
            "total_macs": tm,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }


def _label(i: int, t: str, name: str) -> str:
    return f"layer {i} ({t}) '{name}'"


def _walk_sizes(spec: NetSpec, h: int, w: int, stop: int | None = None):
    """Fast forward walk of spatial sizes only.  Yields (index, (H_in, W_in), dims) for
    conv/pool layers; stops at the first collapse (dims with out < 1)."""
    for i, layer in enumerate(spec.layers):
        if stop is not None and i > stop:
            return
        t = layer.type
        if t in SPATIAL:
            kh, kw = hw(layer.kernel)
            sh, sw = hw(layer.stride if layer.stride is not None else layer.kernel)
            dh, dw = hw(getattr(layer, "dilation", 1))
            pad = layer.padding
            ph, pw = (pad, pad) if isinstance(pad, str) else hw(pad)
            cm = getattr(layer, "ceil_mode", False)
            a = dim_arith(h, kh, sh, ph, dh, cm)
            b = dim_arith(w, kw, sw, pw, dw, cm)
            yield i, (h, w), (a, b)
            if a.collapsed or b.collapsed:
                return
            h, w = a.out, b.out
        elif t in ("adaptive_avgpool", "adaptive_maxpool"):
            h, w = hw(layer.output)
        elif t == "flatten":
            return


def _input_fix(spec: NetSpec, index: int, axis: int) -> int | None:
    """The input size closest to the current one (ties: larger) for which layer ``index``
    divides exactly along ``axis`` and no earlier conv/pool becomes inexact."""
    cur = spec.input.height if axis == 0 else spec.input.width
    # first choice: the nearest size that makes every conv/pool exact along this axis
    for delta in range(1, 65):
        for cand in (cur + delta, cur - delta):
            if cand < 1 or cand > 4096:
                continue
            h = cand if axis == 0 else spec.input.height
            w = cand if axis == 1 else spec.input.width
            steps = list(_walk_sizes(spec, h, w))
            if steps and all(not d[axis].collapsed and (d[axis].exact or d[axis].ceil_mode)
                             for _, _, d in steps) and any(i == index for i, _, _ in steps):
                return cand
    # otherwise the nearest that makes this layer exact without breaking an earlier one
    for delta in range(1, 65):
        for cand in (cur + delta, cur - delta):
            if cand < 1 or cand > 4096:
                continue
            h = cand if axis == 0 else spec.input.height
            w = cand if axis == 1 else spec.input.width
            ok = False
            for i, _, dims in _walk_sizes(spec, h, w, stop=index):
                d = dims[axis]
                if d.collapsed or not d.exact:
                    break
                if i == index:
                    ok = True
            if ok:
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


def analyze(config: dict | NetSpec | str) -> Summary:
    """Walk the network once and compute everything the table shows."""
    spec = as_spec(config)
    names = layer_names(spec)
    c, h, w = spec.input.shape
    shape: tuple[int, ...] = (c, h, w)
    rf = (1, 1)
    jump = (1.0, 1.0)
    start = (0.0, 0.0)
    layers: list[LayerInfo] = []
    warnings: list[str] = []
    errors: list[str] = []
    broken = False
    chain: tuple = ()

    for i, layer in enumerate(spec.layers):
        t = layer.type
        name = names[i]
        if broken:
            bad = next(x for x in layers if x.status == "error")
            layers.append(LayerInfo(i, name, t, None, None, status="not_computed",
                                    message=f"cannot be computed: layer {bad.index} '{bad.name}' above fails"))
            continue
        info = LayerInfo(i, name, t, shape, None)
        spatial = len(shape) == 3
        if t == "conv":
            cin = shape[0]
            if cin % layer.groups:
                info.status = "error"
                info.message = (f"{_label(i, t, name)}: groups = {layer.groups} must divide its "
                                f"{cin} input channels; try groups = "
                                f"{', '.join(str(g) for g in _divisors_both(cin, layer.out_channels)[:6])}")
                info.fixes = [{"kind": "field", "field": "groups", "value": 1, "label": "set groups = 1"}]
                errors.append(info.message)
                layers.append(info)
                broken = True
                continue
        if t in SPATIAL:
            kh, kw = hw(layer.kernel)
            sh, sw = hw(layer.stride if layer.stride is not None else layer.kernel)
            dh, dw = hw(getattr(layer, "dilation", 1))
            pad = layer.padding
            ph, pw = (pad, pad) if isinstance(pad, str) else hw(pad)
            cm = getattr(layer, "ceil_mode", False)
            a = dim_arith(shape[1], kh, sh, ph, dh, cm)
            b = dim_arith(shape[2], kw, sw, pw, dw, cm)
            info.dims = (a, b)
            fa, fb = a.formula(), b.formula()
            info.formula = fa if (fa == fb and shape[1] == shape[2]) else f"H: {fa}; W: {fb}"
            if a.collapsed or b.collapsed:
                d = a if a.collapsed else b
                info.status = "error"
                pad_txt = f"{d.pad_before}+{d.pad_after}" if d.pad_before != d.pad_after else str(d.pad_before)
                info.message = (f"{_label(i, t, name)} collapses: its {kh}×{kw} window"
                                + (f" (dilated to {a.kernel_eff}×{b.kernel_eff})" if (dh, dw) != (1, 1) else "")
                                + f" is larger than its {shape[1]}×{shape[2]} input with padding {pad_txt}, "
                                "so the output would be empty.")
                fixes = []
                smallest = _smallest_surviving_input(spec)
                if smallest and smallest != (spec.input.height, spec.input.width):
                    fixes.append({"kind": "input", "height": smallest[0], "width": smallest[1],
                                  "label": f"use input {smallest[0]}×{smallest[1]} (the smallest that does not collapse)"})
                fit_h = shape[1] + a.pad_before + a.pad_after
                fit_w = shape[2] + b.pad_before + b.pad_after
                if (dh, dw) == (1, 1) and min(fit_h, fit_w) >= 1:
                    kfit = min(fit_h, fit_w) if kh == kw else None
                    if kfit is not None and kfit < kh:
                        fixes.append({"kind": "field", "field": "kernel", "value": kfit,
                                      "label": f"shrink the kernel to {kfit}"})
                if t in ("maxpool", "avgpool"):
                    fixes.append({"kind": "delete", "label": f"remove {name}"})
                info.fixes = fixes
                info.message += " Fix: " + "; or ".join(f["label"] for f in fixes) + "." if fixes else ""
                errors.append(info.message)
                layers.append(info)
                broken = True
                continue
            cout = layer.out_channels if t == "conv" else shape[0]
            chain = chain + (("win", a, b),)
            shape = (cout, a.out, b.out)
            info.out_shape = shape
            info.exact = a.exact and b.exact
            # receptive field
            rf = (rf[0] + (a.kernel_eff - 1) * jump[0], rf[1] + (b.kernel_eff - 1) * jump[1])
            start = (start[0] + ((a.kernel_eff - 1) / 2 - a.pad_before) * jump[0],
                     start[1] + ((b.kernel_eff - 1) / 2 - b.pad_before) * jump[1])
            jump = (jump[0] * a.stride, jump[1] * b.stride)
            if t == "conv":
                cin = info.in_shape[0]
                info.weight_params = layer.out_channels * (cin // layer.groups) * kh * kw
                info.bias_params = layer.out_channels if layer.bias else 0
                cin_txt = f"({cin}/{layer.groups})" if layer.groups > 1 else str(cin)
                bias = f" + {layer.out_channels}" if layer.bias else ""
                info.params = info.weight_params + info.bias_params
                info.params_formula = f"{layer.out_channels}·{cin_txt}·{kh}·{kw}{bias} = {_n(info.params)}"
                info.macs = info.params * a.out * b.out
            msgs = []
            same_ab = (a.size_in, a.kernel_eff, a.stride, a.pad_before, a.pad_after) == \
                (b.size_in, b.kernel_eff, b.stride, b.pad_before, b.pad_after)
            for axis, d in ((("rows and columns", a),) if same_ab else (("rows", a), ("columns", b))):
                if d.padding_mode != "same" and not d.exact and not d.ceil_mode:
                    real = max(0, d.remainder - d.pad_after)
                    what = (f"the last {real} input {_unit(axis, real)} never covered"
                            if real else f"only {d.remainder} padding {_unit(axis, d.remainder)} dropped, "
                            "no input pixel is lost")
                    msgs.append(f"{d.numerator}/{d.stride} is not whole → {what}")
                if d.ceil_mode and d.numerator < 0:
                    msgs.append(f"{axis}: the {d.kernel_eff}-wide window is larger than the {d.size_in}-wide "
                                "input; ceil mode still computes one partial window")
                elif d.ceil_mode and not d.exact:
                    msgs.append(f"{axis}: ceil mode adds a last window that hangs over the edge")
                if d.caffe_out is not None:
                    msgs.append(f"{axis}: PyTorch gives {d.out}, Caffe/Paddle's ceil rule would give {d.caffe_out}")
                if d.stride > d.kernel_eff:
                    msgs.append(f"{axis}: stride {d.stride} > kernel {d.kernel_eff}, so "
                                f"{d.stride - d.kernel_eff} of every {d.stride} input {axis} are skipped")
            if not info.exact and not (a.ceil_mode and b.ceil_mode):
                info.status = "inexact"
                info.fixes = _exact_fixes(spec, i, layer, a, b)
            if msgs:
                info.message = f"{_label(i, t, name)}: " + "; ".join(msgs)
                if info.fixes:
                    info.message += ". Fix: " + "; or ".join(f["label"] for f in info.fixes)
                warnings.append(info.message)
        elif t in ("adaptive_avgpool", "adaptive_maxpool"):
            if not spatial:
                info.status = "error"
                info.message = f"{_label(i, t, name)}: needs a [C, H, W] input, got {list(shape)}"
                errors.append(info.message)
                layers.append(info)
                broken = True
                continue
            oh, ow = hw(layer.output)
            kh = max(-(-((r + 1) * shape[1]) // oh) - (r * shape[1]) // oh for r in range(oh))
            kw = max(-(-((r + 1) * shape[2]) // ow) - (r * shape[2]) // ow for r in range(ow))
            sh, sw = shape[1] / oh, shape[2] / ow
            info.formula = (f"adaptive: {shape[1]}×{shape[2]} → {oh}×{ow} "
                            f"(windows up to {kh}×{kw}, stride ≈ {_fmt(sh)}×{_fmt(sw)})")
            info.exact = shape[1] % oh == 0 and shape[2] % ow == 0
            rf = (rf[0] + (kh - 1) * jump[0], rf[1] + (kw - 1) * jump[1])
            start = (start[0] + (kh - 1) / 2 * jump[0], start[1] + (kw - 1) / 2 * jump[1])
            jump = (jump[0] * sh, jump[1] * sw)
            if oh > shape[1] or ow > shape[2]:
                info.message = (f"{_label(i, t, name)}: upsamples {shape[1]}×{shape[2]} to {oh}×{ow} "
                                "by repeating values; the extra outputs carry no new information")
                warnings.append(info.message)
            chain = chain + (("adaptive", shape[1], shape[2], oh, ow),)
            shape = (shape[0], oh, ow)
            info.out_shape = shape
        elif t == "flatten":
            shape = (math.prod(shape),)
            info.out_shape = shape
            if len(info.in_shape) == 3:
                ci, hi, wi = info.in_shape
                info.formula = f"{ci}·{hi}·{wi} = {_n(shape[0])}"
            rf = (spec.input.height, spec.input.width)
            jump = None
        elif t == "linear":
            fin = shape[0]
            info.weight_params = fin * layer.out_features
            info.bias_params = layer.out_features if layer.bias else 0
            info.params = info.weight_params + info.bias_params
            info.macs = info.params
            bias = f" + {layer.out_features}" if layer.bias else ""
            info.params_formula = f"{_n(fin)}·{_n(layer.out_features)}{bias} = {_n(info.params)}"
            shape = (layer.out_features,)
            info.out_shape = shape
        elif t == "batchnorm":
            ch = shape[0]
            info.weight_params = ch
            info.bias_params = ch
            info.params = 2 * ch
            info.macs = 2 * ch
            info.params_formula = f"2·{ch} = {_n(2 * ch)} (scale and shift; running stats are buffers)"
            info.out_shape = shape
        elif t == "lrn":
            if not spatial:
                info.status = "error"
                info.message = f"{_label(i, t, name)}: LRN needs a [C, H, W] input, got {list(shape)}"
                errors.append(info.message)
                layers.append(info)
                broken = True
                continue
            if layer.size > shape[0]:
                info.message = (f"{_label(i, t, name)}: window of {layer.size} channels is wider than the "
                                f"{shape[0]} channels it normalises across")
                warnings.append(info.message)
            info.out_shape = shape
        else:  # activations, dropout
            info.out_shape = shape
        info.chain = chain
        if jump is None:
            info.rf_hw = (spec.input.height, spec.input.width)
            info.receptive_field = _collapse_one(info.rf_hw)
            info.jump = None
            info.start = None
        else:
            info.rf_hw = (int(rf[0]) if float(rf[0]).is_integer() else rf[0],
                          int(rf[1]) if float(rf[1]).is_integer() else rf[1])
            info.jump_hw = jump
            info.start_hw = start
            info.receptive_field = _collapse_one(info.rf_hw)
            info.jump = _collapse_one(jump)
            info.start = _collapse_one(start)
        layers.append(info)

    if not broken and spec.num_classes is not None and layers and layers[-1].out_shape != (spec.num_classes,):
        msg = (f"the network ends in {list(layers[-1].out_shape)}, not [{spec.num_classes}] "
               f"(num_classes); add a flatten/linear to {spec.num_classes} outputs at the end")
        warnings.append(msg)
    return Summary(spec.name, spec.input.shape, layers, warnings, errors)


def _unit(axis: str, n: int) -> str:
    """'rows and columns', 1 → 'row and column is'; 'rows', 2 → 'rows are'."""
    if n == 1:
        return axis.replace("rows", "row").replace("columns", "column") + (" are" if " and " in axis else " is")
    return axis + " are"


def _divisors_both(a: int, b: int) -> list[int]:
    return [g for g in range(1, min(a, b) + 1) if a % g == 0 and b % g == 0]


def _exact_fixes(spec: NetSpec, index: int, layer, a: Dim, b: Dim) -> list[dict]:
    """The smallest padding change, and the nearest input size, that make this layer exact."""
    fixes: list[dict] = []
    if not isinstance(layer.padding, str) and not (a.ceil_mode or b.ceil_mode):
        ph, pw = hw(layer.padding)
        cap_h = a.kernel // 2 if layer.type != "conv" else ph + 2 * a.stride
        cap_w = b.kernel // 2 if layer.type != "conv" else pw + 2 * b.stride
        new = []
        for d, p, cap in ((a, ph, cap_h), (b, pw, cap_w)):
            if d.exact:
                new.append(p)
                continue
            found = None
            for q in sorted(range(0, cap + 1), key=lambda q: (abs(q - p), -q)):
                if (d.size_in + 2 * q - d.kernel_eff) >= 0 and (d.size_in + 2 * q - d.kernel_eff) % d.stride == 0:
                    found = q
                    break
            new.append(found)
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
    (taps in the padding read nothing; a dilated kernel reads every D-th position)."""
    dil = (d.kernel_eff - 1) // (d.kernel - 1) if d.kernel > 1 else 1
    out: set[int] = set()
    for u in units:
        start = u * d.stride - d.pad_before
        first = start if start >= 0 else start + math.ceil(-start / dil) * dil  # first tap inside
        out.update(range(first, min(start + d.kernel_eff, d.size_in), dil))
    return out


def training_memory_bytes(summary: Summary | dict, batch: int, optimizer: str = "sgd") -> int:
    """Rough fp32 training memory: weights + grads + optimizer state (SGD momentum 1,
    Adam 2 copies) + every activation kept for backward and its gradient (2×)."""
    states = {"sgd": 1, "adam": 2, "adamw": 2}.get(optimizer.lower(), 1)
    if isinstance(summary, dict):
        pb, ab = summary["param_bytes"], summary["activation_bytes"]
    else:
        pb, ab = summary.param_bytes, summary.activation_bytes
    return pb * (2 + states) + 2 * ab * batch


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def human_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return str(int(n))
