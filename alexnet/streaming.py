"""Image folders larger than memory: decoded from disk while training.

Small datasets keep the engine's fast path (``data.py``: every image as uint8 on the
training device, batches gathered by index).  An image folder whose images, as uint8 at
the network's input size, would exceed the memory budget streams instead:

* the folder is indexed once (a tqdm progress bar; each file's header is read, unreadable
  files are skipped and counted) and the index is cached under ``$ALEXNET_DATA_DIR``;
* ``StreamedImages`` stands where ``Dataset.x_train`` / ``x_test`` would be: indexing it
  with a batch of indices gives that batch as uint8 [B, C, H, W] at the input size.  A
  ``DataLoader`` with workers decodes (``torchvision.io``, PIL for the formats it lacks)
  and resizes ahead of the engine, in pinned memory when training on CUDA; the training
  order is planned each epoch (``StreamingDataset.plan_epoch``) with the engine's own
  permutation, each rank's share under torchrun (as a ``DistributedSampler`` would);
* the batches then go through the same on-device preprocessing and augmentation.

``choose(…)`` says which path a dataset will take and why (the Train page shows it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .data import Dataset, DatasetError, _list_split, data_dir, dataset_info, load_dataset
from .textfmt import human_bytes

BUDGET_FRACTION = 0.5  # of the free memory: the default budget for a dataset held in memory
STATS_SAMPLE = 2000  # training images whose pixels give the normalisation mean/std
_GRAY_MODES = ("1", "L", "I", "I;16", "F", "LA")


# ---- which path ------------------------------------------------------------------------------
def free_memory_bytes(device=None) -> int:
    """Free memory where the dataset would live: RAM (MemAvailable), and on CUDA the
    smaller of that and the GPU's free memory."""
    free = _mem_available()
    if device is not None and getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available():
        free = min(free, torch.cuda.mem_get_info(device)[0])
    return free


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_budget(budget_mb: float | None = None, device=None, processes: int | None = None) -> int:
    """Bytes one process may hold a dataset in: ``budget_mb``, else $ALEXNET_DATA_BUDGET_MB,
    else half the free memory shared by the training processes of this machine (torchrun's
    LOCAL_WORLD_SIZE)."""
    if budget_mb is None and os.environ.get("ALEXNET_DATA_BUDGET_MB"):
        try:
            budget_mb = float(os.environ["ALEXNET_DATA_BUDGET_MB"])
        except ValueError:
            raise DatasetError(f"ALEXNET_DATA_BUDGET_MB={os.environ['ALEXNET_DATA_BUDGET_MB']!r} is not a "
                               "number of MiB") from None
    if budget_mb is not None:
        return int(budget_mb * (1 << 20))
    if processes is None:
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return int(free_memory_bytes(device) * BUDGET_FRACTION) // max(1, processes)


@dataclass(frozen=True)
class DataPath:
    """How the engine will hold a dataset: 'memory' or 'stream', and why."""

    mode: str
    bytes_needed: int | None
    budget: int | None
    why: str


def choose(name_or_path: str, input_shape, budget_mb: float | None = None, device=None,
           processes: int | None = None) -> DataPath:
    """Which path ``name_or_path`` takes for a network with ``input_shape`` (C, H, W)."""
    info = dataset_info(name_or_path)
    if info.kind != "folder" or info.problem:
        return DataPath("memory", None, None, "built-in and .npz datasets are loaded into memory")
    c, h, w = (int(v) for v in input_shape)
    need = (info.train_size + info.test_size) * min(c, 3) * h * w
    budget = memory_budget(budget_mb, device, processes)
    size = f"{info.train_size + info.test_size:,} images at {c}×{h}×{w} are {human_bytes(need)} as uint8"
    if need > budget:
        return DataPath("stream", need, budget, f"{size}, over the memory budget of {human_bytes(budget)}: "
                        "streamed from disk by DataLoader workers")
    return DataPath("memory", need, budget, f"{size}, within the memory budget of {human_bytes(budget)}: "
                    "loaded into memory (fastest)")


def load_for_training(name_or_path: str, input_shape, device=None, progress: bool = True) -> Dataset:
    """The dataset the engine trains on: in memory (``data.load_dataset``), or an image
    folder over the memory budget streamed at ``input_shape`` (note says which and why)."""
    if input_shape is None:
        return load_dataset(name_or_path)
    path = choose(name_or_path, input_shape, device=device)
    if path.mode == "stream":
        ds = open_streaming(name_or_path, input_shape, device, progress and _is_rank0())
    else:
        ds = load_dataset(name_or_path)
    if path.bytes_needed is not None:
        ds.notes.append(path.why)
    return ds


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


# ---- the index -------------------------------------------------------------------------------
@dataclass
class FolderIndex:
    root: str
    classes: list[str]
    train: list[tuple[str, int]]  # (path relative to root, class)
    test: list[tuple[str, int]]
    gray: bool
    skipped: list[str]


def _index_path(root: Path) -> Path:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return data_dir() / "folder-index" / f"{key}.json"


def _signature(root: Path, files: list[Path]) -> str:
    h = hashlib.sha1()
    for p in files:
        try:
            st = p.stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(str(p).encode())
    return h.hexdigest()


def index_folder(root: str | os.PathLike, progress: bool = True) -> FolderIndex:
    """The folder's images and labels, each file's header checked once (cached while no
    file changes); unreadable files are skipped and counted."""
    root = Path(root).expanduser()
    train, test = _list_split(root, "train"), _list_split(root, "test")
    classes = sorted(train)
    extra = sorted(set(test) - set(train))
    if extra:  # as the in-memory loader says
        raise DatasetError(f"image folder {root}: test has class folder(s) {', '.join(extra)} "
                           "that train does not have")
    listed = {s: [(p, classes.index(c)) for c, ps in t.items() for p in ps]
              for s, t in (("train", train), ("test", test))}
    files = [p for s in ("train", "test") for p, _ in listed[s]]
    sig = _signature(root, files)
    cache = _index_path(root)
    try:
        d = json.loads(cache.read_text())
        if d.get("signature") == sig:
            return FolderIndex(str(root), d["classes"], [tuple(x) for x in d["train"]],
                               [tuple(x) for x in d["test"]], d["gray"], d["skipped"])
    except (OSError, ValueError, KeyError):
        pass
    idx = _check_headers(root, classes, listed, progress)
    _write_cache(cache, sig, idx)
    return idx


def _check_headers(root: Path, classes: list[str], listed: dict, progress: bool) -> FolderIndex:
    from PIL import Image
    from tqdm import tqdm

    kept: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    skipped: list[str] = []
    gray = True
    total = sum(len(v) for v in listed.values())
    with tqdm(total=total, desc=f"indexing {root.name}", unit="file", file=sys.stderr, disable=not progress) as bar:
        for split, items in listed.items():
            for p, y in items:
                bar.update(1)
                try:
                    with Image.open(p) as im:
                        gray = gray and im.mode in _GRAY_MODES
                        if im.width < 1 or im.height < 1:
                            raise ValueError("empty image")
                except Exception:  # noqa: BLE001 - any unreadable file is skipped and counted
                    skipped.append(str(p))
                    continue
                kept[split].append((str(p.relative_to(root)), y))
    for split in ("train", "test"):
        if not kept[split]:
            raise DatasetError(f"image folder {root}: none of the {split} images could be read "
                               f"({len(skipped)} unreadable files skipped)")
    return FolderIndex(str(root), classes, kept["train"], kept["test"], gray, skipped)


def _write_cache(cache: Path, sig: str, idx: FolderIndex) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"signature": sig, "classes": idx.classes, "train": idx.train, "test": idx.test,
                                   "gray": idx.gray, "skipped": idx.skipped}))
        tmp.replace(cache)
    except OSError:  # a read-only data folder: index again next time
        pass


# ---- decoding --------------------------------------------------------------------------------
class _Decode(torch.utils.data.Dataset):
    """One file → uint8 [C, H, W] at (H, W): torchvision.io, or PIL for other formats.
    A file that cannot be decoded (truncated after indexing) gives a black image."""

    def __init__(self, root: str, items: list[tuple[str, int]], channels: int, size: tuple[int, int]):
        self.root, self.items, self.channels, self.size = root, items, channels, size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        path = os.path.join(self.root, self.items[i][0])
        try:
            img = _decode(path, self.channels)
        except Exception:  # noqa: BLE001 - counted at indexing; a file broken since is shown black
            print(f"warning: cannot decode {path}; using a black image", file=sys.stderr)
            return torch.zeros(self.channels, *self.size, dtype=torch.uint8)
        if tuple(img.shape[-2:]) != self.size:
            from torchvision.transforms.v2 import functional as TF

            img = TF.resize(img, list(self.size), antialias=True)
        return img


def _decode(path: str, channels: int) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image, read_file

    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    try:
        return decode_image(read_file(path), mode=mode)
    except RuntimeError:  # a format torchvision.io does not decode (bmp, tiff, …)
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())


def _stack(batch: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(batch)


def loader_workers(processes: int | None = None) -> int:
    """DataLoader workers per process: $ALEXNET_LOADER_WORKERS, else the cores shared out (≤ 8)."""
    env = os.environ.get("ALEXNET_LOADER_WORKERS")
    if env and env.isdigit():
        return int(env)
    if processes is None:
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, min(8, (os.cpu_count() or 1) // max(1, processes)))


class StreamedImages:
    """Images on disk that index like a uint8 tensor [N, C, H, W]: ``x[idx]`` (a tensor
    of indices or a slice) decodes that batch.  Batches announced with ``plan`` are
    decoded ahead by DataLoader workers and served in order."""

    def __init__(self, decode: _Decode, rows: torch.Tensor | None = None, device=None, workers: int = 1):
        self.decode, self.workers = decode, workers
        self.rows = rows if rows is not None else torch.arange(len(decode))
        self.target = torch.device(device) if device is not None else torch.device("cpu")
        self._planned: list[torch.Tensor] = []
        self._it = None

    # tensor-like facts the engine reads
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), self.decode.channels, *self.decode.size))

    @property
    def device(self) -> torch.device:
        return self.target

    def __len__(self) -> int:
        return len(self.rows)

    def to(self, device) -> StreamedImages:
        return StreamedImages(self.decode, self.rows, device, self.workers)

    def part(self, rows) -> StreamedImages:
        """A lazy view of some of the images (positions in this view)."""
        if isinstance(rows, slice):
            return StreamedImages(self.decode, self.rows[rows], self.target, self.workers)
        return StreamedImages(self.decode, self.rows[torch.as_tensor(rows).cpu()], self.target, self.workers)

    # batches
    def plan(self, batches: list[torch.Tensor]) -> None:
        """The batches (positions) that will be asked for next, in order: decode them ahead."""
        self._planned = [b.cpu() for b in batches]
        self._it = iter(self._loader(self._planned)) if self._planned else None

    def _loader(self, batches: list[torch.Tensor]):
        pin = self.target.type == "cuda"
        kw = {"prefetch_factor": 4, "persistent_workers": False} if self.workers > 0 else {}
        # its own generator: a DataLoader seeds its workers from torch's global RNG otherwise,
        # which would change the network's initial weights and dropout masks
        return torch.utils.data.DataLoader(self.decode, batch_sampler=[self.rows[b].tolist() for b in batches],
                                           num_workers=self.workers, collate_fn=_stack, pin_memory=pin,
                                           generator=torch.Generator().manual_seed(0), **kw)

    def __getitem__(self, key) -> torch.Tensor:
        pos = torch.arange(len(self.rows))[key] if isinstance(key, slice) else torch.as_tensor(key).cpu()
        if self._planned and torch.equal(self._planned[0], pos):
            self._planned.pop(0)
            return next(self._it)
        if isinstance(key, slice) and key.step in (None, 1) and len(pos):
            return self._sequential(pos)
        self._planned, self._it = [], None  # off plan: decode this batch here
        return _stack([self.decode[int(i)] for i in self.rows[pos]])

    def _sequential(self, pos: torch.Tensor) -> torch.Tensor:
        """A slice off plan (evaluation walks the images in slices): plan the slices of the
        same length to the end, and serve this one."""
        n, start = len(pos), int(pos[0])
        self.plan([torch.arange(i, min(i + n, len(self.rows))) for i in range(start, len(self.rows), n)])
        self._planned.pop(0)
        return next(self._it)


@dataclass
class StreamingDataset(Dataset):
    """A Dataset whose images stay on disk (``x_train``/``x_test`` are StreamedImages)."""

    def __post_init__(self):  # the stats come from a sample, given by ``open_streaming``
        pass

    def to(self, device) -> StreamingDataset:
        return replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                       x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    def subset(self, n: int, seed: int = 0) -> StreamingDataset:
        if n >= len(self.y_train):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.y_train), generator=g)[:n]
        return replace(self, x_train=self.x_train.part(idx), y_train=self.y_train[idx.to(self.y_train.device)])

    def plan_epoch(self, perm: torch.Tensor, batch: int, steps: int, dist=None) -> None:
        """The epoch's batches in the engine's order (this rank's share of each) are decoded ahead."""
        shard = dist.shard if dist is not None else (lambda b: b)
        self.x_train.plan([shard(perm[i * batch:(i + 1) * batch]) for i in range(steps)])


def open_streaming(root: str | os.PathLike, input_shape, device=None, progress: bool = True,
                   processes: int | None = None) -> StreamingDataset:
    """An image folder as a StreamingDataset at the network's input size (H, W)."""
    idx = index_folder(root, progress)
    channels = 1 if idx.gray else 3
    size = (int(input_shape[1]), int(input_shape[2]))
    workers = loader_workers(processes)
    x_train = StreamedImages(_Decode(idx.root, idx.train, channels, size), workers=workers)
    x_test = StreamedImages(_Decode(idx.root, idx.test, channels, size), workers=workers)
    mean, std = _sample_stats(x_train)
    notes = [f"streaming {len(idx.train) + len(idx.test):,} images from {idx.root} ({workers} loader workers)"]
    if idx.skipped:
        notes.append(f"skipped {len(idx.skipped)} unreadable file(s), e.g. {idx.skipped[0]}")
    y = {s: torch.tensor([c for _, c in getattr(idx, s)], dtype=torch.int64) for s in ("train", "test")}
    return StreamingDataset(Path(idx.root).name or idx.root, x_train, y["train"], x_test, y["test"],
                            list(idx.classes), mean, std, skipped=len(idx.skipped), notes=notes)


def _sample_stats(x: StreamedImages) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std (0–1) of up to STATS_SAMPLE training images (all of them when fewer)."""
    from .data import channel_stats

    n = len(x)
    pos = torch.arange(n) if n <= STATS_SAMPLE else torch.randperm(n, generator=torch.Generator().manual_seed(0))[
        :STATS_SAMPLE]
    batches = list(pos.split(256))
    x.plan(batches)
    imgs = torch.cat([x[b] for b in batches])
    return channel_stats(imgs)
