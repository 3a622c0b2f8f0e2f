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

from . import layers as L
from .layers import MAX_CHANNELS, MAX_FEATURES, MAX_KERNEL, MAX_SIDE, SpecError, hw  # noqa: F401  (re-exported)

IntPair = Union[int, tuple[int, int]]
Padding = Union[int, tuple[int, int], str]
MAX_LAYERS = 256


def _err(index, type_, fld, msg) -> SpecError:
    return L.field_error(index, type_, fld, msg)


def _jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    return v


@dataclass(frozen=True)
class LayerSpec:
    """Base class of every layer spec: one frozen dataclass per registered layer type,
    made from its fields (``alexnet.layers``).  ``name`` is optional; the builder makes one."""

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

    def check(self, index: int | None = None) -> None:
        lt = L.get(self.type)
        _check_name(self.name, index, self.type)
        for f in lt.fields:
            f.parse(getattr(self, f.name), index, self.type)
        lt.check(self, index)


def _spec_class(lt: L.LayerType) -> type[LayerSpec]:
    """The frozen dataclass of one layer type: its registry fields, with their defaults."""
    cls_name = "".join(part.title() for part in lt.name.split("_")) + "Spec"
    return dataclasses.make_dataclass(cls_name, [(f.name, Any, field(default=f.default)) for f in lt.fields],
                                      bases=(LayerSpec,), frozen=True, namespace={"type": lt.name})


LAYER_TYPES: dict[str, type[LayerSpec]] = {name: _spec_class(lt) for name, lt in L.REGISTRY.items()}
ACTIVATIONS = L.ACTIVATIONS
SPATIAL_POOLS = L.names("window")[1:]  # maxpool, avgpool

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _check_name(name, index, type_) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _err(index, type_, "name", "must be letters, digits and _ (not starting with a digit), at most 64 characters")
    if name in L.RESERVED_NAMES:
        raise _err(index, type_, "name", f"{name!r} is a name PyTorch's nn.Module uses itself; choose another")


def layer_from_dict(d: Any, index: int | None = None) -> LayerSpec:
    """Build and check one layer spec from its JSON dict."""
    if not isinstance(d, dict):
        raise SpecError(f"layer {index}: must be an object with a 'type', got {type(d).__name__}", index=index)
    t = d.get("type")
    if not isinstance(t, str) or t not in LAYER_TYPES:
        shown = t if isinstance(t, str) else type(t).__name__
        raise SpecError(f"layer {index} ({shown}): field 'type' = {t!r} is unknown; valid types: "
                        f"{', '.join(LAYER_TYPES)}", index=index, field="type")
    lt = L.get(t)
    known = {f.name for f in lt.fields} | {"name"}
    unknown = [k for k in d if k not in known and k != "type"]
    if unknown:
        raise _err(index, t, unknown[0], f"is not a field of a {t} layer; its fields are: {', '.join(sorted(known))}")
    _check_name(d.get("name"), index, t)
    kwargs = {f.name: f.parse(d[f.name], index, t) for f in lt.fields if f.name in d}
    spec = LAYER_TYPES[t](**kwargs, name=d.get("name"))
    lt.check(spec, index)
    return spec


@dataclass(frozen=True)
class InputSpec:
    channels: int = 3
    height: int = 224
    width: int = 224

    def check(self):
        for f in ("channels", "height", "width"):
            v = getattr(self, f)
            hi = 64 if f == "channels" else MAX_SIDE
            if not L.is_int(v) or not 1 <= v <= hi:
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
        except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, too many digits
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
            flat = self._check_place(i, layer, flat)
        if self.num_classes is not None:
            if not L.is_int(self.num_classes) or self.num_classes < 1:
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

    def _check_place(self, i: int, layer: LayerSpec, flat: bool) -> bool:
        """A layer that needs [C, H, W] after the flatten, or [features] before it, is refused.
        Returns whether the tensor is flat after this layer."""
        lt = L.get(layer.type)
        if lt.where == "flat" and not flat:
            prev = self.layers[i - 1].type if i else "the input"
            raise SpecError(
                f"layer {i} ({lt.name}): a {lt.name} layer cannot follow a spatial layer ({prev}); "
                "insert a 'flatten' (or an adaptive pool then flatten) before it", index=i, field="type")
        if flat and lt.where == "spatial":
            raise SpecError(
                f"layer {i} ({lt.name}): comes after the tensor was flattened to [features]; "
                "spatial layers and a second flatten must come before the flatten", index=i, field="type")
        return flat or lt.name == "flatten"

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
    counts: dict[str, int] = {}
    taken = {layer.name for layer in spec.layers if layer.name}
    out = []
    for layer in spec.layers:
        if layer.name:
            out.append(layer.name)
            continue
        p = L.get(layer.type).prefix or layer.type
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
