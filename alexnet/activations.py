"""What each layer sees: images in, weights loaded, forward hooks → feature maps, filters, top-k.

Everything here is plain torch / PIL / numpy (no streamlit) so the page stays thin and the
tests can call it directly:

* **images** — ``read_image`` validates bytes a user uploads (size limit, not an image,
  truncated file, decompression bomb); ``sample_photo``/``sample_digit``/``dataset_images``
  give bundled and on-disk images; ``to_network_input`` crops/resizes/converts an image to
  exactly what the network sees and ``normalise`` turns it into a batch of one.
* **weights** — ``random_model`` (seeded), ``read_weights_file`` (our run checkpoints, plain
  state dicts, torchvision's file), ``torchvision_key_map`` (torchvision's ``features.0.weight``
  → our ``conv1.weight``), ``load_weights`` (shape check first, a message that names every
  layer that does not fit), ``download_torchvision_weights`` (with progress; a clear message
  offline).
* **activations** — ``capture`` runs one forward pass with a hook on every layer (removed in
  ``finally``), ``map_stats``/``layer_stats``/``top_k``/``conv1_filters`` read the result.
* **receptive fields** — ``influence_mask`` finds, with a gradient, the input pixels that can
  influence one unit, to check ``alexnet.arithmetic.receptive_box`` against torch itself.

Every ``torch.load`` here uses ``weights_only=True, map_location="cpu"``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from .arithmetic import analyze
from .build import AvgPool2dSame, Conv2dSame, MaxPool2dSame, build_model
from .data import DATASETS, DatasetError, data_dir, load_dataset
from .spec import NetSpec, as_spec, layer_names
from .textfmt import human_bytes, shape_text

# ---- limits and constants ---------------------------------------------------------------
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # = server.maxUploadSize in .streamlit/config.toml
MAX_IMAGE_PIXELS = 40_000_000  # decoded size we accept (a 40-megapixel photo, ~120 MB as RGB)
MAX_IMAGE_SIDE = 20_000
IMAGE_FORMATS = ("PNG", "JPEG")

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what torchvision's ImageNet weights were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
PLAIN_MEAN = (0.5,)  # random weights: map [0, 1] to [-1, 1]
PLAIN_STD = (0.5,)

# Where torchvision's ImageNet weights come from: None = what torchvision's AlexNet_Weights
# says (tests point it at a local address).
TORCHVISION_WEIGHTS_URL: str | None = None
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")  # shipped inside scikit-learn
PHOTO_DIR = Path(__file__).resolve().parent.parent / "assets" / "photos"  # the app's own (assets/README.md)
SAMPLE_PHOTOS = SKLEARN_PHOTOS + tuple(sorted(p.name for p in PHOTO_DIR.glob("*.png")))


class ImageInputError(ValueError):
    """An image we refuse, with a message a person can act on."""


class WeightsError(ValueError):
    """Weights that cannot be loaded (missing file, offline, wrong network)."""


# =========================================================================================
# images
# =========================================================================================
def read_image(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_IMAGE_PIXELS,
               name: str = "the file") -> Image.Image:
    """Decode uploaded bytes into a fully loaded PIL image, or raise ImageInputError saying
    what is wrong: over the size limit, empty, not an image, not PNG/JPEG, too many pixels
    (a decompression bomb: a small file that decodes to a huge picture), truncated/corrupt."""
    size = len(data)
    if size > max_bytes:
        raise ImageInputError(f"{name} is {human_bytes(size)}, over the {human_bytes(max_bytes)} upload limit; "
                              "use a smaller PNG or JPEG (the network sees at most a few hundred pixels a side).")
    if size == 0:
        raise ImageInputError(f"{name} is empty (0 bytes).")
    # No global warnings filter here (pages run in threads): our own pixel limit is below
    # Pillow's warning threshold, and Pillow's hard limit raises DecompressionBombError.
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image (it is not a PNG or JPEG file Pillow can read).") from None
    except Image.DecompressionBombError:
        raise ImageInputError(f"{name} declares a huge image (over {max_pixels:,} pixels): refused as a "
                              "possible decompression bomb.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageInputError(f"{name} could not be read as an image: {e}.") from None
    if img.format not in IMAGE_FORMATS:
        raise ImageInputError(f"{name} is a {img.format} image; upload a PNG or JPEG.")
    w, h = img.size
    if w * h > max_pixels or max(w, h) > MAX_IMAGE_SIDE or min(w, h) < 1:
        raise ImageInputError(f"{name} declares {w:,}×{h:,} pixels ({w * h:,}), over the limit of "
                              f"{max_pixels:,} pixels: refused as a possible decompression bomb.")
    try:
        img.load()  # decode now, so a truncated file fails here and not halfway through a page
    except Image.DecompressionBombError:
        raise ImageInputError(f"{name} decodes to too many pixels: refused as a possible decompression bomb.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageInputError(f"{name} is truncated or corrupt ({e}); save it again and re-upload.") from None
    try:
        img = ImageOps.exif_transpose(img)  # phone photos: honour the orientation flag
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        pass
    return img


def sample_photo(name: str = "china.jpg") -> Image.Image:
    """A bundled picture: one of the two photographs scikit-learn ships (china.jpg,
    flower.jpg; 427×640) or one of the app's own in assets/photos (RGB)."""
    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose one of {', '.join(SAMPLE_PHOTOS)}")
    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(name))
    with Image.open(PHOTO_DIR / name) as img:
        return img.convert("RGB")


def sample_digit(index: int = 0) -> tuple[Image.Image, int]:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 real scans): (image, label)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    index = int(index) % len(d.images)
    arr = (d.images[index] * (255.0 / 16.0)).round().astype(np.uint8)  # pixel values 0..16
    return Image.fromarray(arr, mode="L"), int(d.target[index])


@dataclass
class DatasetImages:
    """Test images of a dataset found on disk (uint8 [N, H, W, C]), labels and class names."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def image(self, index: int) -> Image.Image:
        a = self.images[int(index) % len(self.images)]
        return Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)


def dataset_images(root: Path | None = None, limit: int = 500) -> list[DatasetImages]:
    """The first ``limit`` test images of every downloadable built-in dataset (alexnet.data's
    DATASETS) already under ``root`` (default: the data folder); never downloads."""
    found = []
    for name, facts in DATASETS.items():
        if not facts.download_mb:  # shipped with a package (digits): the page has its own picker
            continue
        try:
            ds = load_dataset(name, root if root is not None else data_dir(), download=False)
        except DatasetError:
            continue
        x = ds.x_test[:limit].permute(0, 2, 3, 1).numpy()  # N×H×W×C
        found.append(DatasetImages(name, np.ascontiguousarray(x), ds.y_test[:limit].numpy(), list(ds.classes)))
    return found


def to_network_input(img: Image.Image | np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """The image exactly as the network sees it, before normalisation: centre-cropped to the
    input's aspect ratio, resized (bilinear, antialiased) to height×width, converted to the
    input's channels (grey ↔ RGB; other channel counts repeat the RGB planes).
    Returns uint8 [height, width, channels]."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGBA").convert("RGB") if "A" in img.mode or img.mode == "P" else img.convert("RGB")
    w, h = img.size
    target = width / height
    if w / h > target:  # too wide: crop the sides
        nw = max(1, round(h * target))
        box = ((w - nw) // 2, 0, (w - nw) // 2 + nw, h)
    else:
        nh = max(1, round(w / target))
        box = (0, (h - nh) // 2, w, (h - nh) // 2 + nh)
    img = img.crop(box).resize((width, height), Image.BILINEAR)
    if channels == 1:
        arr = np.asarray(img.convert("L"))[..., None]
    else:
        arr = np.asarray(img.convert("RGB"))
        if channels != 3:
            arr = np.concatenate([arr] * math.ceil(channels / 3), axis=-1)[..., :channels]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def normalise(arr: np.ndarray, mean=PLAIN_MEAN, std=PLAIN_STD) -> torch.Tensor:
    """uint8 [H, W, C] → float [1, C, H, W], (x/255 − mean)/std per channel (a single mean/std
    is used for every channel)."""
    x = torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)
    c = x.shape[0]
    m = torch.tensor(list(mean), dtype=torch.float32)
    s = torch.tensor(list(std), dtype=torch.float32)
    if m.numel() != c:
        m = m.mean().expand(c) if m.numel() != 1 else m.expand(c)
    if s.numel() != c:
        s = s.mean().expand(c) if s.numel() != 1 else s.expand(c)
    return ((x - m[:, None, None]) / s[:, None, None]).unsqueeze(0)


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# =========================================================================================
# weights
# =========================================================================================
@dataclass
class LoadedWeights:
    """A state dict keyed by our layer names plus what came with it."""

    state_dict: dict[str, torch.Tensor]
    source: str  # human description
    classes: list[str] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    spec: dict | None = None  # the network the checkpoint was trained with, when it says
    meta: dict = field(default_factory=dict)  # epoch, test_acc, config …


def random_model(spec: NetSpec | dict | str, seed: int = 0) -> nn.Module:
    """The network with PyTorch's default initialisation drawn from ``seed`` (reproducible),
    in eval mode; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_model(spec)
    return model.eval()


def _param_layers(model: nn.Module) -> list[str]:
    """Names of our layers that own parameters or buffers, in order."""
    return [n for n, m in model.named_children() if any(True for _ in m.state_dict())]


_TV_KEY = re.compile(r"^(features|classifier)\.(\d+)\.(.+)$")


def torchvision_key_map(keys, model: nn.Module) -> dict[str, str]:
    """torchvision's AlexNet keys (``features.0.weight`` …, ``classifier.6.bias``) → ours
    (``conv1.weight`` …, ``fc3.bias``): the i-th torchvision layer with parameters is our
    i-th layer with parameters.  Keys that are not torchvision-style map to themselves."""
    tv_layers: list[tuple[int, int, str]] = []
    for k in keys:
        m = _TV_KEY.match(k)
        if m:
            item = (0 if m.group(1) == "features" else 1, int(m.group(2)), f"{m.group(1)}.{m.group(2)}")
            if item not in tv_layers:
                tv_layers.append(item)
    tv_layers.sort()
    ours = _param_layers(model)
    pairs = dict(zip([t[2] for t in tv_layers], ours))
    out = {}
    for k in keys:
        m = _TV_KEY.match(k)
        if m and f"{m.group(1)}.{m.group(2)}" in pairs:
            out[k] = f"{pairs[m.group(1) + '.' + m.group(2)]}.{m.group(3)}"
        else:
            out[k] = k
    return out


def _clean_keys(sd: dict) -> dict:
    """Drop wrappers' prefixes: DataParallel's ``module.`` and torch.compile's ``_orig_mod.``."""
    out = {}
    for k, v in sd.items():
        for p in ("module.", "_orig_mod."):
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")  # torch.save: a ZIP archive (or, before 1.6, a pickle)


def _looks_like(head: bytes) -> str:
    """What a file that is not a torch.save file seems to be, in words."""
    text = head.decode("utf-8", "ignore")  # (a character cut at byte 512 is dropped, not a reason)
    if not all(c.isprintable() or c in "\t\n\r" for c in text):
        return "not a file that torch.save writes (those are ZIP archives)"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"it is a text file (it starts '{first}')" if first else "it is an empty text file"


def read_weights_file(source: str | os.PathLike | bytes, *, name: str | None = None) -> LoadedWeights:
    """Load a ``.pth``/``.pt`` file (path or bytes) with ``weights_only=True``: one of our run
    checkpoints ({"model", "spec", "classes", "input_mean", …}), a ``{"state_dict": …}`` file, or
    a bare state dict (torchvision's files are bare state dicts).  Every part is checked:
    only WeightsError leaves this function."""
    label = name or (f"'{source}'" if not isinstance(source, bytes) else "the uploaded file")
    if not isinstance(source, bytes):
        p = Path(source).expanduser()
        if not p.is_file():
            raise WeightsError(f"{label}: no such file")
        source = p
    head = source[:512] if isinstance(source, bytes) else source.open("rb").read(512)
    if not head.startswith(TORCH_FILE_STARTS):
        raise WeightsError(f"{label} is not a PyTorch weights file: {_looks_like(head)}")
    try:
        obj = torch.load(io.BytesIO(source) if isinstance(source, bytes) else source,
                         weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # an object weights_only refuses (its code could run on loading)
        raise WeightsError(f"{label} holds objects other than tensors and plain values, which are not loaded: "
                           "unpickling them could run code from the file (torch.load with weights_only=True "
                           "refuses them)") from None
    except Exception:  # noqa: BLE001 - zip/EOF/format errors all mean "cannot use"
        raise WeightsError(f"{label} looks like a PyTorch weights file but is damaged or cut short: "
                           "it cannot be read") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{label} holds a {type(obj).__name__}, not a state dict or checkpoint")
    if isinstance(obj.get("model"), dict):  # one of our checkpoints
        return LoadedWeights(_tensor_dict(obj["model"], label), label, _classes(obj.get("classes"), label),
                             _stats(obj.get("input_mean"), "input_mean", label),
                             _stats(obj.get("input_std"), "input_std", label),
                             obj.get("spec") if isinstance(obj.get("spec"), dict) else None,
                             {k: obj[k] for k in ("epoch", "test_acc", "config") if k in obj})
    sd = obj["state_dict"] if isinstance(obj.get("state_dict"), dict) else obj
    return LoadedWeights(_tensor_dict(sd, label), label)


def _tensor_dict(sd: dict, label: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, keyed by layer names (wrappers' prefixes dropped)."""
    bad = next((k for k in sd if not isinstance(k, str)), None)
    if bad is not None:
        raise WeightsError(f"{label} is not a usable state dict: its key {bad!r} ({type(bad).__name__}) is not "
                           "a string; parameter names are strings such as 'conv1.weight'")
    out = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if not out:
        raise WeightsError(f"{label} holds no tensors")
    return _clean_keys(out)


def _classes(value, label: str) -> list[str] | None:
    """A checkpoint's class names: a list of strings or numbers, else refused."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, (str, int, float)) for c in value):
        raise WeightsError(f"{label}: 'classes' must be a list of class names, got {_short(value)}")
    return [str(c) for c in value]


def _stats(value, key: str, label: str) -> tuple[float, ...] | None:
    """A checkpoint's per-channel input mean or std: a non-empty list of finite numbers
    (a std above 0), else refused."""
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and 0 < len(value) <= 4096 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (key != "input_std" or v > 0)
        for v in value)
    if not ok:
        what = "positive numbers" if key == "input_std" else "finite numbers"
        raise WeightsError(f"{label}: '{key}' must be a list of {what}, one per input channel, got {_short(value)}")
    return tuple(float(v) for v in value)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def local_weight_roots() -> list[Path]:
    """The folders a weights file may be opened from by path on the Activations page: the
    run store, the dataset folder and the home folder of the user running the server."""
    from .runs import default_root

    return [p.expanduser().resolve() for p in (default_root(), data_dir(), Path.home())]


def local_weights_path(text: str, roots: list[Path] | None = None) -> Path:
    """The path typed into the page, if it lies under one of ``roots`` (default
    ``local_weight_roots()``).  Anything else is refused with the same message whether or
    not it exists, so the box cannot be used to learn which files the server has."""
    roots = local_weight_roots() if roots is None else roots
    p = Path(text.strip()).expanduser().resolve()
    if not any(p.is_relative_to(r.expanduser().resolve()) for r in roots):
        raise WeightsError(f"'{text.strip()}' is not under {', '.join(str(r) for r in roots)}: only files in these "
                           "folders can be opened by path. Copy the file there, or upload it.")
    return p


def weight_problems(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Every way ``state_dict`` does not fit ``model``, one line per layer, in layer order."""
    own = model.state_dict()
    by_layer: OrderedDict[str, list[str]] = OrderedDict((n, []) for n, _ in model.named_children())
    for k, v in own.items():
        layer = k.split(".", 1)[0]
        if k not in state_dict:
            by_layer[layer].append(f"{k.split('.', 1)[1]} {list(v.shape)} is missing from the file")
        elif tuple(state_dict[k].shape) != tuple(v.shape):
            by_layer[layer].append(f"{k.split('.', 1)[1]} is {list(state_dict[k].shape)} in the file but "
                                   f"{list(v.shape)} in this network")
    lines = [f"layer {layer}: " + "; ".join(p) for layer, p in by_layer.items() if p]
    extra_layers = OrderedDict()
    for k in state_dict:
        if k not in own:
            extra_layers.setdefault(k.split(".", 1)[0], []).append(k)
    if extra_layers:
        lines.append("the file has layers this network does not: "
                     + ", ".join(f"{n} ({', '.join(ks[:3])})" for n, ks in extra_layers.items()))
    return lines


def load_weights(model: nn.Module, weights: LoadedWeights, *, network_name: str = "this network") -> nn.Module:
    """Map torchvision-style keys when needed, check every shape, then load strictly.  On any
    mismatch raise WeightsError naming each layer and the two shapes (nothing is loaded)."""
    sd = weights.state_dict
    torchvision_style = any(_TV_KEY.match(k) for k in sd) and not any(k in model.state_dict() for k in sd)
    if torchvision_style:
        mapping = torchvision_key_map(list(sd), model)
        sd = {mapping[k]: v for k, v in sd.items()}
    problems = weight_problems(model, sd)
    if problems:
        trained_on = ""
        if weights.spec and isinstance(weights.spec.get("name"), str):
            trained_on = f" (it was saved from the network '{weights.spec['name']}')"
        raise WeightsError(f"{weights.source}{trained_on} does not fit the current network "
                           f"'{network_name}':\n" + "\n".join(f"- {p}" for p in problems))
    model.load_state_dict(sd, strict=True)
    if torchvision_style and weights.mean is None:  # a torchvision file: ImageNet statistics and names
        weights.mean, weights.std = IMAGENET_MEAN, IMAGENET_STD
        last = [m for m in model.children() if isinstance(m, nn.Linear)]
        if weights.classes is None and last and last[-1].out_features == 1000:
            weights.classes = torchvision_categories()
    return model.eval()


def torchvision_categories() -> list[str]:
    """The 1,000 ImageNet class names that come with torchvision's weights (no download)."""
    from torchvision.models import AlexNet_Weights

    return list(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def torchvision_weights_source() -> tuple[str, str, str]:
    """(URL, file name, size as text) of torchvision's ImageNet AlexNet weights, as its
    AlexNet_Weights.IMAGENET1K_V1 says (``TORCHVISION_WEIGHTS_URL``, when set, replaces the URL)."""
    from torchvision.models import AlexNet_Weights

    w = AlexNet_Weights.IMAGENET1K_V1
    url = TORCHVISION_WEIGHTS_URL or w.url
    mb = w.meta.get("_file_size")
    return url, url.rsplit("/", 1)[-1], f"{mb:.0f} MB" if mb else "about 230 MB"


def torchvision_weights_path() -> Path:
    """Where torch.hub keeps (or will keep) torchvision's AlexNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / torchvision_weights_source()[1]


def download_torchvision_weights(progress: Callable[[int, int | None], None] | None = None, *,
                                 url: str | None = None, dest: Path | None = None,
                                 timeout: float = 15.0) -> Path:
    """Download torchvision's ImageNet AlexNet weights into torch.hub's cache (once), reporting
    ``progress(bytes_done, bytes_total)``, checking the SHA-256 prefix in the file name, and
    renaming into place only when complete.  Offline → WeightsError with what to do instead."""
    url = url or torchvision_weights_source()[0]
    dest = Path(dest) if dest is not None else torchvision_weights_path()
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    want = re.search(r"-([a-f0-9]{6,})\.", dest.name)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".partial")
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, os.fdopen(fd, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0) or None
                h = hashlib.sha256()
                done = 0
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise WeightsError(
                f"Could not download torchvision's ImageNet weights from {url} ({reason}) — this machine "
                f"seems to have no internet connection. On a machine with internet, download that file "
                f"({dest.name}, {torchvision_weights_source()[2]}) and either put it at {dest} or choose "
                "'Local .pth file' and give its path.") from None
        if want and not h.hexdigest().startswith(want.group(1)):
            raise WeightsError(f"the download from {url} is corrupt (SHA-256 does not start with {want.group(1)}); "
                               "try again")
        os.replace(tmp, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def torchvision_weights(path: str | os.PathLike | None = None, progress=None) -> LoadedWeights:
    """torchvision's ImageNet weights (cached file, else downloaded) with the ImageNet names,
    mean and std."""
    p = Path(path) if path is not None else download_torchvision_weights(progress)
    w = read_weights_file(p, name=f"torchvision's ImageNet weights ({p.name})")
    w.classes = torchvision_categories()
    w.mean, w.std = IMAGENET_MEAN, IMAGENET_STD
    return w


# =========================================================================================
# activations
# =========================================================================================
@dataclass
class Activations:
    """One forward pass: every layer's output for the image (batch dimension dropped)."""

    outputs: OrderedDict[str, torch.Tensor]
    logits: torch.Tensor  # the network's final output, [F] or [C, H, W]
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return list(self.outputs)


def capture(model: nn.Module, x: torch.Tensor) -> Activations:
    """Run ``model`` on ``x`` ([1, C, H, W]) in eval mode with a forward hook on every layer.
    Outputs are cloned (ReLU works in place and would overwrite the conv's output) and the
    hooks are removed in ``finally`` even if the forward pass fails."""
    import time

    outputs: OrderedDict[str, torch.Tensor] = OrderedDict()
    handles = []

    def hook(name):
        def fn(_module, _inp, out):
            outputs[name] = out.detach()[0].clone()
        return fn

    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        for name, module in model.named_children():
            handles.append(module.register_forward_hook(hook(name)))
        with torch.inference_mode():
            y = model(x.clone())  # an in-place ReLU right after a pass-through layer would overwrite x
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return Activations(outputs, y.detach()[0].clone(), time.perf_counter() - t0)


def map_stats(t: torch.Tensor) -> dict[str, np.ndarray]:
    """Per feature map of a [C, H, W] tensor (or per unit of [F]): mean, std, min, max,
    fraction of exact zeros, and where the maximum is (row, col)."""
    if t.dim() == 1:
        t = t[:, None, None]
    flat = t.reshape(t.shape[0], -1).float()
    idx = flat.argmax(dim=1)
    return {
        "channel": np.arange(t.shape[0]),
        "mean": flat.mean(1).numpy(),
        "std": flat.std(1, unbiased=False).numpy(),
        "min": flat.min(1).values.numpy(),
        "max": flat.max(1).values.numpy(),
        "zeros": (flat == 0).float().mean(1).numpy(),
        "argmax_row": (idx // t.shape[2]).numpy(),
        "argmax_col": (idx % t.shape[2]).numpy(),
    }


def layer_stats(acts: Activations, spec: NetSpec | None = None) -> list[dict]:
    """One row per layer: name, type, shape, mean, std, min, max, fraction of zeros."""
    types = {}
    if spec is not None:
        types = dict(zip(layer_names(spec), (layer.type for layer in spec.layers)))
    rows = []
    for name, t in acts.outputs.items():
        f = t.float()
        rows.append({"layer": name, "type": types.get(name, ""), "shape": shape_text(t.shape),
                     "mean": float(f.mean()), "std": float(f.std(unbiased=False)) if f.numel() > 1 else 0.0,
                     "min": float(f.min()), "max": float(f.max()), "zeros": float((f == 0).float().mean())})
    return rows


def channel_order(t: torch.Tensor, by: str = "index", descending: bool = True) -> np.ndarray:
    """Channel indices of a [C, H, W] tensor ordered by 'index', 'mean', 'max' or 'zeros'."""
    if by == "index":
        return np.arange(t.shape[0])
    s = map_stats(t)[by]
    order = np.argsort(s, kind="stable")
    return order[::-1].copy() if descending else order


def top_k(logits: torch.Tensor, k: int = 5, classes: list[str] | None = None) -> list[dict] | None:
    """The k most probable classes (softmax of the final output) or None when the network
    does not end in a vector of class scores."""
    if logits.dim() != 1:
        return None
    p = torch.softmax(logits.float(), dim=0)
    vals, idx = p.topk(min(k, p.numel()))
    out = []
    for v, i in zip(vals.tolist(), idx.tolist()):
        label = classes[i] if classes and i < len(classes) else f"class {i}"
        out.append({"index": i, "label": label, "prob": v})
    return out


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    for name, m in model.named_children():
        if isinstance(m, nn.Conv2d):
            return name, m
    return None


def conv1_filters(model: nn.Module) -> np.ndarray:
    """The first conv's filters as images: float [out_channels, kh, kw, 3] for a 3-channel input
    (RGB), [out_channels, kh, kw, 1] otherwise (grey; the mean over input channels when there are
    more than one per group but not exactly 3)."""
    fc = first_conv(model)
    if fc is None:
        raise ValueError("the network has no convolution")
    w = fc[1].weight.detach().float()  # [out, in/groups, kh, kw]
    if w.shape[1] == 3:
        return w.permute(0, 2, 3, 1).numpy()
    return w.mean(1, keepdim=True).permute(0, 2, 3, 1).numpy()


# =========================================================================================
# receptive fields, checked with a gradient
# =========================================================================================
class _ZeroPadAvg(nn.Module):
    def __init__(self, pool: nn.Module, pads):
        super().__init__()
        self.pool, self.pads = pool, pads

    def forward(self, x):
        return self.pool(F.pad(x, self.pads))


def _linearised(model: nn.Module, upto: str | None = None) -> nn.Sequential:
    """A copy of ``model`` whose every path from a pixel to a unit carries a positive weight:
    max-pools become average pools of the same window (a max can pick any pixel of its window,
    so its *possible* influence is the whole window), activations/LRN/BatchNorm/dropout become
    identities (pointwise in space), weights become 1 and biases 0.  The gradient of a unit is
    then > 0 exactly on the pixels that can influence it.  Only layers up to ``upto`` are kept."""
    kept = OrderedDict()
    for name, mod in model.named_children():
        kept[name] = mod
        if name == upto:
            break
    m = copy.deepcopy(nn.Sequential(kept)).float().eval()
    for name, mod in list(m.named_children()):
        new = mod
        if isinstance(mod, MaxPool2dSame):
            new = _ZeroPadAvg(nn.AvgPool2d(mod.kernel_size, mod.stride, 0, ceil_mode=mod.ceil_mode), mod.pads)
        elif isinstance(mod, AvgPool2dSame):
            new = _ZeroPadAvg(nn.AvgPool2d(mod.kernel_size, mod.stride, 0, ceil_mode=mod.ceil_mode), mod.pads)
        elif isinstance(mod, nn.MaxPool2d):
            new = nn.AvgPool2d(mod.kernel_size, mod.stride, mod.padding, ceil_mode=mod.ceil_mode)
        elif isinstance(mod, nn.AdaptiveMaxPool2d):
            new = nn.AdaptiveAvgPool2d(mod.output_size)
        elif isinstance(mod, (nn.Conv2d, Conv2dSame, nn.Linear)):
            with torch.no_grad():
                mod.weight.fill_(1.0)
                if mod.bias is not None:
                    mod.bias.zero_()
        elif not isinstance(mod, (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)):
            new = nn.Identity()  # activations, LRN, BatchNorm, dropout
        setattr(m, name, new)
    return m


def influence_masks(model_or_spec: nn.Module | NetSpec | dict | str, layer: str,
                    units: list[tuple[int, int, int]] | list[tuple[int]], *,
                    image: torch.Tensor | None = None) -> np.ndarray:
    """Boolean [len(units), H, W]: for each unit (channel, row, col) of ``layer`` — (index, …)
    for a flat layer, whose extra numbers are ignored — the input pixels where its gradient
    is not zero.

    With a spec (``image`` None) the network is linearised first (see ``_linearised``), which
    gives every pixel that *can* influence the unit: the set the receptive-field arithmetic
    describes.  With a model and an ``image`` it is the real gradient on that image (a subset:
    max-pools and ReLUs block some paths).  All units go through one batched forward and
    backward pass (the samples of a batch do not mix in eval mode)."""
    if isinstance(model_or_spec, nn.Module):
        model, shape = model_or_spec, None
    else:
        spec = as_spec(model_or_spec)
        names = layer_names(spec)
        if layer in names:  # build only the layers up to ``layer`` (a prefix of a valid net is valid)
            spec = NetSpec(spec.name, spec.input, spec.layers[:names.index(layer) + 1]).validate()
        model, shape = build_model(spec), spec.input.shape
    names = [n for n, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"no layer named {layer!r}; layers: {', '.join(names)}")
    n = len(units)
    if image is None:
        if shape is None:
            raise ValueError("pass a NetSpec (or an image) so that the input shape is known")
        net = _linearised(model, layer)
        # all-ones weights and input: every path carries a positive count (exact in float32
        # far beyond AlexNet's depth), so a zero gradient means "no path"
        x = torch.ones((n, *shape), dtype=torch.float32, requires_grad=True)
    else:  # the real network on this image (no copy: autograd.grad leaves .grad untouched)
        net = model
        x = image.detach().float().expand(n, *image.shape[1:]).clone().requires_grad_(True)
    was_training = net.training
    net.eval()
    try:
        with torch.enable_grad():
            out = x
            for name, mod in net.named_children():
                out = mod(out)
                if name == layer:
                    break
            idx = torch.arange(n)
            u = torch.tensor([list(t) for t in units], dtype=torch.long)
            picked = out[idx, u[:, 0], u[:, 1], u[:, 2]] if out.dim() == 4 else out[idx, u[:, 0]]
            (grad,) = torch.autograd.grad(picked.sum(), x)
    finally:
        net.train(was_training)
    return (grad != 0).any(dim=1).numpy()


def influence_mask(model_or_spec: nn.Module | NetSpec | dict | str, layer: str, channel: int, row: int = 0,
                   col: int = 0, *, image: torch.Tensor | None = None) -> np.ndarray:
    """Boolean [H, W]: ``influence_masks`` for one unit (row and col are ignored for a flat layer)."""
    return influence_masks(model_or_spec, layer, [(channel, row, col)], image=image)[0]


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (top, left, bottom, right; inclusive) of the True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def unit_box(spec: NetSpec, layer: str, row: int, col: int) -> tuple[int, int, int, int] | None:
    """The arithmetic's receptive-field box for unit (row, col) of ``layer``, or None for a
    unit whose every tap lands in padding (it sees no input pixel at all)."""
    from .arithmetic import receptive_box

    s = analyze(spec)
    for info in s.layers:
        if info.name == layer:
            box = receptive_box(info, row, col, spec.input.height, spec.input.width)
            return box if box[2] >= box[0] and box[3] >= box[1] else None
    raise ValueError(f"no layer named {layer!r}")
