"""The network spec: one frozen description of a network, read by everything else.

A ``NetSpec`` is an input shape, an optional class count and an ordered tuple of
layer specs.  Every layer spec is a small frozen dataclass whose fields are the
PyTorch defaults; ``NetSpec.from_dict`` / ``to_dict`` round-trip the JSON format
documented in the README.  Validation here checks each field on its own and the
structure of the list (a linear layer needs a flatten first, ...); checks that
need shapes (groups dividing the incoming channels, a collapsing layer) live in
``alexnet.arithmetic``, which walks the shapes.

No torch import here: the UI imports this on every rerun.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

IntPair = Union[int, tuple[int, int]]
Padding = Union[int, tuple[int, int], str]

# Upper bounds that keep the arithmetic meaningful and the app safe.  They are far
# above anything an AlexNet-family network uses.
MAX_SIDE = 4096  # input height/width
MAX_CHANNELS = 65536
MAX_FEATURES = 1 << 20
MAX_KERNEL = 1024
MAX_LAYERS = 256


class SpecError(ValueError):
    """An invalid network spec.  The message names the layer and the field."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field


def _where(index: int | None, type_: str | None) -> str:
    if index is None:
        return "network"
    return f"layer {index} ({type_})"


def _err(index, type_, fld, msg) -> SpecError:
    return SpecError(f"{_where(index, type_)}: field '{fld}' {msg}", index=index, field=fld)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def _pair(v, index, type_, fld, lo, hi) -> IntPair:
    """An int or [h, w] with lo <= each <= hi.  Returns an int or a tuple."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(_is_int(x) for x in v):
            raise _err(index, type_, fld, f"must be an integer or a pair [h, w] of integers, got {v!r}")
        for x in v:
            if not lo <= x <= hi:
                raise _err(index, type_, fld, f"must be between {lo} and {hi}, got {list(v)}")
        return (v[0], v[1]) if v[0] != v[1] else v[0]
    if not _is_int(v):
        raise _err(index, type_, fld, f"must be an integer or a pair [h, w] of integers, got {v!r}")
    if not lo <= v <= hi:
        raise _err(index, type_, fld, f"must be between {lo} and {hi}, got {v}")
    return v


def _padding(v, index, type_) -> Padding:
    if isinstance(v, str):
        if v.lower() in ("same", "valid"):
            return v.lower()
        raise _err(index, type_, "padding", f"must be an integer ≥ 0, a pair [h, w], 'same' or 'valid', got {v!r}")
    return _pair(v, index, type_, "padding", 0, MAX_KERNEL)


def hw(v: IntPair) -> tuple[int, int]:
    """Expand an int-or-pair to (h, w)."""
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    return v


@dataclass(frozen=True)
class LayerSpec:
    """Base class of every layer spec.  ``name`` is optional; the builder makes one."""

    type: ClassVar[str] = ""
    name: str | None = field(default=None, kw_only=True)

    # ---- JSON -----------------------------------------------------------------
    def to_dict(self) -> dict:
        d: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "name" and v is None:
                continue
            d[f.name] = _jsonable(v)
        return d

    def replace(self, **changes) -> LayerSpec:
        """A validated copy with some fields changed."""
        d = self.to_dict()
        d.update(changes)
        return layer_from_dict(d)

    def check(self, index: int | None = None) -> None:  # overridden where needed
        pass


@dataclass(frozen=True)
class Conv(LayerSpec):
    type: ClassVar[str] = "conv"
    out_channels: int = 64
    kernel: IntPair = 3
    stride: IntPair = 1
    padding: Padding = 0
    dilation: IntPair = 1
    groups: int = 1
    bias: bool = True

    def check(self, index=None):
        t = self.type
        if not _is_int(self.out_channels) or not 1 <= self.out_channels <= MAX_CHANNELS:
            raise _err(index, t, "out_channels", f"must be an integer between 1 and {MAX_CHANNELS}, got {self.out_channels!r}")
        if not _is_int(self.groups) or not 1 <= self.groups <= MAX_CHANNELS:
            raise _err(index, t, "groups", f"must be an integer ≥ 1, got {self.groups!r}")
        if self.out_channels % self.groups:
            raise _err(index, t, "groups", f"= {self.groups} must divide out_channels = {self.out_channels}")
        if not isinstance(self.bias, bool):
            raise _err(index, t, "bias", f"must be true or false, got {self.bias!r}")


@dataclass(frozen=True)
class _Pool(LayerSpec):
    kernel: IntPair = 2
    stride: IntPair | None = None  # None = kernel, as in PyTorch
    padding: Padding = 0
    ceil_mode: bool = False

    def check(self, index=None):
        if not isinstance(self.ceil_mode, bool):
            raise _err(index, self.type, "ceil_mode", f"must be true or false, got {self.ceil_mode!r}")
        if isinstance(self.padding, str):
            return
        kh, kw = hw(self.kernel)
        ph, pw = hw(self.padding)
        if ph > kh // 2 or pw > kw // 2:
            raise _err(index, self.type, "padding",
                       f"= {_jsonable(self.padding)} must be at most half the kernel ({kh // 2}) — PyTorch pads a pool by at most k/2")


@dataclass(frozen=True)
class MaxPool(_Pool):
    type: ClassVar[str] = "maxpool"
    kernel: IntPair = 3
    stride: IntPair | None = 2


@dataclass(frozen=True)
class AvgPool(_Pool):
    type: ClassVar[str] = "avgpool"


@dataclass(frozen=True)
class AdaptiveAvgPool(LayerSpec):
    type: ClassVar[str] = "adaptive_avgpool"
    output: IntPair = 6


@dataclass(frozen=True)
class AdaptiveMaxPool(LayerSpec):
    type: ClassVar[str] = "adaptive_maxpool"
    output: IntPair = 6


@dataclass(frozen=True)
class LRN(LayerSpec):
    """torch.nn.LocalResponseNorm: b = a / (k + alpha/size * sum(a^2))^beta."""

    type: ClassVar[str] = "lrn"
    size: int = 5
    alpha: float = 0.0001
    beta: float = 0.75
    k: float = 1.0

    def check(self, index=None):
        if not _is_int(self.size) or not 1 <= self.size <= 1024:
            raise _err(index, self.type, "size", f"must be an integer between 1 and 1024, got {self.size!r}")
        for f in ("alpha", "beta", "k"):
            v = getattr(self, f)
            if not _is_num(v) or v != v or v < 0 or v > 1e6:
                raise _err(index, self.type, f, f"must be a number ≥ 0, got {v!r}")


@dataclass(frozen=True)
class BatchNorm(LayerSpec):
    type: ClassVar[str] = "batchnorm"
    eps: float = 1e-5
    momentum: float = 0.1

    def check(self, index=None):
        if not _is_num(self.eps) or not 0 < self.eps < 1:
            raise _err(index, self.type, "eps", f"must be a number in (0, 1), got {self.eps!r}")
        if not _is_num(self.momentum) or not 0 <= self.momentum <= 1:
            raise _err(index, self.type, "momentum", f"must be a number in [0, 1], got {self.momentum!r}")


@dataclass(frozen=True)
class Dropout(LayerSpec):
    type: ClassVar[str] = "dropout"
    p: float = 0.5

    def check(self, index=None):
        if not _is_num(self.p) or not 0 <= self.p < 1:
            raise _err(index, self.type, "p", f"must be a probability in [0, 1) (1 would drop everything), got {self.p!r}")


@dataclass(frozen=True)
class Flatten(LayerSpec):
    type: ClassVar[str] = "flatten"


@dataclass(frozen=True)
class Linear(LayerSpec):
    type: ClassVar[str] = "linear"
    out_features: int = 4096
    bias: bool = True

    def check(self, index=None):
        if not _is_int(self.out_features) or not 1 <= self.out_features <= MAX_FEATURES:
            raise _err(index, self.type, "out_features", f"must be an integer between 1 and {MAX_FEATURES}, got {self.out_features!r}")
        if not isinstance(self.bias, bool):
            raise _err(index, self.type, "bias", f"must be true or false, got {self.bias!r}")


@dataclass(frozen=True)
class ReLU(LayerSpec):
    type: ClassVar[str] = "relu"


@dataclass(frozen=True)
class LeakyReLU(LayerSpec):
    type: ClassVar[str] = "leaky_relu"
    negative_slope: float = 0.01

    def check(self, index=None):
        if not _is_num(self.negative_slope) or not -10 <= self.negative_slope <= 10:
            raise _err(index, self.type, "negative_slope", f"must be a number between -10 and 10, got {self.negative_slope!r}")


@dataclass(frozen=True)
class Sigmoid(LayerSpec):
    type: ClassVar[str] = "sigmoid"


@dataclass(frozen=True)
class Tanh(LayerSpec):
    type: ClassVar[str] = "tanh"


@dataclass(frozen=True)
class Softplus(LayerSpec):
    type: ClassVar[str] = "softplus"


@dataclass(frozen=True)
class GELU(LayerSpec):
    type: ClassVar[str] = "gelu"


LAYER_TYPES: dict[str, type[LayerSpec]] = {
    c.type: c
    for c in (Conv, MaxPool, AvgPool, AdaptiveAvgPool, AdaptiveMaxPool, LRN, BatchNorm, Dropout,
              Flatten, Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, GELU)
}
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")
SPATIAL_POOLS = ("maxpool", "avgpool")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def layer_from_dict(d: Any, index: int | None = None) -> LayerSpec:
    """Build and check one layer spec from its JSON dict."""
    if not isinstance(d, dict):
        raise SpecError(f"layer {index}: must be an object with a 'type', got {type(d).__name__}", index=index)
    t = d.get("type")
    if t not in LAYER_TYPES:
        raise SpecError(
            f"layer {index} ({t}): field 'type' = {t!r} is unknown; valid types: {', '.join(LAYER_TYPES)}",
            index=index, field="type")
    cls = LAYER_TYPES[t]
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in d.items():
        if k == "type":
            continue
        if k not in known:
            raise _err(index, t, k, f"is not a field of a {t} layer; its fields are: {', '.join(sorted(known))}")
        kwargs[k] = v
    # per-field normalisation of int-or-pair fields
    if "name" in kwargs and kwargs["name"] is not None:
        if not isinstance(kwargs["name"], str) or not _NAME_RE.match(kwargs["name"]):
            raise _err(index, t, "name", "must be letters, digits and _ (not starting with a digit), at most 64 characters")
    if cls in (Conv, MaxPool, AvgPool):
        kwargs["kernel"] = _pair(kwargs.get("kernel", _default(cls, "kernel")), index, t, "kernel", 1, MAX_KERNEL)
        s = kwargs.get("stride", _default(cls, "stride"))
        if s is not None:
            kwargs["stride"] = _pair(s, index, t, "stride", 1, MAX_KERNEL)
        kwargs["padding"] = _padding(kwargs.get("padding", 0), index, t)
    if cls is Conv:
        kwargs["dilation"] = _pair(kwargs.get("dilation", 1), index, t, "dilation", 1, MAX_KERNEL)
    if cls in (AdaptiveAvgPool, AdaptiveMaxPool):
        kwargs["output"] = _pair(kwargs.get("output", 6), index, t, "output", 1, MAX_SIDE)
    for f in ("alpha", "beta", "k", "p", "eps", "momentum", "negative_slope"):
        if f in kwargs and _is_int(kwargs[f]):
            kwargs[f] = float(kwargs[f])
    try:
        spec = cls(**kwargs)
    except TypeError as e:  # pragma: no cover - fields are checked above
        raise SpecError(f"layer {index} ({t}): {e}", index=index) from None
    spec.check(index)
    return spec


def _default(cls, name):
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default
    raise KeyError(name)


@dataclass(frozen=True)
class InputSpec:
    channels: int = 3
    height: int = 224
    width: int = 224

    def check(self):
        for f in ("channels", "height", "width"):
            v = getattr(self, f)
            hi = 64 if f == "channels" else MAX_SIDE
            if not _is_int(v) or not 1 <= v <= hi:
                raise SpecError(f"input: field '{f}' must be an integer between 1 and {hi}, got {v!r}", field=f)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


@dataclass(frozen=True)
class NetSpec:
    """A whole network.  Frozen; edit with ``with_layer`` / ``replace`` helpers."""

    name: str = "network"
    input: InputSpec = field(default_factory=InputSpec)
    layers: tuple[LayerSpec, ...] = ()
    num_classes: int | None = None

    # ---- JSON -----------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"name": self.name,
             "input": {"channels": self.input.channels, "height": self.input.height, "width": self.input.width}}
        if self.num_classes is not None:
            d["num_classes"] = self.num_classes
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Any) -> NetSpec:
        if not isinstance(d, dict):
            raise SpecError(f"network: must be a JSON object with 'input' and 'layers', got {type(d).__name__}")
        unknown = set(d) - {"name", "input", "num_classes", "layers", "description", "source"}
        if unknown:
            raise SpecError(f"network: unknown field(s) {', '.join(sorted(unknown))}; "
                            "valid: name, input, num_classes, layers", field=sorted(unknown)[0])
        name = d.get("name", "network")
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise SpecError("network: field 'name' must be a string of 1 to 100 characters", field="name")
        inp = d.get("input")
        if isinstance(inp, (list, tuple)) and len(inp) == 3:
            inp = {"channels": inp[0], "height": inp[1], "width": inp[2]}
        if not isinstance(inp, dict):
            raise SpecError("network: field 'input' must be {\"channels\": C, \"height\": H, \"width\": W}", field="input")
        extra = set(inp) - {"channels", "height", "width"}
        if extra:
            raise SpecError(f"input: unknown field(s) {', '.join(sorted(extra))}; valid: channels, height, width", field="input")
        input_spec = InputSpec(**{k: inp[k] for k in ("channels", "height", "width") if k in inp})
        layers = d.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpecError("network: field 'layers' must be a non-empty list of layer objects", field="layers")
        if len(layers) > MAX_LAYERS:
            raise SpecError(f"network: at most {MAX_LAYERS} layers, got {len(layers)}", field="layers")
        spec = cls(name=name, input=input_spec,
                   layers=tuple(layer_from_dict(x, i) for i, x in enumerate(layers)),
                   num_classes=d.get("num_classes"))
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> NetSpec:
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise SpecError(f"not valid JSON: {e}") from None
        return cls.from_dict(d)

    # ---- validation -----------------------------------------------------------
    def validate(self) -> NetSpec:
        """Check fields and structure; raises SpecError naming the layer and field."""
        self.input.check()
        if not self.layers:
            raise SpecError("network: needs at least one layer", field="layers")
        if len(self.layers) > MAX_LAYERS:
            raise SpecError(f"network: at most {MAX_LAYERS} layers, got {len(self.layers)}", field="layers")
        names = set()
        flat = False  # True once the tensor is [N, F]
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, LayerSpec):
                raise SpecError(f"layer {i}: not a layer spec", index=i)
            layer.check(i)
            if layer.name is not None:
                if layer.name in names:
                    raise _err(i, layer.type, "name", f"{layer.name!r} is used twice; layer names must be unique")
                names.add(layer.name)
            t = layer.type
            if t == "linear" and not flat:
                prev = self.layers[i - 1].type if i else "the input"
                raise SpecError(
                    f"layer {i} (linear): a linear layer cannot follow a spatial layer ({prev}); "
                    "insert a 'flatten' (or an adaptive pool then flatten) before it", index=i, field="type")
            if flat and t in ("conv", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "lrn", "flatten"):
                raise SpecError(
                    f"layer {i} ({t}): comes after the tensor was flattened to [features]; "
                    "spatial layers and a second flatten must come before the flatten", index=i, field="type")
            if t == "flatten":
                flat = True
        if self.num_classes is not None:
            if not _is_int(self.num_classes) or self.num_classes < 1:
                raise SpecError(f"network: field 'num_classes' must be a positive integer, got {self.num_classes!r}",
                                field="num_classes")
            lin = [i for i, layer in enumerate(self.layers) if layer.type == "linear"]
            if not lin:
                raise SpecError("network: field 'num_classes' is set but the network has no linear layer",
                                field="num_classes")
            last = self.layers[lin[-1]]
            if last.out_features != self.num_classes:
                raise SpecError(
                    f"layer {lin[-1]} (linear): field 'out_features' = {last.out_features} must equal "
                    f"num_classes = {self.num_classes} (it is the last linear layer)",
                    index=lin[-1], field="out_features")
        return self

    # ---- editing helpers (each returns a new, validated spec) ------------------
    def replace(self, **changes) -> NetSpec:
        return dataclasses.replace(self, **changes).validate()

    def with_input(self, channels=None, height=None, width=None) -> NetSpec:
        inp = InputSpec(channels if channels is not None else self.input.channels,
                        height if height is not None else self.input.height,
                        width if width is not None else self.input.width)
        return self.replace(input=inp)

    def with_layer(self, index: int, layer: LayerSpec) -> NetSpec:
        layers = list(self.layers)
        layers[index] = layer
        return self._with_layers(layers)

    def insert_layer(self, index: int, layer: LayerSpec) -> NetSpec:
        layers = list(self.layers)
        layers.insert(index, layer)
        return self._with_layers(layers)

    def delete_layer(self, index: int) -> NetSpec:
        layers = list(self.layers)
        del layers[index]
        return self._with_layers(layers)

    def move_layer(self, index: int, delta: int) -> NetSpec:
        layers = list(self.layers)
        j = index + delta
        if not 0 <= j < len(layers):
            return self
        layers[index], layers[j] = layers[j], layers[index]
        return self._with_layers(layers)

    def _with_layers(self, layers) -> NetSpec:
        num_classes = self.num_classes
        lin = [x for x in layers if x.type == "linear"]
        if num_classes is not None and (not lin or lin[-1].out_features != num_classes):
            num_classes = lin[-1].out_features if lin else None
        return dataclasses.replace(self, layers=tuple(layers), num_classes=num_classes).validate()


def as_spec(config: dict | NetSpec | str) -> NetSpec:
    """Accept a NetSpec, a dict in the JSON format, or JSON text."""
    if isinstance(config, NetSpec):
        return config.validate()
    if isinstance(config, str):
        return NetSpec.from_json(config)
    return NetSpec.from_dict(config)


def layer_names(spec: NetSpec) -> list[str]:
    """The module name of every layer: its own name, or type + running number.

    conv1, conv2, …; fc1, fc2, … for linear; pool1, … for max/avg pools; relu1, …
    """
    prefix = {"conv": "conv", "linear": "fc", "maxpool": "pool", "avgpool": "pool",
              "adaptive_avgpool": "adaptive_pool", "adaptive_maxpool": "adaptive_pool",
              "batchnorm": "bn", "dropout": "dropout", "flatten": "flatten", "lrn": "lrn"}
    counts: dict[str, int] = {}
    taken = {layer.name for layer in spec.layers if layer.name}
    out = []
    for layer in spec.layers:
        if layer.name:
            out.append(layer.name)
            continue
        p = prefix.get(layer.type, layer.type)
        while True:
            counts[p] = counts.get(p, 0) + 1
            n = f"{p}{counts[p]}"
            if n not in taken:
                break
        taken.add(n)
        out.append(n)
    return out


def spec_changes(a: dict, b: dict) -> list[dict]:
    """What changed from network ``a`` to ``b`` (spec dicts), one row per change:
    ``{"where", "field", "from", "to"}`` (values as text).  Layers are aligned with
    difflib, so an inserted or deleted layer is one 'added'/'removed' row (field
    'type', the other side '—') instead of shifting every layer after it; fields are
    compared after filling in defaults."""
    out = []
    for key in ("input", "num_classes"):
        if a.get(key) != b.get(key):
            out.append({"where": key, "field": "", "from": str(a.get(key)), "to": str(b.get(key))})
    la, lb = a.get("layers", []), b.get("layers", [])

    def full(x):
        try:
            return layer_from_dict(x).to_dict()
        except SpecError:
            return x

    keys_a = [json.dumps(x, sort_keys=True) for x in la]
    keys_b = [json.dumps(x, sort_keys=True) for x in lb]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2)):
                x, y = full(la[i]), full(lb[j])
                if x.get("type") != y.get("type"):
                    out.append({"where": f"layer {i}", "field": "type", "from": str(x.get("type")),
                                "to": str(y.get("type"))})
                    continue
                for f in sorted(set(x) | set(y)):
                    if x.get(f) != y.get(f):
                        out.append({"where": f"layer {i} ({x.get('type')})", "field": f,
                                    "from": str(x.get(f)), "to": str(y.get(f))})
        else:
            out += [{"where": f"layer {i}", "field": "type", "from": str(la[i].get("type")), "to": "—"}
                    for i in range(i1, i2)]
            out += [{"where": f"layer {j}", "field": "type", "from": "—", "to": str(lb[j].get("type"))}
                    for j in range(j1, j2)]
    return out
