"""Named networks from the source documents, as a registry (list / get / register).

Each entry is a ``NetSpec`` plus metadata: where it comes from and what is special
about it.  Numbers are checked against ../shared/design.md in tests/test_presets.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import NetSpec, SpecError


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    note: str
    spec: NetSpec


_REGISTRY: dict[str, Preset] = {}


def register(name: str, source: str, note: str, spec_dict: dict) -> Preset:
    """Add a preset; refuses a duplicate name."""
    if name in _REGISTRY:
        raise ValueError(f"a preset named {name!r} is already registered")
    spec = NetSpec.from_dict({**spec_dict, "name": name})
    p = Preset(name, source, note, spec)
    _REGISTRY[name] = p
    return p


def list_presets() -> list[str]:
    return list(_REGISTRY)


def get_preset(name: str) -> Preset:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r}; available: {', '.join(_REGISTRY)}") from None


def get_spec(name: str) -> NetSpec:
    return get_preset(name).spec


# ---- layer shorthands (plain dicts in the JSON format) -------------------------------
def conv(c, k, s=1, p=0, g=1, **kw):
    return {"type": "conv", "out_channels": c, "kernel": k, "stride": s, "padding": p, "groups": g, **kw}


def maxpool(k=3, s=2, p=0, ceil=False):
    return {"type": "maxpool", "kernel": k, "stride": s, "padding": p, "ceil_mode": ceil}


def avgpool(k=2, s=2):
    return {"type": "avgpool", "kernel": k, "stride": s}


def fc(n):
    return {"type": "linear", "out_features": n}


def lrn(size=5, alpha=1e-4, beta=0.75, k=2.0):
    return {"type": "lrn", "size": size, "alpha": alpha, "beta": beta, "k": k}


RELU = {"type": "relu"}
SIGMOID = {"type": "sigmoid"}
FLATTEN = {"type": "flatten"}
DROP = {"type": "dropout", "p": 0.5}


def classifier(hidden, classes, dropout_first=True):
    """Dropout → FC → ReLU → Dropout → FC → ReLU → FC (torchvision order) or
    FC → ReLU → Dropout → FC → ReLU → Dropout → FC (d2l order)."""
    if dropout_first:
        return [FLATTEN, DROP, fc(hidden), RELU, DROP, fc(hidden), RELU, fc(classes)]
    return [FLATTEN, fc(hidden), RELU, DROP, fc(hidden), RELU, DROP, fc(classes)]


def _alexnet_features(widths, k1, s1, p1, *, lrn_layer=None, groups=(1, 1, 1, 1, 1), pad="int",
                      pool=None):
    c1, c2, c3, c4, c5 = widths
    pool = pool or maxpool()
    p2, p3 = (2, 1) if pad == "int" else ("same", "same")
    out = [conv(c1, k1, s1, p1, groups[0]), RELU]
    if lrn_layer:
        out.append(lrn_layer)
    out.append(pool)
    out += [conv(c2, 5, 1, p2, groups[1]), RELU]
    if lrn_layer:
        out.append(lrn_layer)
    out.append(pool)
    out += [conv(c3, 3, 1, p3, groups[2]), RELU, conv(c4, 3, 1, p3, groups[3]), RELU,
            conv(c5, 3, 1, p3, groups[4]), RELU, pool]
    return out


def _inp(c, h, w=None):
    return {"channels": c, "height": h, "width": w or h}


# ---- the seeds ----------------------------------------------------------------------
# Each preset names the tutorial it comes from (../shared/seeds/NNN_*.txt, the number in the
# comment) by its framework, data and page, so a newcomer can tell them apart and find them.
register(
    "paper-2012", "The 2012 paper: Krizhevsky, Sutskever & Hinton, 'ImageNet Classification with Deep "
    "Convolutional Neural Networks' (NeurIPS 2012)",  # as seeds 002 and 003 describe it
    "The original two-GPU AlexNet: 96-256-384-384-256 convs on a 227×227 input (the paper says 224, "
    "but only 227 makes (W − 11)/4 + 1 = 55 exact). LRN follows conv1 and conv2 (n = 5, α = 1e-4, "
    "β = 0.75, k = 2; the paper does not divide α by n but torch's LocalResponseNorm does, so torch "
    "alpha = 5e-4 reproduces the paper). conv2, conv4 and conv5 only see the half of the channels "
    "on their own GPU, which is groups = 2 here and halves their weights. 60,965,224 parameters.",
    {"input": _inp(3, 227), "num_classes": 1000,
     "layers": _alexnet_features((96, 256, 384, 384, 256), 11, 4, 0, lrn_layer=lrn(5, 5e-4, 0.75, 2.0),
                                 groups=(1, 2, 1, 2, 2))
     + classifier(4096, 1000)},
)

register(
    "cifar10-227", "PyTorch AlexNet tutorial on CIFAR-10 resized to 227×227 (Chinese blog after a Tencent Cloud "
    "article)",  # seed 001
    "The tutorial's PyTorch AlexNet for CIFAR-10 upscaled to 227×227. conv1 has padding 1, so "
    "(227 − 11 + 2·1)/4 + 1 = 55.5 is floored to 55: the last padded row and column are never "
    "covered (they are padding, so no pixel is lost, but the division is inexact). No LRN, no groups, "
    "10 classes: 58,322,314 parameters, mostly in the first fully-connected layer.",
    {"input": _inp(3, 227), "num_classes": 10,
     "layers": _alexnet_features((96, 256, 384, 384, 256), 11, 4, 1) + classifier(4096, 10)},
)

register(
    "half-width-224", "PyTorch tutorial 'AlexNet network structure and code implementation' (blog, 2022): "
    "one GPU's half of the channels",  # seed 002
    "Half of the paper's network — one GPU's worth of channels (48-128-192-192-128) and 2048-wide FC "
    "layers — on a 224×224 input. conv1 has padding 2: (224 − 11 + 2·2)/4 + 1 = 55.25 → 55. "
    "1000 classes: 16,630,440 parameters.",
    {"input": _inp(3, 224), "num_classes": 1000,
     "layers": _alexnet_features((48, 128, 192, 192, 128), 11, 4, 2) + classifier(2048, 1000)},
)

register(
    "d2l-fashion-mnist-224", "Dive into Deep Learning's MXNet AlexNet tutorial on Fashion-MNIST, compared with LeNet "
    "(blog write-up, 2022)",  # seed 000
    "d2l's AlexNet for 1-channel Fashion-MNIST resized to 224×224. conv1 has no padding: "
    "(224 − 11)/4 + 1 = 54.25 → 54, so the last input row and column are never seen; the pools give "
    "26, 12 and 5, and the classifier starts from 256·5·5 = 6400 features. 10 classes: 46,764,746 "
    "parameters. The tutorial also trains it at 96×96 to save time.",
    {"input": _inp(1, 224), "num_classes": 10,
     "layers": _alexnet_features((96, 256, 384, 384, 256), 11, 4, 0) + classifier(4096, 10, dropout_first=False)},
)

register(
    "tf-benchmark-224", "TensorFlow's alexnet_benchmark.py, from the PaddlePaddle and TensorFlow AlexNet tutorial "
    "('Deep learning series', cnblogs, 2017)",  # seed 003
    "TensorFlow's AlexNet benchmark: 64-192-384-256-256 convs with 'SAME' padding (for conv1, stride 4 "
    "on 224 needs 7 pixels of padding: 3 before, 4 after — asymmetric, which PyTorch's padding= cannot "
    "express) and 'VALID' 3/2 max-pools. LRN after conv1 and conv2 with depth_radius 2, bias 2 and "
    "α = 1e-4 (torch: size 5, alpha 5e-4, k 2). conv1 gives 56×56; the features end at 256×6×6 "
    "with 2,469,696 conv parameters. The benchmark has no classifier.",
    {"input": _inp(3, 224),
     "layers": _alexnet_features((64, 192, 384, 256, 256), 11, 4, "same", lrn_layer=lrn(5, 5e-4, 0.75, 2.0),
                                 pad="same", pool=maxpool(3, 2, "valid"))},
)

register(
    "paddle-cifar10-32", "PaddlePaddle v2 AlexNet on raw 32×32 CIFAR-10, from the PaddlePaddle and TensorFlow AlexNet "
    "tutorial ('Deep learning series', cnblogs, 2017)",  # seed 003
    "The tutorial's PaddlePaddle AlexNet fed raw 32×32 CIFAR-10 images. conv1 (11×11, stride 4, padding 1) "
    "already shrinks the image to 6×6; Paddle rounds pooling up (ceil mode), giving 3 and then 1, "
    "and the last 3×3 pool has a 1×1 input: the network collapses. This preset reproduces the "
    "collapse; the explorer shows where and how to fix it (a larger input, or a smaller first stride).",
    {"input": _inp(3, 32), "num_classes": 10,
     "layers": [conv(96, 11, 4, 1), RELU, lrn(5, 1e-4, 0.75, 1.0), maxpool(3, 2, 0, True),
                conv(256, 5, 1, 2), RELU, lrn(5, 1e-4, 0.75, 1.0), maxpool(3, 2, 0, True),
                conv(384, 3, 1, 1), RELU, conv(384, 3, 1, 1), RELU, conv(256, 3, 1, 1), RELU,
                maxpool(3, 2, 0, True)]
     + [FLATTEN, fc(4096), RELU, DROP, fc(4096), RELU, DROP, fc(10)]},
)

register(
    "keras-cifar10-32",  # seed 004
    "Keras AlexNet re-implementation on CIFAR-10 at native 32×32 (paper notes, Google Colab)",
    "The tutorial's Keras AlexNet on native 32×32 CIFAR-10 with 'same' padding everywhere, so sizes only "
    "divide by the strides: 8, 4, 4, 2, 2, 2, 2, 1. The classifier starts from just 256 features "
    "(256·1·1), so the first FC layer has 1,052,672 weights instead of 37 million. 21,622,154 parameters.",
    {"input": _inp(3, 32), "num_classes": 10,
     "layers": [conv(96, 11, 4, "same"), RELU, maxpool(3, 2, "same"),
                conv(256, 5, 1, "same"), RELU, maxpool(3, 2, "same"),
                conv(384, 3, 1, "same"), RELU, conv(384, 3, 1, "same"), RELU,
                conv(256, 3, 1, "same"), RELU, maxpool(3, 2, "same")]
     + [FLATTEN, fc(4096), RELU, DROP, fc(4096), RELU, DROP, fc(10)]},
)

register(
    "torchvision", "torchvision.models.alexnet, PyTorch's model library (the ImageNet weights it downloads)",
    "torchvision's AlexNet (from 'One weird trick', Krizhevsky 2014): 64-192-384-256-256 convs, no LRN, "
    "no groups, conv1 with padding 2 on 224×224 ((224 − 11 + 4)/4 + 1 = 55.25 → 55), and an adaptive "
    "average pool to 6×6 so any input of at least 63×63 works. 61,100,840 parameters; the only preset "
    "with downloadable ImageNet weights.",
    {"input": _inp(3, 224), "num_classes": 1000,
     "layers": [conv(64, 11, 4, 2), RELU, maxpool(), conv(192, 5, 1, 2), RELU, maxpool(),
                conv(384, 3, 1, 1), RELU, conv(256, 3, 1, 1), RELU, conv(256, 3, 1, 1), RELU, maxpool(),
                {"type": "adaptive_avgpool", "output": 6}] + classifier(4096, 1000)},
)

register(
    "lenet-5", "LeCun et al. 1998, as Dive into Deep Learning's MXNet tutorial writes it to compare with "
    "AlexNet",  # seed 000
    "LeNet-5 as d2l writes it, the network AlexNet is compared with: two 5×5 convs (6 and 16 "
    "channels) with sigmoid activations and 2×2 average pooling on a 28×28 image, then 120-84-10 "
    "fully-connected layers. 61,706 parameters — a thousand times fewer than AlexNet.",
    {"input": _inp(1, 28), "num_classes": 10,
     "layers": [conv(6, 5, 1, 2), SIGMOID, avgpool(), conv(16, 5), SIGMOID, avgpool(), FLATTEN,
                fc(120), SIGMOID, fc(84), SIGMOID, fc(10)]},
)

DROP25 = {"type": "dropout", "p": 0.25}

register(
    "alexnet-cifar-32", "This app: AlexNet's design scaled to 32×32 so it trains on a CPU",
    "AlexNet's design — five convs with a 5×5 second conv, overlapping 3/2 max-pools, dropout before "
    "the fully-connected layers — scaled for 32×32 images so it trains well on a CPU: conv1 is 5×5 "
    "stride 1 instead of 11×11 stride 4 (which would throw away most of a 32×32 image), the channels "
    "are half the paper's single-GPU column (48-96-192-192-128), BatchNorm follows each conv in place "
    "of LRN, and the classifier is 512-wide with dropout 0.25 (0.5 slows short CPU runs). The pools "
    "give 15, 7 and 3. About 66 million multiply-adds per image: with the cifar-cpu recipe it reaches "
    "about 72 % on a 10,000-image CIFAR-10 subset in five minutes on two CPU cores (67 % in three).",
    {"input": _inp(3, 32), "num_classes": 10,
     "layers": [conv(48, 5, 1, 2), {"type": "batchnorm"}, RELU, maxpool(3, 2),
                conv(96, 5, 1, 2), {"type": "batchnorm"}, RELU, maxpool(3, 2),
                conv(192, 3, 1, 1), {"type": "batchnorm"}, RELU,
                conv(192, 3, 1, 1), {"type": "batchnorm"}, RELU,
                conv(128, 3, 1, 1), {"type": "batchnorm"}, RELU, maxpool(3, 2),
                FLATTEN, DROP25, fc(512), RELU, DROP25, fc(512), RELU, fc(10)]},
)

register(
    "alexnet-mini-15", "This app: a pocket AlexNet for 15×15 images and quick experiments",
    "AlexNet's layout in miniature for 15×15 inputs — five 3×3 convs (32-64-96-96-64), three "
    "overlapping 3/2 max-pools (15 → 7 → 3 → 1, every division exact), dropout before two 256-wide FC layers, ReLU, no "
    "BatchNorm — about 3 million multiply-adds per image, so an epoch of the embedded digits takes "
    "seconds on a CPU. The Experiments page uses it to test the tutorials' claims (ReLU vs tanh, "
    "overlapping pooling, LRN, dropout) in a few minutes.",
    {"input": _inp(3, 15), "num_classes": 10,
     "layers": [conv(32, 3, 1, 1), RELU, maxpool(3, 2),
                conv(64, 3, 1, 1), RELU, maxpool(3, 2),
                conv(96, 3, 1, 1), RELU, conv(96, 3, 1, 1), RELU, conv(64, 3, 1, 1), RELU, maxpool(3, 2),
                FLATTEN, DROP, fc(256), RELU, DROP, fc(256), RELU, fc(10)]},
)
