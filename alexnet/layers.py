"""The layer-type registry: everything the project knows about one layer type, in one place.

Each layer type is one small class registered with ``@register``:

* ``fields``     its JSON fields (``Field``: kind, default = PyTorch's, bounds, help, editor hints);
* ``check``      validation across its own fields (each field is checked by its ``Field``);
* ``rule``       the shape / parameter / multiply-add / receptive-field rule, pure Python — it
                 reads the incoming shape from the walk (``alexnet.arithmetic``) and fills in
                 the row of the table;
* ``module``     the torch.nn module (torch is imported only inside it);
* ``code``       the same module as PyTorch source text;
* ``category``, ``where``, ``diagram``, ``swap_group``, ``new_layer``: what the editor, the
  table and the drawing need (where it may stand, how it is drawn, what it can be swapped for,
  what a freshly inserted one looks like).

``alexnet.spec`` makes each type's frozen spec dataclass from its fields; arithmetic, build,
codegen and the UI look types up here instead of branching on the type name.  A new layer
type is one class below (see the README's "Adding a layer type").

No torch import at module level: the UI reads this on every rerun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .window import Dim, dim_arith

MAX_SIDE = 4096  # input height/width
MAX_CHANNELS = 65536
MAX_FEATURES = 1 << 20
MAX_KERNEL = 1024


class SpecError(ValueError):
    """An invalid network spec.  The message names the layer and the field."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field


class LayerFailure(Exception):
    """A layer that cannot compute on its input (a collapse, groups that do not divide …):
    the walk marks its row as an error with this message and these fixes."""

    def __init__(self, message: str, fixes: list[dict] | None = None):
        super().__init__(message)
        self.message, self.fixes = message, fixes or []


def field_error(index, type_, fld, msg) -> SpecError:
    where = "network" if index is None else f"layer {index} ({type_})"
    return SpecError(f"{where}: field '{fld}' {msg}", index=index, field=fld)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def hw(v) -> tuple[int, int]:
    """Expand an int-or-pair to (h, w)."""
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def one_or_pair(v):
    """(a, a) → a for code and JSON; pairs that differ stay pairs."""
    a, b = hw(v)
    return a if a == b else (a, b)


# --------------------------------------------------------------------------------------
# fields
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One JSON field of a layer type: its kind, PyTorch's default, its valid range, and
    how the editor shows it.  Kinds: int, float, bool, choice, pair (an int or [h, w]),
    padding (a pair, 'same' or 'valid'), stride (a pair, or null = the kernel)."""

    name: str
    kind: str
    default: Any
    lo: float = 0
    hi: float = 0
    open_lo: bool = False  # lo itself is not allowed
    open_hi: bool = False
    choices: tuple = ()
    help: str = ""
    label: str = ""  # the editor's label (default: the name with spaces)
    ui_hi: float | None = None  # the editor slider's end; typed values and uploads may go up to hi
    ui_step: float | None = None
    ui_fmt: str | None = None
    rule: str = ""  # how an error states the range, when the plain interval says too little
    ui: str = ""  # an editor hint: 'slider' (a float as a slider), 'divisor' (choose among divisors)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def interval(self) -> str:
        return f"{'(' if self.open_lo else '['}{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"

    def parse(self, v, index, type_):
        """The value, validated and normalised (pairs of equal ints → int, ints → float)."""
        fn = _PARSERS[self.kind]
        return fn(self, v, lambda msg: field_error(index, type_, self.name, msg))


def _parse_int(f: Field, v, err):
    if not is_int(v) or not f.lo <= v <= f.hi:
        raise err(f"must be an integer between {f.lo:g} and {f.hi:g}, got {v!r}")
    return v


def _parse_float(f: Field, v, err):
    ok = is_num(v) and abs(v) <= 1e300 and not (isinstance(v, float) and v != v)
    if ok:
        v = float(v)
        ok = (f.lo < v if f.open_lo else f.lo <= v) and (v < f.hi if f.open_hi else v <= f.hi)
    if not ok:
        raise err(f"must be {f.rule or 'a number in ' + f.interval()}, got {v!r}")
    return v


def _parse_bool(f: Field, v, err):
    if not isinstance(v, bool):
        raise err(f"must be true or false, got {v!r}")
    return v


def _parse_choice(f: Field, v, err):
    if not isinstance(v, str) or v not in f.choices:
        raise err(f"must be one of {', '.join(f.choices)}, got {v!r}")
    return v


def _parse_pair(f: Field, v, err):
    """An int or [h, w] with lo <= each <= hi.  Returns an int or a tuple."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(is_int(x) for x in v):
            raise err(f"must be an integer or a pair [h, w] of integers, got {v!r}")
        if not all(f.lo <= x <= f.hi for x in v):
            raise err(f"must be between {f.lo:g} and {f.hi:g}, got {list(v)}")
        return (v[0], v[1]) if v[0] != v[1] else v[0]
    if not is_int(v):
        raise err(f"must be an integer or a pair [h, w] of integers, got {v!r}")
    if not f.lo <= v <= f.hi:
        raise err(f"must be between {f.lo:g} and {f.hi:g}, got {v}")
    return v


def _parse_padding(f: Field, v, err):
    if isinstance(v, str):
        if v.lower() in ("same", "valid"):
            return v.lower()
        raise err(f"must be an integer ≥ 0, a pair [h, w], 'same' or 'valid', got {v!r}")
    return _parse_pair(f, v, err)


def _parse_stride(f: Field, v, err):
    return None if v is None else _parse_pair(f, v, err)


_PARSERS = {"int": _parse_int, "float": _parse_float, "bool": _parse_bool, "choice": _parse_choice,
            "pair": _parse_pair, "padding": _parse_padding, "stride": _parse_stride}


def _f_kernel(default, ui_hi):
    return Field("kernel", "pair", default, 1, MAX_KERNEL, ui_hi=ui_hi, help="window size F (an int, or [h, w])")


def _f_padding(ui_hi=32):
    return Field("padding", "padding", 0, 0, MAX_KERNEL, ui_hi=ui_hi,
                 help="P pixels on each side; 'same': out = ⌈in/stride⌉ (TF/Keras); 'valid': none")


_F_BIAS = Field("bias", "bool", True, help="add a learned bias per output")
_F_CEIL = Field("ceil_mode", "bool", False, label="ceil mode (round the output size up, as Caffe/Paddle do)")


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------
REGISTRY: dict[str, LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Add a layer type; a name may be registered once (as torchvision's model registry)."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"layer type {cls.name!r} is {'unnamed' if not cls.name else 'registered twice'}")
    REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> LayerType:
    return REGISTRY[name]


def names(category: str | None = None) -> tuple[str, ...]:
    return tuple(n for n, lt in REGISTRY.items() if category is None or lt.category == category)


SWAP_LABELS = {"pool": "pooling", "adaptive": "pooling", "activation": "activation"}


class LayerType:
    """One layer type.  Subclasses set the class attributes and override what differs."""

    name: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    category: ClassVar[str] = "shape"  # window | adaptive | activation | normalisation | regulariser | shape | classifier
    where: ClassVar[str] = "any"  # spatial (needs C×H×W) | flat (needs [features]) | any
    prefix: ClassVar[str] = ""  # module names: prefix + running number (default: the type name)
    diagram: ClassVar[str | None] = None  # conv | pool | adaptive | linear: drawn to scale; None: not drawn
    swap_group: ClassVar[str | None] = None  # the editor can swap it for a type of the same group
    insertable: ClassVar[bool] = True  # offered by the editor's "new layer type" box
    torch_name: ClassVar[str] = ""  # the torch.nn class whose defaults ``fields`` mirror
    help: ClassVar[str] = ""
    explain: ClassVar[str] = ""  # how alexnet.explain explains one output unit (a key of its EXPLAINERS)

    @property
    def quiet(self) -> bool:
        """Rows the table greys out: pointwise layers that change no shape and hold no weights."""
        return self.category in ("activation", "regulariser")

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def check(self, layer, index) -> None:
        """Checks across this layer's fields (each field alone is checked by its Field)."""

    def rule(self, layer, walk, info) -> None:
        """Shape-preserving by default: the output is the input."""
        info.out_shape = walk.shape

    def size_step(self, layer, h: int, w: int):
        """How the spatial size changes, for the fast size-only walk: None (unchanged),
        ('win', Dim_h, Dim_w), ('set', h, w) or ('stop',) (flattened)."""
        return None

    def module(self, layer, info):
        raise NotImplementedError(self.name)

    def code(self, layer, info) -> tuple[str, str | None]:
        """(PyTorch expression, name of a helper class it needs or None)."""
        raise NotImplementedError(self.name)

    def new_layer(self, in_shape) -> dict:
        """The layer the editor inserts after a layer with output ``in_shape``."""
        return {"type": self.name}

    def editor_label(self, f: Field, spec, index: int) -> str:
        return f.title


def label(info) -> str:
    return f"layer {info.index} ({info.type}) '{info.name}'"


# --------------------------------------------------------------------------------------
# sliding windows: conv, max-pool, average-pool
# --------------------------------------------------------------------------------------
def _unit(axis: str, n: int) -> str:
    """'rows and columns', 1 → 'row and column is'; 'rows', 2 → 'rows are'."""
    if n == 1:
        return axis.replace("rows", "row").replace("columns", "column") + (" are" if " and " in axis else " is")
    return axis + " are"


def divisors_both(a: int, b: int) -> list[int]:
    return [g for g in range(1, min(a, b) + 1) if a % g == 0 and b % g == 0]


def pads_of(dims) -> tuple[tuple[int, int, int, int], bool]:
    """(left, right, top, bottom) paddings of a window layer, and whether they are symmetric."""
    a, b = dims
    pads = (b.pad_before, b.pad_after, a.pad_before, a.pad_after)
    return pads, a.pad_before == a.pad_after and b.pad_before == b.pad_after


class WindowType(LayerType):
    """A sliding window: the output size N = ⌊(W − F_eff + P_before + P_after)/S⌋ + 1 per axis."""

    category = "window"
    where = "spatial"
    pool: ClassVar[bool] = False  # pools: padding ≤ k/2, removable when they collapse

    def dims(self, layer, h: int, w: int) -> tuple[Dim, Dim]:
        kh, kw = hw(layer.kernel)
        sh, sw = hw(layer.stride if layer.stride is not None else layer.kernel)
        dh, dw = hw(getattr(layer, "dilation", 1))
        pad = layer.padding
        ph, pw = (pad, pad) if isinstance(pad, str) else hw(pad)
        cm = getattr(layer, "ceil_mode", False)
        fill = getattr(layer, "padding_mode", "zeros")
        return dim_arith(h, kh, sh, ph, dh, cm, fill), dim_arith(w, kw, sw, pw, dw, cm, fill)

    def size_step(self, layer, h, w):
        return ("win", *self.dims(layer, h, w))

    def out_channels(self, layer, cin: int) -> int:
        return cin

    def check_input(self, layer, walk, info) -> None:
        """Raise LayerFailure when the layer cannot read its input (before any shape)."""

    def rule(self, layer, walk, info):
        self.check_input(layer, walk, info)
        c, h, w = walk.shape
        a, b = self.dims(layer, h, w)
        info.dims = (a, b)
        fa, fb = a.formula(), b.formula()
        info.formula = fa if (fa == fb and h == w) else f"H: {fa}; W: {fb}"
        if a.collapsed or b.collapsed:
            raise LayerFailure(*self._collapse(layer, walk, info, a, b))
        self.check_padding(layer, info, a, b)
        walk.window(a, b)
        info.out_shape = walk.shape = (self.out_channels(layer, c), a.out, b.out)
        info.exact = a.exact and b.exact
        self.count(layer, info, a, b)
        self._warn(layer, walk, info, a, b)

    def check_padding(self, layer, info, a: Dim, b: Dim) -> None:
        """Raise LayerFailure when the padding cannot be applied to this input size."""

    def count(self, layer, info, a: Dim, b: Dim) -> None:
        """Parameters and multiply-adds (pools have none)."""

    def _collapse(self, layer, walk, info, a: Dim, b: Dim) -> tuple[str, list[dict]]:
        kh, kw = hw(layer.kernel)
        dh, dw = hw(getattr(layer, "dilation", 1))
        c, h, w = walk.shape
        d = a if a.collapsed else b
        pad_txt = f"{d.pad_before}+{d.pad_after}" if d.pad_before != d.pad_after else str(d.pad_before)
        msg = (f"{label(info)} collapses: its {kh}×{kw} window"
               + (f" (dilated to {a.kernel_eff}×{b.kernel_eff})" if (dh, dw) != (1, 1) else "")
               + f" is larger than its {h}×{w} input with padding {pad_txt}, so the output would be empty.")
        fixes = []
        smallest = walk.smallest_input()
        if smallest and smallest != (walk.spec.input.height, walk.spec.input.width):
            fixes.append({"kind": "input", "height": smallest[0], "width": smallest[1],
                          "label": f"use input {smallest[0]}×{smallest[1]} (the smallest that does not collapse)"})
        fit_h, fit_w = h + a.pad_before + a.pad_after, w + b.pad_before + b.pad_after
        if (dh, dw) == (1, 1) and min(fit_h, fit_w) >= 1 and kh == kw and min(fit_h, fit_w) < kh:
            fixes.append({"kind": "field", "field": "kernel", "value": min(fit_h, fit_w),
                          "label": f"shrink the kernel to {min(fit_h, fit_w)}"})
        if self.pool:
            fixes.append({"kind": "delete", "label": f"remove {info.name}"})
        fixes = walk.valid_fixes(info.index, fixes)
        msg += " Fix: " + "; or ".join(f["label"] for f in fixes) + "." if fixes else ""
        return msg, fixes

    def _warn(self, layer, walk, info, a: Dim, b: Dim) -> None:
        same_ab = (a.size_in, a.kernel_eff, a.stride, a.pad_before, a.pad_after) == \
            (b.size_in, b.kernel_eff, b.stride, b.pad_before, b.pad_after)
        msgs = []
        for axis, d in ((("rows and columns", a),) if same_ab else (("rows", a), ("columns", b))):
            msgs += _axis_notes(axis, d)
        if not info.exact and not (a.ceil_mode and b.ceil_mode):
            info.status = "inexact"
            info.fixes = walk.exact_fixes(info.index, layer, self, a, b)
        if msgs:
            info.message = f"{label(info)}: " + "; ".join(msgs)
            if info.fixes:
                info.message += ". Fix: " + "; or ".join(f["label"] for f in info.fixes)
            walk.warnings.append(info.message)


def _axis_notes(axis: str, d: Dim) -> list[str]:
    """The warnings of one axis of a window: inexact division, ceil mode, skipped pixels."""
    msgs = []
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
    return msgs


def _window_args(layer, info) -> tuple:
    """kernel, stride, the paddings (left, right, top, bottom), their symmetry, and the
    symmetric padding; an equal pair is one int (as torch.nn and the exported code write it)."""
    k, s = hw(layer.kernel), hw(layer.stride if layer.stride is not None else layer.kernel)
    pads, symmetric = pads_of(info.dims)
    return one_or_pair(k), one_or_pair(s), pads, symmetric, one_or_pair((pads[2], pads[0]))


def _same_code(cls: str, args: str, pads) -> tuple[str, str]:
    """A 'same'-padded window in exported code: one of CODE_HELPERS, with the builder's keys."""
    return f"{cls}({args}, pads={pads})", cls


@register
class Conv(WindowType):
    name = "conv"
    prefix = "conv"
    diagram = "conv"
    explain = "conv"
    torch_name = "Conv2d"
    help = "2-D convolution: out_channels filters of kernel × kernel × (in/groups) weights"
    fields = (
        Field("out_channels", "int", 64, 1, MAX_CHANNELS, ui_hi=4096, help="number of filters (output channels)"),
        _f_kernel(3, 31),
        Field("stride", "pair", 1, 1, MAX_KERNEL, ui_hi=16, help="S: step between windows"),
        _f_padding(32),
        Field("dilation", "pair", 1, 1, MAX_KERNEL, ui_hi=8, help="spacing of the kernel taps (F_eff = D·(F − 1) + 1)"),
        Field("groups", "int", 1, 1, MAX_CHANNELS, ui="divisor",
              help="2 = the paper's two-GPU split; must divide in and out channels"),
        _F_BIAS,
        Field("padding_mode", "choice", "zeros", choices=("zeros", "reflect", "replicate", "circular"),
              label="padding mode", help="what the padding holds: zeros, or the image reflected, repeated at "
                                         "the edge, or wrapped around (as torch.nn.Conv2d's padding_mode)"),
    )

    def check(self, layer, index):
        if layer.out_channels % layer.groups:
            raise field_error(index, self.name, "groups",
                              f"= {layer.groups} must divide out_channels = {layer.out_channels}")

    def out_channels(self, layer, cin):
        return layer.out_channels

    def check_input(self, layer, walk, info):
        cin = walk.shape[0]
        if cin % layer.groups:
            raise LayerFailure(f"{label(info)}: groups = {layer.groups} must divide its {cin} input channels; try "
                               f"groups = {', '.join(str(g) for g in divisors_both(cin, layer.out_channels)[:6])}",
                               [{"kind": "field", "field": "groups", "value": 1, "label": "set groups = 1"}])

    def check_padding(self, layer, info, a, b):
        mode = layer.padding_mode
        if mode in ("zeros", "replicate"):  # torch repeats the edge pixel as often as needed
            return
        for d in (a, b):  # torch: reflect needs pad < size, circular pad ≤ size
            biggest = max(d.pad_before, d.pad_after)
            if biggest > d.size_in - (mode == "reflect"):
                raise LayerFailure(f"{label(info)}: padding_mode '{mode}' cannot pad {biggest} pixels onto a "
                                   f"{d.size_in}-wide input (it needs padding {'<' if mode == 'reflect' else '≤'} "
                                   "the input size)",
                                   [{"kind": "field", "field": "padding_mode", "value": "zeros",
                                     "label": "use padding_mode zeros"}])

    def count(self, layer, info, a, b):
        kh, kw = hw(layer.kernel)
        cin = info.in_shape[0]
        info.weight_params = layer.out_channels * (cin // layer.groups) * kh * kw
        info.bias_params = layer.out_channels if layer.bias else 0
        cin_txt = f"({cin}/{layer.groups})" if layer.groups > 1 else str(cin)
        bias = f" + {layer.out_channels}" if layer.bias else ""
        info.params = info.weight_params + info.bias_params
        info.params_formula = f"{layer.out_channels}·{cin_txt}·{kh}·{kw}{bias} = {info.params:,}"
        info.macs = info.params * a.out * b.out

    def module(self, layer, info):
        from torch import nn

        from .torch_layers import Conv2dSame

        k, s, pads, symmetric, pad = _window_args(layer, info)
        kw = dict(kernel_size=k, stride=s, dilation=hw(layer.dilation), groups=layer.groups, bias=layer.bias,
                  padding_mode=layer.padding_mode)
        if symmetric:
            return nn.Conv2d(info.in_shape[0], layer.out_channels, padding=pad, **kw)
        return Conv2dSame(info.in_shape[0], layer.out_channels, pads=pads, **kw)

    def code(self, layer, info):
        k, s, pads, symmetric, pad = _window_args(layer, info)
        extra = ""
        if hw(layer.dilation) != (1, 1):
            extra += f", dilation={one_or_pair(layer.dilation)}"
        if layer.groups != 1:
            extra += f", groups={layer.groups}"
        if not layer.bias:
            extra += ", bias=False"
        args = f"{info.in_shape[0]}, {layer.out_channels}, kernel_size={k}, stride={s}"
        mode = f", padding_mode={layer.padding_mode!r}" if layer.padding_mode != "zeros" else ""
        if symmetric:
            return f"nn.Conv2d({args}, padding={pad}{extra}{mode})", None
        return _same_code("ConvSame", args + extra + mode, pads)

    def new_layer(self, in_shape):
        width = min(in_shape[0], self.field("out_channels").ui_hi) if in_shape and len(in_shape) == 3 else 64
        return {"type": self.name, "out_channels": width, "kernel": 3, "stride": 1, "padding": 1}


class PoolType(WindowType):
    pool = True
    prefix = "pool"
    diagram = "pool"
    swap_group = "pool"

    def check(self, layer, index):
        if isinstance(layer.padding, str):
            return
        kh, kw = hw(layer.kernel)
        ph, pw = hw(layer.padding)
        if ph > kh // 2 or pw > kw // 2:
            raise field_error(index, self.name, "padding", f"= {_json(layer.padding)} must be at most half the "
                                                           f"kernel ({kh // 2}) — PyTorch pads a pool by at most k/2")

    def editor_label(self, f, spec, index):
        return f.title


def _json(v):
    return list(v) if isinstance(v, tuple) else v


def _pool_fields(kernel: int, stride):
    return (_f_kernel(kernel, 16),
            Field("stride", "stride", stride, 1, MAX_KERNEL, ui_hi=16, help="S: step between windows "
                                                                            "(null = the kernel, as in PyTorch)"),
            _f_padding(8), _F_CEIL)


@register
class MaxPool(PoolType):
    name = "maxpool"
    torch_name = "MaxPool2d"
    explain = "max"
    help = "max over each window (AlexNet's overlapping pooling: 3×3, stride 2)"
    fields = _pool_fields(3, None)  # stride null = the kernel, as torch.nn.MaxPool2d

    def module(self, layer, info):
        from torch import nn

        from .torch_layers import MaxPool2dSame

        k, s, pads, symmetric, pad = _window_args(layer, info)
        if symmetric:
            return nn.MaxPool2d(k, s, padding=pad, ceil_mode=layer.ceil_mode)
        return MaxPool2dSame(k, s, pads=pads, ceil_mode=layer.ceil_mode)

    def code(self, layer, info):
        k, s, pads, symmetric, pad = _window_args(layer, info)
        cm = ", ceil_mode=True" if layer.ceil_mode else ""
        if symmetric:
            return f"nn.MaxPool2d(kernel_size={k}, stride={s}, padding={pad}{cm})", None
        return _same_code("MaxPoolSame", f"kernel_size={k}, stride={s}{cm}", pads)

    def new_layer(self, in_shape):
        return {"type": self.name, "kernel": 3, "stride": 2}


@register
class AvgPool(PoolType):
    name = "avgpool"
    torch_name = "AvgPool2d"
    explain = "mean"
    help = "mean over each window"
    fields = _pool_fields(2, None)

    def module(self, layer, info):
        from torch import nn

        from .torch_layers import AvgPool2dSame

        k, s, pads, symmetric, pad = _window_args(layer, info)
        if layer.padding == "same" and pads != (0, 0, 0, 0):
            return AvgPool2dSame(k, s, pads=pads, ceil_mode=layer.ceil_mode)
        return nn.AvgPool2d(k, s, padding=pad, ceil_mode=layer.ceil_mode)

    def code(self, layer, info):
        k, s, pads, symmetric, pad = _window_args(layer, info)
        cm = ", ceil_mode=True" if layer.ceil_mode else ""
        if layer.padding == "same" and pads != (0, 0, 0, 0):  # padded positions are not counted
            return _same_code("AvgPoolSame", f"kernel_size={k}, stride={s}{cm}", pads)
        return f"nn.AvgPool2d(kernel_size={k}, stride={s}, padding={pad}{cm})", None

    def new_layer(self, in_shape):
        return {"type": self.name, "kernel": 2, "stride": 2}


# --------------------------------------------------------------------------------------
# adaptive pools, flatten, linear
# --------------------------------------------------------------------------------------
class AdaptiveType(LayerType):
    category = "adaptive"
    where = "spatial"
    prefix = "adaptive_pool"
    diagram = "adaptive"
    swap_group = "adaptive"
    fields = (Field("output", "pair", 6, 1, MAX_SIDE, ui_hi=64, label="output size",
                    help="the output H×W whatever the input size"),)

    def size_step(self, layer, h, w):
        return ("set", *hw(layer.output))

    def rule(self, layer, walk, info):
        c, h, w = walk.shape
        oh, ow = hw(layer.output)
        kh = max(-(-((r + 1) * h) // oh) - (r * h) // oh for r in range(oh))
        kw = max(-(-((r + 1) * w) // ow) - (r * w) // ow for r in range(ow))
        sh, sw = h / oh, w / ow
        info.formula = (f"adaptive: {h}×{w} → {oh}×{ow} "
                        f"(windows up to {kh}×{kw}, stride ≈ {_fmt_num(sh)}×{_fmt_num(sw)})")
        info.exact = h % oh == 0 and w % ow == 0
        if oh > h or ow > w:
            info.message = (f"{label(info)}: upsamples {h}×{w} to {oh}×{ow} "
                            "by repeating values; the extra outputs carry no new information")
            walk.warnings.append(info.message)
        walk.adaptive(h, w, oh, ow, kh, kw)
        info.out_shape = walk.shape = (c, oh, ow)

    def module(self, layer, info):
        from torch import nn

        return getattr(nn, self.torch_name)(one_or_pair(layer.output))

    def code(self, layer, info):
        return f"nn.{self.torch_name}({one_or_pair(layer.output)})", None


def _fmt_num(x: float) -> str:
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


@register
class AdaptiveAvgPool(AdaptiveType):
    name = "adaptive_avgpool"
    torch_name = "AdaptiveAvgPool2d"
    explain = "adaptive_mean"
    help = "averages any input down to a fixed H×W (torchvision's AlexNet: 6×6)"


@register
class AdaptiveMaxPool(AdaptiveType):
    name = "adaptive_maxpool"
    torch_name = "AdaptiveMaxPool2d"
    explain = "adaptive_max"
    insertable = False
    help = "max-pools any input down to a fixed H×W"


@register
class Flatten(LayerType):
    name = "flatten"
    where = "spatial"
    torch_name = "Flatten"
    explain = "flatten"
    help = "turns C×H×W into one vector for the FC layers"

    def size_step(self, layer, h, w):
        return ("stop",)

    def rule(self, layer, walk, info):
        shape = walk.shape
        info.out_shape = walk.shape = (math.prod(shape),)
        if len(shape) == 3:
            info.formula = f"{shape[0]}·{shape[1]}·{shape[2]} = {info.out_shape[0]:,}"
        walk.flatten()

    def module(self, layer, info):
        from torch import nn

        return nn.Flatten()

    def code(self, layer, info):
        return "nn.Flatten()", None


@register
class Linear(LayerType):
    name = "linear"
    category = "classifier"
    where = "flat"
    prefix = "fc"
    diagram = "linear"
    torch_name = "Linear"
    explain = "linear"
    help = "fully connected: every input feature to every output"
    fields = (Field("out_features", "int", 4096, 1, MAX_FEATURES, ui_hi=16384, label="out features",
                    help="output width; the last linear layer's is the number of classes"), _F_BIAS)

    def rule(self, layer, walk, info):
        fin = walk.shape[0]
        info.weight_params = fin * layer.out_features
        info.bias_params = layer.out_features if layer.bias else 0
        info.params = info.macs = info.weight_params + info.bias_params
        bias = f" + {layer.out_features}" if layer.bias else ""
        info.params_formula = f"{fin:,}·{layer.out_features:,}{bias} = {info.params:,}"
        info.out_shape = walk.shape = (layer.out_features,)

    def module(self, layer, info):
        from torch import nn

        return nn.Linear(info.in_shape[0], layer.out_features, bias=layer.bias)

    def code(self, layer, info):
        return f"nn.Linear({info.in_shape[0]}, {layer.out_features}" + (", bias=False)" if not layer.bias else ")"), \
            None

    def new_layer(self, in_shape):
        width = min(in_shape[0], self.field("out_features").ui_hi) if in_shape and len(in_shape) == 1 else 512
        return {"type": self.name, "out_features": width}

    def editor_label(self, f, spec, index):
        last = index == max(j for j, x in enumerate(spec.layers) if x.type == self.name)
        return f.title + (" (= classes: last layer)" if last and f.name == "out_features" else "")


# --------------------------------------------------------------------------------------
# normalisation and regularisation
# --------------------------------------------------------------------------------------
@register
class LRN(LayerType):
    """torch.nn.LocalResponseNorm: b = a / (k + alpha/size · Σ a²)^beta over ``size`` channels."""

    name = "lrn"
    category = "normalisation"
    where = "spatial"
    torch_name = "LocalResponseNorm"
    explain = "lrn"
    help = "local response normalisation across neighbouring channels (AlexNet 2012)"
    fields = (
        Field("size", "int", 5, 1, 1024, ui_hi=15, label="size (channels)", help="channels in each sum (n)"),
        Field("alpha", "float", 0.0001, 0, 1e6, ui_hi=1.0, ui_step=1e-5, ui_fmt="%.1e",
              help="torch divides alpha by size; the paper's 1e-4 is torch alpha 5e-4"),
        Field("beta", "float", 0.75, 0, 1e6, ui_hi=5.0, ui_step=0.05, ui_fmt="%.2f"),
        Field("k", "float", 1.0, 0, 1e6, ui_hi=10.0, ui_step=0.5, ui_fmt="%.2f"),
    )

    def rule(self, layer, walk, info):
        if layer.size > walk.shape[0]:
            info.message = (f"{label(info)}: window of {layer.size} channels is wider than the "
                            f"{walk.shape[0]} channels it normalises across")
            walk.warnings.append(info.message)
        info.out_shape = walk.shape

    def module(self, layer, info):
        from torch import nn

        return nn.LocalResponseNorm(layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k)

    def code(self, layer, info):
        return f"nn.LocalResponseNorm({layer.size}, alpha={layer.alpha!r}, beta={layer.beta!r}, k={layer.k!r})", None


def _affine_rule(info, channels: int, what: str) -> None:
    info.weight_params = info.bias_params = channels
    info.params = info.macs = 2 * channels
    info.params_formula = f"2·{channels} = {2 * channels:,} ({what})"


@register
class BatchNorm(LayerType):
    name = "batchnorm"
    category = "normalisation"
    prefix = "bn"
    torch_name = "BatchNorm2d"
    explain = "batchnorm"
    help = "normalises each channel over the batch (not in AlexNet: 2015)"
    fields = (
        Field("eps", "float", 1e-5, 0, 1, open_lo=True, open_hi=True, ui_hi=0.1, ui_step=1e-5, ui_fmt="%.1e"),
        Field("momentum", "float", 0.1, 0, 1, ui_hi=1.0, ui_step=0.01, ui_fmt="%.2f"),
    )

    def rule(self, layer, walk, info):
        _affine_rule(info, walk.shape[0], "scale and shift; running stats are buffers")
        info.out_shape = walk.shape

    def module(self, layer, info):
        from torch import nn

        cls = nn.BatchNorm2d if len(info.in_shape) == 3 else nn.BatchNorm1d
        return cls(info.in_shape[0], eps=layer.eps, momentum=layer.momentum)

    def code(self, layer, info):
        extra = (f", eps={layer.eps!r}" if layer.eps != 1e-5 else "") + \
                (f", momentum={layer.momentum!r}" if layer.momentum != 0.1 else "")
        return f"nn.BatchNorm{2 if len(info.in_shape) == 3 else 1}d({info.in_shape[0]}{extra})", None


@register
class GroupNorm(LayerType):
    name = "groupnorm"
    category = "normalisation"
    prefix = "gn"
    torch_name = "GroupNorm"
    explain = "groupnorm"
    help = "normalises groups of channels per image (Wu & He 2018): no batch statistics"
    fields = (
        Field("groups", "int", 32, 1, MAX_CHANNELS, ui="divisor", help="channel groups; must divide the channels"),
        Field("eps", "float", 1e-5, 0, 1, open_lo=True, open_hi=True, ui_hi=0.1, ui_step=1e-5, ui_fmt="%.1e"),
        Field("affine", "bool", True, help="learn a scale and a shift per channel"),
    )

    def rule(self, layer, walk, info):
        ch = walk.shape[0]
        if ch % layer.groups:
            fit = max(g for g in range(1, min(ch, 32) + 1) if ch % g == 0)
            raise LayerFailure(f"{label(info)}: groups = {layer.groups} must divide its {ch} channels; "
                               f"try groups = {fit}",
                               [{"kind": "field", "field": "groups", "value": fit, "label": f"set groups = {fit}"}])
        per_group = ch // layer.groups * math.prod(walk.shape[1:])
        if per_group < 2:  # torch: a group of one value has no variance to normalise by
            fits = [g for g in range(1, ch) if ch % g == 0 and ch // g * math.prod(walk.shape[1:]) > 1]
            what = f"{label(info)}: each of its {layer.groups} groups holds one value, which has no variance to normalise"
            if not fits:  # one value per image in all: no grouping helps
                raise LayerFailure(f"{what}; it normalises a single value per image, so remove it",
                                   [{"kind": "delete", "label": f"remove {info.name}"}])
            raise LayerFailure(f"{what}; use fewer groups (e.g. {max(fits)})",
                               [{"kind": "field", "field": "groups", "value": max(fits),
                                 "label": f"set groups = {max(fits)}"}])
        if layer.affine:
            _affine_rule(info, ch, "scale and shift per channel")
        info.out_shape = walk.shape

    def module(self, layer, info):
        from torch import nn

        return nn.GroupNorm(layer.groups, info.in_shape[0], eps=layer.eps, affine=layer.affine)

    def code(self, layer, info):
        extra = (f", eps={layer.eps!r}" if layer.eps != 1e-5 else "") + (", affine=False" if not layer.affine else "")
        return f"nn.GroupNorm({layer.groups}, {info.in_shape[0]}{extra})", None

    def new_layer(self, in_shape):
        ch = in_shape[0] if in_shape else 32
        return {"type": self.name, "groups": max(g for g in range(1, min(ch, 32) + 1) if ch % g == 0)}


@register
class Dropout(LayerType):
    name = "dropout"
    category = "regulariser"
    torch_name = "Dropout"
    explain = "identity"  # in eval mode; training zeroes with probability p and scales the rest by 1/(1 − p)
    help = "zeroes each activation with probability p while training"
    fields = (Field("p", "float", 0.5, 0, 1, open_hi=True, ui_hi=0.95, ui_step=0.05, ui_fmt="%.2f",
                    label="p (drop probability)", ui="slider",
                    rule="a probability in [0, 1) (1 would drop everything)"),)

    def module(self, layer, info):
        from torch import nn

        return nn.Dropout(layer.p)

    def code(self, layer, info):
        return f"nn.Dropout(p={layer.p!r})", None


# --------------------------------------------------------------------------------------
# activations: pointwise, no weights
# --------------------------------------------------------------------------------------
class Activation(LayerType):
    category = "activation"
    swap_group = "activation"
    explain = "pointwise"
    inplace: ClassVar[bool] = False  # built with inplace=True (ReLU-like: saves memory)

    def _args(self, layer) -> list[str]:
        return [f"{f.name}={getattr(layer, f.name)!r}" for f in self.fields]

    def module(self, layer, info):
        from torch import nn

        kwargs = {f.name: getattr(layer, f.name) for f in self.fields}
        if self.inplace:
            kwargs["inplace"] = True
        return getattr(nn, self.torch_name)(**kwargs)

    def code(self, layer, info):
        args = self._args(layer) + (["inplace=True"] if self.inplace else [])
        return f"nn.{self.torch_name}({', '.join(args)})", None


def _activation(name: str, torch_name: str, help: str, *, inplace=False, fields=()) -> None:
    register(type(torch_name, (Activation,), {"name": name, "torch_name": torch_name, "help": help,
                                              "inplace": inplace, "fields": fields}))


_activation("relu", "ReLU", "max(0, x): AlexNet's choice, trains faster than tanh/sigmoid", inplace=True)
_activation("leaky_relu", "LeakyReLU", "x for x > 0, slope·x below", inplace=True,
            fields=(Field("negative_slope", "float", 0.01, -10, 10, ui_hi=1.0, ui_step=0.01, ui_fmt="%.3f",
                          label="negative slope", rule="a number between -10 and 10"),))
_activation("sigmoid", "Sigmoid", "1/(1 + e^−x): LeNet's squashing")
_activation("tanh", "Tanh", "tanh(x): the classic squashing before ReLU")
_activation("softplus", "Softplus", "log(1 + e^x): a smooth ReLU")
_activation("gelu", "GELU", "x·Φ(x): the transformers' ReLU")
_activation("hardswish", "Hardswish", "x·relu6(x + 3)/6: MobileNetV3's cheap swish")
_activation("elu", "ELU", "x for x > 0, α·(eˣ − 1) below: smooth and negative-capable",
            fields=(Field("alpha", "float", 1.0, 0, 10, ui_hi=3.0, ui_step=0.1, ui_fmt="%.2f", label="α",
                          rule="a number between 0 and 10"),))

ACTIVATIONS = names("activation")

# Helper classes the exported code defines when a layer's code names them (plain torch.nn has
# no asymmetric 'same' padding).  They mirror alexnet/torch_layers.py.
CODE_HELPERS = {
    "ConvSame": '''class ConvSame(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding (left, right, top, bottom; maybe asymmetric)."""

    def __init__(self, *args, pads, padding_mode="zeros", **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads
        self.pad_mode = "constant" if padding_mode == "zeros" else padding_mode

    def forward(self, x):
        return super().forward(F.pad(x, self.pads, mode=self.pad_mode))
''',
    "MaxPoolSame": '''class MaxPoolSame(nn.MaxPool2d):
    """Max-pool with TensorFlow 'same' padding: padded positions never win."""

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        return super().forward(F.pad(x, self.pads, value=float("-inf")))
''',
    "AvgPoolSame": '''class AvgPoolSame(nn.AvgPool2d):
    """Average-pool with TensorFlow 'same' padding: padded positions are not counted."""

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        total = super().forward(F.pad(x, self.pads))
        count = super().forward(F.pad(torch.ones_like(x[:1, :1]), self.pads))
        return total / count
''',
}

# Names a layer may not take: attributes of torch.nn.Module (a child module of that name
# cannot be added).  Written out so that this module needs no torch; a test checks the
# list against torch.nn.Module itself.
RESERVED_NAMES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory smart_apply
state_dict to to_empty train training type xpu zero_grad
""".split())
