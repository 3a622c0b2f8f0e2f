"""Datasets as uint8 tensors, and batched preprocessing/augmentation on the device.

Every dataset, whatever its source, becomes one ``Dataset``: ``x_train``/``x_test``
uint8 [N, C, H, W], ``y_train``/``y_test`` int64 [N], the class names, and the
per-channel mean/std (in 0–1 units) of the training images.  It is loaded once,
moved to the training device once (``Dataset.to``), and everything after that —
resize to the network's input, gray↔RGB, normalisation, flips, translations, colour
jitter — happens on whole batches on that device (``preprocess``, ``augment``).
This is the design of KellerJordan/cifar10-airbench: no per-sample PIL work and no
DataLoader in the training loop.

Sources (``load_dataset``):
  ``digits``         scikit-learn's bundled 8×8 handwritten digits (1,797 images, no
                     network needed): stratified 80/20 split with a fixed seed.
  ``mnist``, ``fashion-mnist``, ``cifar10``
                     torchvision's datasets, downloaded on first use into
                     ``$ALEXNET_DATA_DIR`` (default ``./data``).  Offline, a
                     ``DatasetError`` names the folder and the files to put there.
  a folder path      ``train/<class>/*`` and ``test/<class>/*`` (torchvision's
                     ImageFolder layout).  Unreadable files are skipped and counted.
  a ``.npz`` path    arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (images
                     N×H×W×C, N×H×W or N×C×H×W uint8) and optionally ``classes``.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import pickle
import shutil
import socket
import time
import urllib.parse
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .textfmt import human_bytes, shape_text

if TYPE_CHECKING:  # torch is imported by the functions that need it: the Train form draws without it
    import torch


class DatasetError(ValueError):
    """Any problem with a dataset: unknown name, missing files, bad folder, offline."""


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset the engine knows by name, with its published sizes (used for estimates
    while its files are not on this machine; once they are, the sizes are read from them)."""

    name: str
    description: str
    train_size: int
    test_size: int
    num_classes: int
    image_shape: tuple[int, int, int]  # C, H, W
    download_mb: int  # 0 = shipped with the package


DATASETS: dict[str, BuiltinDataset] = {d.name: d for d in (
    BuiltinDataset("digits", "scikit-learn's 1,797 real 8×8 handwritten digits, shipped with the package "
                   "(works offline; trains in seconds on a CPU)", 1437, 360, 10, (1, 8, 8), 0),
    BuiltinDataset("mnist", "70,000 28×28 handwritten digits (torchvision download)", 60000, 10000, 10,
                   (1, 28, 28), 12),
    BuiltinDataset("fashion-mnist", "70,000 28×28 clothing images, 10 classes (torchvision download)",
                   60000, 10000, 10, (1, 28, 28), 30),
    BuiltinDataset("cifar10", "60,000 32×32 colour photos, 10 classes (torchvision download)", 50000, 10000, 10,
                   (3, 32, 32), 163),
)}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MAX_FOLDER_IMAGES = 500_000  # an image folder larger than this is refused (memory)
MAX_CLASSES = 10_000  # a label above this is a stray value, not a class (each class costs a name and an output)
MAX_NPZ_BYTES = 1 << 30  # an .npz whose arrays declare more (decompressed) is refused before it is read

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_MNIST_CLASSES = [str(i) for i in range(10)]
_FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot"]
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The dataset cache folder: ``root``, else $ALEXNET_DATA_DIR, else ./data."""
    return Path(root if root is not None else os.environ.get("ALEXNET_DATA_DIR", "data")).expanduser()


@dataclass
class Dataset:
    """A whole image-classification dataset as uint8 tensors (on one device)."""

    name: str
    x_train: torch.Tensor  # uint8 [N, C, H, W]
    y_train: torch.Tensor  # int64 [N]
    x_test: torch.Tensor   # uint8 [M, C, H, W]
    y_test: torch.Tensor   # int64 [M]
    classes: list[str]
    mean: tuple[float, ...] = ()  # per channel, 0–1 units, of x_train
    std: tuple[float, ...] = ()
    skipped: int = 0  # unreadable files skipped while loading an image folder
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.mean:
            self.mean, self.std = channel_stats(self.x_train)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device) -> Dataset:
        """The same data on ``device`` (uint8 stays uint8: 4× less memory than float)."""
        return replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                       x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    def subset(self, n: int, seed: int = 0) -> Dataset:
        """The first ``n`` training images of a fixed random permutation (test set kept)."""
        import torch

        if n >= len(self.y_train):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.y_train), generator=g)[:n].to(self.x_train.device)
        return replace(self, x_train=self.x_train[idx], y_train=self.y_train[idx])

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train):,} train / {len(self.y_test):,} test images, "
                f"{shape_text(self.image_shape)}, {self.num_classes} classes")


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (0–1 units) of a uint8 [N, C, H, W] tensor, in chunks."""
    import torch

    n, c = x.shape[0], x.shape[1]
    if n == 0:
        return (0.5,) * c, (0.25,) * c
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, n, 4096):
        chunk = x[i:i + 4096].to(torch.float64).div_(255)
        s += chunk.sum(dim=(0, 2, 3)).cpu()
        s2 += chunk.pow(2).sum(dim=(0, 2, 3)).cpu()
    count = n * x.shape[2] * x.shape[3]
    mean = s / count
    std = (s2 / count - mean.pow(2)).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _layout(shape: tuple[int, ...]) -> tuple[tuple[int, int, int], bool] | None:
    """((C, H, W), stored channels-last?) of images stored as N×H×W, N×H×W×C or N×C×H×W with
    C = 1, 3 or 4 (alpha, dropped when loading: C is then 3); None for any other shape."""
    if len(shape) == 3:
        return (1, shape[1], shape[2]), False
    if len(shape) != 4:
        return None
    last = shape[3] in (1, 3, 4) and shape[1] not in (1, 3)
    c, h, w = (shape[3], shape[1], shape[2]) if last else shape[1:]
    return ((min(c, 3), h, w), last) if c in (1, 3, 4) and min(h, w) >= 1 else None


def _check_layout(shape: tuple[int, ...], name: str, what: str) -> tuple[tuple[int, int, int], bool]:
    found = _layout(shape)
    if found is None:
        raise DatasetError(f"{name}: {what} has shape {list(shape)}; images must be N×H×W (grey), N×H×W×C or "
                           "N×C×H×W with C = 1 (grey), 3 (RGB) or 4 (RGBA)")
    return found


def _images(a, name: str, what: str) -> torch.Tensor:
    """uint8 images in NHW, NHWC or NCHW → a contiguous uint8 [N, C, H, W] tensor (alpha dropped)."""
    import torch

    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise DatasetError(f"{name}: {what} must be uint8 images (0–255), got {a.dtype}")
    _, last = _check_layout(a.shape, name, what)
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2) if last else t
    return t[:, :3].contiguous()  # drops alpha


def _label_values(a, name: str, what: str) -> np.ndarray:
    """Labels as int64 class indices 0 … MAX_CLASSES − 1; text, fractional, negative or huge
    labels are refused with what to do instead."""
    a = np.asarray(a).reshape(-1)
    if a.dtype.kind in "USO":
        raise DatasetError(f"{name}: {what} holds text ({a.dtype}); labels must be class indices 0, 1, 2, … — "
                           "put the class names in a 'classes' array instead")
    if a.dtype.kind not in "biuf":
        raise DatasetError(f"{name}: {what} must hold whole-number class indices, got {a.dtype}")
    if a.dtype.kind == "f" and a.size and not np.all(np.isfinite(a) & (a == np.round(a))):
        bad = a[~(np.isfinite(a) & (a == np.round(a)))][0]
        raise DatasetError(f"{name}: {what} has a fractional label ({bad:g}); labels must be whole class "
                           "indices 0, 1, 2, …")
    if a.size and a.min() < 0:
        raise DatasetError(f"{name}: labels must be ≥ 0, {what} has {a.min():g}")
    if a.size and a.max() >= MAX_CLASSES:
        raise DatasetError(f"{name}: {what} has the label {int(a.max()):,}, but at most {MAX_CLASSES:,} classes are "
                           f"supported; labels must be class indices 0 … (number of classes − 1)")
    return a.astype(np.int64)


def _check_classes_shape(shape: tuple[int, ...], name: str) -> None:
    if len(shape) != 1:
        raise DatasetError(f"{name}: classes must be a 1-D list of class names, got shape {list(shape)}")
    if shape[0] > MAX_CLASSES:
        raise DatasetError(f"{name}: {shape[0]:,} class names; at most {MAX_CLASSES:,} classes are supported")


def _class_names(classes, name: str) -> list[str] | None:
    """The optional class names as a list of strings (a 1-D sequence, at most MAX_CLASSES)."""
    if classes is None:
        return None
    arr = np.asarray(classes, dtype=object)
    _check_classes_shape(arr.shape, name)
    return [str(c) for c in arr.tolist()]


def _tensors(name, xtr, ytr, xte, yte, classes, **kw) -> Dataset:
    """numpy/torch arrays in NHW, NHWC or NCHW → a checked Dataset."""
    import torch

    xtr, xte = _images(xtr, name, "x_train"), _images(xte, name, "x_test")
    ytr, yte = (torch.from_numpy(_label_values(y, name, what)) for y, what in ((ytr, "y_train"), (yte, "y_test")))
    for x, y, what in ((xtr, ytr, "y_train"), (xte, yte, "y_test")):
        if len(y) != len(x):
            raise DatasetError(f"{name}: {what} has {len(y)} labels for {len(x)} images")
    if len(xtr) == 0 or len(xte) == 0:
        raise DatasetError(f"{name}: the training and the test set must each have at least one image")
    if xtr.shape[1:] != xte.shape[1:]:
        raise DatasetError(f"{name}: train images are {list(xtr.shape[1:])} but test images are {list(xte.shape[1:])}")
    n_cls = int(max(ytr.max(), yte.max())) + 1
    classes = _class_names(classes, name)
    if classes is None:
        classes = [str(i) for i in range(n_cls)]
    if len(classes) < n_cls:
        raise DatasetError(f"{name}: {len(classes)} class names but labels go up to {n_cls - 1}")
    return Dataset(name, xtr, ytr, xte, yte, classes, **kw)


# ---- the embedded default -------------------------------------------------------------
def load_digits() -> Dataset:
    """scikit-learn's 1,797 8×8 digits (pixel values 0–16 → 0–255), stratified 80/20 split.
    The split is cached (``digits_cache_path``), so only the first load imports scikit-learn
    (1–2 s of a run's start-up)."""
    cache = digits_cache_path()
    try:
        with np.load(cache, allow_pickle=False) as d:
            xtr, ytr, xte, yte = (d[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        if xtr.shape != (1437, 8, 8) or xte.shape != (360, 8, 8) or xtr.dtype != np.uint8:
            raise ValueError("not the digits split")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        xtr, ytr, xte, yte = _split_digits()
        _write_cache(cache, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return _tensors("digits", xtr, ytr, xte, yte, [str(i) for i in range(10)])


def digits_cache_path() -> Path:
    """Where the digits split is cached: $XDG_CACHE_HOME/alexnet (default ~/.cache/alexnet)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "alexnet" / "digits-split-v1.npz"


def _split_digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    d = _load()
    x = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # [1797, 8, 8]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)
    return xtr, ytr, xte, yte


def _write_cache(path: Path, **arrays) -> None:
    """Best effort: an unwritable cache folder only means the next load computes it again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass


# ---- torchvision datasets -------------------------------------------------------------
def _offline_message(name: str, folder: Path, files, url: str, err: BaseException | None) -> str:
    why = f" ({type(err).__name__}: {err})" if err is not None else ""
    return (f"{name} is not in {folder} and could not be downloaded{why}. "
            f"Download it on a machine with internet access ({url}) and put these files in {folder}: "
            f"{', '.join(files)} — or set ALEXNET_DATA_DIR to a folder that has them.")


def _load_mnist(kind: str, root: Path, download: bool) -> Dataset:
    from torchvision import datasets

    cls = datasets.MNIST if kind == "mnist" else datasets.FashionMNIST
    raw = root / cls.__name__ / "raw"
    # torchvision reads the extracted IDX files; people usually have the .gz ones.
    for f in _MNIST_FILES:
        if not (raw / f).exists() and (raw / (f + ".gz")).exists():
            try:
                with gzip.open(raw / (f + ".gz"), "rb") as src, open(raw / (f + ".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(raw / (f + ".part"), raw / f)
            except (OSError, EOFError) as e:
                raise DatasetError(f"{kind}: cannot decompress {raw / (f + '.gz')}: {e}") from None
    have = all((raw / f).exists() for f in _MNIST_FILES)
    err = None
    if not have and download:
        try:
            cls(str(root), train=True, download=True)
            have = True
        except Exception as e:  # URLError, RuntimeError from torchvision's mirrors loop, OSError
            err = e
    if not have:
        files = [f + ".gz" for f in _MNIST_FILES]
        url = cls.mirrors[0]
        if not download:
            raise DatasetError(f"{kind} is not in {raw} and download is disabled. Put these files there: "
                               f"{', '.join(files)} (from {url})")
        raise DatasetError(_offline_message(kind, raw, files, url, err))
    try:
        tr = cls(str(root), train=True, download=False)
        te = cls(str(root), train=False, download=False)
    except Exception as e:
        raise DatasetError(f"{kind}: the files in {raw} cannot be read as IDX files ({e}); "
                           "delete them to download again") from None
    classes = _MNIST_CLASSES if kind == "mnist" else _FASHION_CLASSES
    return _tensors(kind, tr.data, tr.targets, te.data, te.targets, classes)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")  # the format torchvision reads
    data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
    return data, list(labels)


def _load_cifar10(root: Path, download: bool) -> Dataset:
    from torchvision import datasets

    folder = root / datasets.CIFAR10.base_folder
    have = all((folder / f).exists() for f in _CIFAR_FILES)
    err = None
    if not have and download:
        try:
            datasets.CIFAR10(str(root), train=True, download=True)  # downloads, checks md5, extracts
            have = True
        except Exception as e:
            err = e
    if not have:
        url = datasets.CIFAR10.url
        if not download:
            raise DatasetError(f"cifar10 is not in {folder} and download is disabled. Put these files there: "
                               f"{', '.join(_CIFAR_FILES)} (extracted from {url})")
        raise DatasetError(_offline_message("cifar10", folder, list(_CIFAR_FILES), url, err))
    # Read the python batches directly rather than through torchvision.datasets.CIFAR10:
    # that class insists on the official md5 sums, which a re-packed or partial copy fails.
    try:
        parts = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
        xte, yte = _read_cifar_batch(folder / "test_batch")
        with open(folder / "batches.meta", "rb") as f:
            classes = pickle.load(f, encoding="latin1")["label_names"]
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as e:
        raise DatasetError(f"cifar10: the files in {folder} cannot be read as CIFAR-10 python batches "
                           f"({type(e).__name__}: {e}); delete them to download again") from None
    xtr = np.concatenate([p[0] for p in parts])
    ytr = sum((p[1] for p in parts), [])
    return _tensors("cifar10", xtr, ytr, xte, yte, classes)


# ---- files the user points at ------------------------------------------------------------
_NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _checked_npz(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The .npz's array headers, after checking (without reading the arrays) that the needed
    arrays are there, that the labels are numbers, and that all of it fits MAX_NPZ_BYTES
    once decompressed.  Raises DatasetError."""
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty (0 bytes); an .npz dataset holds x_train, y_train, x_test, y_test")
    try:
        heads = _npz_headers(path)
    except _NPZ_READ_ERRORS as e:
        raise DatasetError(f"{path}: cannot read as an .npz file ({e})") from None
    missing = [k for k in _NPZ_ARRAYS if k not in heads]
    if missing:
        raise DatasetError(f"{path}: missing array(s) {', '.join(missing)}; an .npz dataset needs "
                           "x_train, y_train, x_test, y_test (and optionally classes)")
    for k in ("y_train", "y_test"):
        _label_values(np.empty(0, heads[k][1]), str(path), k)  # text labels are refused before reading
    if "classes" in heads:
        _check_classes_shape(heads["classes"][0], str(path))
    for k in ("x_train", "x_test"):
        _check_layout(heads[k][0], str(path), k)
    size = sum(math.prod(shape) * dtype.itemsize for k, (shape, dtype) in heads.items()
               if k in _NPZ_ARRAYS or k == "classes")
    if size > MAX_NPZ_BYTES:
        raise DatasetError(f"{path}: its arrays take {human_bytes(size)} once decompressed "
                           f"({human_bytes(path.stat().st_size)} on disk), over the {human_bytes(MAX_NPZ_BYTES)} "
                           "limit for an .npz dataset; use fewer or smaller images")
    return heads


def _load_npz(path: Path) -> Dataset:
    _checked_npz(path)
    try:
        with np.load(path, allow_pickle=False) as d:
            arrays = {k: d[k] for k in _NPZ_ARRAYS}
            classes = d["classes"] if "classes" in d.files else None
    except _NPZ_READ_ERRORS as e:
        raise DatasetError(f"{path}: cannot read as an .npz file ({e})") from None
    return _tensors(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], classes)


def _list_split(root: Path, split: str) -> dict[str, list[Path]]:
    d = root / split
    if not d.is_dir():
        raise DatasetError(f"image folder {root}: there is no '{split}' folder; expected {root}/train/<class>/… "
                           f"and {root}/test/<class>/… (torchvision ImageFolder layout)")
    classes = sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"image folder {root}: {d} has no class folders; put each class's images in "
                           f"{d}/<class name>/")
    out = {}
    for c in classes:
        files = sorted(p for p in (d / c).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DatasetError(f"image folder {root}: class '{c}' has no images in {d / c} "
                               f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
        out[c] = files
    return out


def _load_image_folder(root: Path, size: tuple[int, int] | None = None) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    train, test = _list_split(root, "train"), _list_split(root, "test")
    classes = sorted(train)
    extra = sorted(set(test) - set(train))
    if extra:
        raise DatasetError(f"image folder {root}: test has class folder(s) {', '.join(extra)} "
                           "that train does not have")
    total = sum(map(len, train.values())) + sum(map(len, test.values()))
    if total > MAX_FOLDER_IMAGES:
        raise DatasetError(f"image folder {root}: {total:,} images is more than the {MAX_FOLDER_IMAGES:,} "
                           "this loader keeps in memory")
    skipped: list[str] = []
    loaded: dict[str, list[tuple[Image.Image, int]]] = {"train": [], "test": []}
    for split, table in (("train", train), ("test", test)):
        for c, files in table.items():
            for p in files:
                try:
                    with Image.open(p) as im:
                        im.load()
                        loaded[split].append((im.copy(), classes.index(c)))
                except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                    skipped.append(str(p))
    for split in ("train", "test"):
        if not loaded[split]:
            raise DatasetError(f"image folder {root}: none of the {split} images could be read "
                               f"({len(skipped)} unreadable files skipped)")
    everything = loaded["train"] + loaded["test"]
    gray = all(im.mode in ("1", "L", "I", "I;16", "F") for im, _ in everything)
    mode = "L" if gray else "RGB"
    if size is None:  # the most common size; others are resized to it
        size = Counter(im.size for im, _ in everything).most_common(1)[0][0]  # (w, h)
    else:
        size = (size[1], size[0])

    def stack(items):
        arrs = []
        for im, _ in items:
            im = im.convert(mode)
            if im.size != size:
                im = im.resize(size, Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
            arrs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        return np.stack(arrs), [y for _, y in items]

    xtr, ytr = stack(loaded["train"])
    xte, yte = stack(loaded["test"])
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}")
    empty_test = [c for c in classes if c not in test]
    if empty_test:
        notes.append(f"test has no folder for class(es) {', '.join(empty_test)}")
    return _tensors(root.name or str(root), xtr, ytr, xte, yte, classes, skipped=len(skipped), notes=notes)


_ALIASES = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}


def builtin_name(name_or_path: str | os.PathLike) -> str | None:
    """The canonical built-in dataset name ('CIFAR_10' → 'cifar10'), or None for a path."""
    low = str(name_or_path).strip().lower().replace("_", "-")
    low = _ALIASES.get(low, low)
    return low if low in DATASETS else None


def load_dataset(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None,
                 download: bool = True) -> Dataset:
    """A dataset by name (``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``) or by path
    (an image folder with train/ and test/, or an .npz file).  Raises DatasetError."""
    key = str(name_or_path).strip()
    low = builtin_name(key)
    if low == "digits":
        return load_digits()
    if low in ("mnist", "fashion-mnist"):
        return _load_mnist(low, data_dir(root), download)
    if low == "cifar10":
        return _load_cifar10(data_dir(root), download)
    path = Path(key).expanduser()
    if path.is_file() and path.suffix.lower() == ".npz":
        return _load_npz(path)
    if path.is_dir():
        return _load_image_folder(path)
    if path.exists():
        raise DatasetError(f"{key}: a dataset path must be a folder (train/<class>/, test/<class>/) or an .npz file")
    raise DatasetError(f"unknown dataset {key!r}: use one of {', '.join(DATASETS)}, a folder with "
                       "train/<class>/ and test/<class>/ images, or an .npz file")


# ---- what a dataset is, before loading it -------------------------------------------------
@dataclass
class DatasetInfo:
    """What the Train page and the estimate need to know about a dataset without loading
    its images: sizes (read from the files when they are on this machine), where its files
    go, and why it cannot be used, if it cannot."""

    name: str  # the built-in name, or the path as given
    kind: str  # 'builtin', 'npz' or 'folder'
    train_size: int
    test_size: int
    num_classes: int
    image_shape: tuple[int, ...] | None
    on_disk: bool  # False: a built-in that would be downloaded first
    sizes_from: str  # 'files' (read from the data) or 'published' (the dataset's published sizes)
    folder: Path | None = None  # where a built-in's files go
    files: tuple[str, ...] = ()  # the files that must be in ``folder``
    url: str = ""  # where they are downloaded from
    problem: str | None = None  # why it cannot be used as it is (missing path, bad file, …)

    @property
    def short_name(self) -> str:
        return self.name if self.kind == "builtin" else Path(self.name).stem or self.name

    def describe(self) -> str:
        shape = shape_text(self.image_shape, empty="?")
        how = ("read from the files" if self.sizes_from == "files" else "published sizes" if self.on_disk
               else "published sizes; not on this machine yet")
        return (f"{self.train_size:,} train / {self.test_size:,} test images, {shape}, "
                f"{self.num_classes} classes ({how})")


def dataset_info(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> DatasetInfo:
    """Facts about a dataset by name or path, cheaply (headers and file listings only)."""
    key = str(name_or_path).strip()
    name = builtin_name(key)
    if name is not None:
        return _builtin_info(name, data_dir(root))
    path = Path(key).expanduser()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _path_info(str(path), stamp)


def _missing(name: str, kind: str, problem: str) -> DatasetInfo:
    return DatasetInfo(name, kind, 0, 0, 0, None, False, "files", problem=problem)


def _builtin_info(name: str, root: Path) -> DatasetInfo:
    d = DATASETS[name]
    info = DatasetInfo(name, "builtin", d.train_size, d.test_size, d.num_classes, d.image_shape, True,
                       "published")
    if name == "digits":  # shipped with scikit-learn: always here, its split is fixed
        return info
    from torchvision import datasets

    if name == "cifar10":
        info.folder, info.files, info.url = root / datasets.CIFAR10.base_folder, _CIFAR_FILES, datasets.CIFAR10.url
        counts = _cifar_counts(str(info.folder)) if all((info.folder / f).exists() for f in _CIFAR_FILES) else None
    else:
        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        info.folder, info.url = root / cls.__name__ / "raw", cls.mirrors[0]
        info.files = tuple(f + ".gz" for f in _MNIST_FILES)
        counts = _idx_counts(info.folder)
    if counts is None:
        info.on_disk = False
    else:
        info.train_size, info.test_size, info.sizes_from = counts[0], counts[1], "files"
    return info


def _idx_count(path: Path) -> int | None:
    """The item count in an IDX file's header (plain or .gz), or None when absent/unreadable."""
    for p, opener in ((path, open), (path.with_name(path.name + ".gz"), gzip.open)):
        try:
            with opener(p, "rb") as f:
                head = f.read(8)
        except (OSError, EOFError):
            continue
        if len(head) == 8:
            return int.from_bytes(head[4:8], "big")
    return None


def _idx_counts(raw: Path) -> tuple[int, int] | None:
    n = [_idx_count(raw / f) for f in (_MNIST_FILES[0], _MNIST_FILES[2])]
    return None if None in n else (n[0], n[1])


@functools.lru_cache(maxsize=8)
def _cifar_counts(folder: str) -> tuple[int, int] | None:
    try:
        train = sum(len(_read_cifar_batch(Path(folder) / f"data_batch_{i}")[1]) for i in range(1, 6))
        return train, len(_read_cifar_batch(Path(folder) / "test_batch")[1])
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError):
        return None


@functools.lru_cache(maxsize=32)
def _path_info(path: str, stamp: int | None) -> DatasetInfo:
    """Facts about an .npz file or an image folder (``stamp``: its mtime, for the cache)."""
    p = Path(path)
    if stamp is None:
        return _missing(path, "npz" if p.suffix.lower() == ".npz" else "folder",
                        f"{path} does not exist on this machine")
    if p.is_file() and p.suffix.lower() == ".npz":
        return _npz_info(p)
    if p.is_dir():
        return _folder_info(p)
    return _missing(path, "npz", f"{path}: a dataset path must be a folder (train/<class>/, test/<class>/) "
                                 "or an .npz file")


def _npz_info(p: Path) -> DatasetInfo:
    """Shapes from the .npz headers; labels (small) are read to count the classes."""
    try:
        heads = _checked_npz(p)
        with np.load(p, allow_pickle=False) as d:
            labels = [_label_values(d[k], str(p), k) for k in ("y_train", "y_test")]
        top = max(int(np.max(y, initial=0)) for y in labels) + 1
        n_cls = max(top, heads["classes"][0][0]) if "classes" in heads else top
    except DatasetError as e:
        return _missing(str(p), "npz", str(e))
    except _NPZ_READ_ERRORS as e:
        return _missing(str(p), "npz", f"{p}: cannot read as an .npz file ({e})")
    x = heads["x_train"][0]
    return DatasetInfo(str(p), "npz", x[0], heads["x_test"][0][0], n_cls, _layout(x)[0], True, "files")


def _npz_headers(p: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of each array in an .npz, from the member headers, without reading the arrays."""
    out = {}
    with zipfile.ZipFile(p) as z:
        for member in z.namelist():
            if not member.endswith(".npy"):
                continue
            with z.open(member) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
            out[member[:-4]] = (tuple(int(n) for n in shape), dtype)
    return out


def _folder_info(p: Path) -> DatasetInfo:
    try:
        train, test = _list_split(p, "train"), _list_split(p, "test")
    except DatasetError as e:
        return _missing(str(p), "folder", str(e))
    return DatasetInfo(str(p), "folder", sum(map(len, train.values())), sum(map(len, test.values())),
                       len(train), None, True, "files")


_REACHABLE: dict[str, tuple[float, bool]] = {}


def can_download(info: DatasetInfo, timeout: float = 1.5) -> bool:
    """Whether this machine can reach the host a built-in dataset is downloaded from (a TCP
    connection to it, remembered for a minute; never with ALEXNET_OFFLINE=1).  Asked only for a dataset that is not on
    disk, right before the user would download it anyway."""
    host = urllib.parse.urlsplit(info.url).hostname if info.url else None
    if not host or os.environ.get("ALEXNET_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    seen = _REACHABLE.get(host)
    if seen and time.monotonic() - seen[0] < 60:
        return seen[1]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _REACHABLE[host] = (time.monotonic(), ok)
    return ok


def offline_message(info: DatasetInfo) -> str:
    """What to do when a built-in dataset is not here and cannot be downloaded from here."""
    return _offline_message(info.name, info.folder, list(info.files), info.url, None)


# ---- batched preprocessing on the device -------------------------------------------------
_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL's convert("L")


def _input_shape(spec_input) -> tuple[int, int, int]:
    """(C, H, W) from an InputSpec, a NetSpec, or a tuple."""
    if hasattr(spec_input, "input"):
        spec_input = spec_input.input
    if hasattr(spec_input, "shape"):
        return tuple(spec_input.shape)  # type: ignore[return-value]
    c, h, w = spec_input
    return int(c), int(h), int(w)


def adapt_stats(mean, std, in_channels: int, out_channels: int) -> tuple[list[float], list[float]]:
    """The dataset's per-channel mean/std after the gray↔RGB conversion ``preprocess`` does."""
    mean, std = list(mean), list(std)
    if in_channels == out_channels:
        return mean, std
    if in_channels == 1:
        return mean * out_channels, std * out_channels
    if in_channels == 3 and out_channels == 1:
        return [sum(w * m for w, m in zip(_GRAY, mean))], [sum(w * s for w, s in zip(_GRAY, std))]
    raise DatasetError(f"cannot convert {in_channels}-channel images to the network's {out_channels} channels")


def preprocess(x: torch.Tensor, spec_input, mean, std, device=None, *,
               channels_last: bool = False) -> torch.Tensor:
    """uint8 images [N, C, H, W] (or one [C, H, W]) → float32 network input on ``device``.

    Converts gray↔RGB to the network's channel count, resizes to its H×W (bilinear,
    antialiased when shrinking), and normalises with the dataset's ``mean``/``std``
    (given for the dataset's own channels, in 0–1 units).  Works the same for a whole
    batch during training and for one image on the Activations page.
    """
    import torch
    import torch.nn.functional as F

    c_out, h, w = _input_shape(spec_input)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise DatasetError(f"images must be [N, C, H, W], got shape {list(x.shape)}")
    if device is not None:
        x = x.to(device, non_blocking=True)
    c_in = x.shape[1]
    if len(mean) != len(std):
        raise DatasetError(f"mean has {len(mean)} values but std has {len(std)}")
    if len(mean) != c_in:  # e.g. a checkpoint's 3-channel stats for a gray image: convert the stats
        mean, std = adapt_stats(mean, std, len(mean), c_in)
    x = x.float().div_(255)  # [N, C, H, W] in 0–1
    if c_in == 4:
        x, c_in, mean, std = x[:, :3], 3, mean[:3], std[:3]
    if c_in != c_out:
        if c_in == 1:
            x = x.expand(-1, c_out, -1, -1)
        elif c_in == 3 and c_out == 1:
            x = (x * x.new_tensor(_GRAY).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            raise DatasetError(f"cannot convert {c_in}-channel images to the network's {c_out} channels")
    m, s = adapt_stats(mean, std, c_in, c_out)
    if x.shape[-2:] != (h, w):
        shrink = x.shape[-2] > h or x.shape[-1] > w
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)
    x = (x - x.new_tensor(m).view(1, -1, 1, 1)) / x.new_tensor(s).view(1, -1, 1, 1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.contiguous() if not channels_last else x


def augment(x: torch.Tensor, *, flip: bool = False, translate: int = 0, color_jitter: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Random augmentation of a normalised float batch [N, C, H, W], per image, on its device.

    flip:          mirror each image left-right with probability ½.
    translate:     shift each image by up to ±``translate`` pixels in x and y (zero
                   fill = the dataset mean after normalisation): the "pad and random
                   crop" of the CIFAR recipes, done as one gather.
    color_jitter:  scale brightness and contrast of each image by a factor in
                   [1 − j, 1 + j] (in normalised units).
    """
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, device=dev, generator=generator)

    if flip:
        mask = rand(n) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
    if translate > 0:
        t = int(translate)
        xp = F.pad(x, (t, t, t, t))
        dy = (rand(n) * (2 * t + 1)).long().clamp_max(2 * t)
        dx = (rand(n) * (2 * t + 1)).long().clamp_max(2 * t)
        rows = (torch.arange(h, device=dev).view(1, h) + dy.view(n, 1))  # [N, H]
        cols = (torch.arange(w, device=dev).view(1, w) + dx.view(n, 1))  # [N, W]
        c = x.shape[1]
        # gather rows then columns: [N, C, H+2t, W+2t] → [N, C, H, W+2t] → [N, C, H, W]
        xp = xp.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * t))
        x = xp.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    if color_jitter > 0:
        j = float(color_jitter)
        bright = (rand(n, 1, 1, 1) * 2 - 1) * j
        contrast = 1 + (rand(n, 1, 1, 1) * 2 - 1) * j
        mu = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mu) * contrast + mu + bright
    return x
