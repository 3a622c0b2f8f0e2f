"""Fitting a network to a dataset: the classifier's outputs sized to the dataset's classes.

Plain Python on the spec (no torch), so the Train form can show the resize before the
training engine is loaded, and the estimate matches past runs on the network as trained."""

from __future__ import annotations

from .spec import NetSpec, SpecError


def adapt_spec(spec: NetSpec, num_classes: int) -> tuple[NetSpec, str | None]:
    """The spec with its last linear layer sized for ``num_classes`` and a note saying so
    (None when it already fits, or when ``num_classes`` is not known: < 1).  The engine
    and the Train and Experiments pages all fit a network to a dataset with this.
    Raises SpecError when the network has no linear layer to size."""
    if num_classes < 1:
        return spec, None
    lin = [i for i, layer in enumerate(spec.layers) if layer.type == "linear"]
    if not lin:
        raise SpecError("the network has no linear (classifier) layer, so it cannot be trained to classify; "
                        "add flatten and linear layers at the end")
    last = spec.layers[lin[-1]]
    if last.out_features == num_classes and spec.num_classes in (None, num_classes):
        return spec, None
    new = spec.with_layer(lin[-1], last.replace(out_features=num_classes))
    new = new.replace(num_classes=num_classes)
    return new, (f"the last linear layer was resized from {last.out_features} to {num_classes} outputs "
                 "to match the dataset's classes")
