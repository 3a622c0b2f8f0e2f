"""Datasets: every loading code path on files written here in torchvision's real on-disk
formats (download disabled), the offline message, image-folder errors, and the batched
preprocessing/augmentation."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED_DATA
from PIL import Image

from alexnet import data
from alexnet.data import DatasetError, adapt_stats, augment, channel_stats, load_dataset, preprocess


# ---- writers for torchvision's on-disk formats ----------------------------------------
def write_idx(path, array: np.ndarray, compress: bool) -> None:
    """An IDX file (the MNIST format): magic 0x0000 08 <ndim>, big-endian dims, uint8 data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_mnist(root, folder="MNIST", n_train=30, n_test=12, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    xtr = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    ytr = rng.integers(0, 10, n_train, dtype=np.uint8)
    xte = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    yte = rng.integers(0, 10, n_test, dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", xtr, compress)
    write_idx(raw / "train-labels-idx1-ubyte", ytr, compress)
    write_idx(raw / "t10k-images-idx3-ubyte", xte, compress)
    write_idx(raw / "t10k-labels-idx1-ubyte", yte, compress)
    return xtr, ytr, xte, yte


def make_cifar(root, per_batch=6, n_test=8, seed=0):
    """CIFAR-10's python version: pickled dicts with 'data' (N×3072 uint8, channel-major)
    and 'labels', plus batches.meta with 'label_names', in cifar-10-batches-py/."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    xs, ys = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).tolist()
        with open(d / f"data_batch_{i}", "wb") as f:
            pickle.dump({"batch_label": f"training batch {i} of 5", "labels": y, "data": x,
                         "filenames": [f"img{j}.png" for j in range(per_batch)]}, f, protocol=2)
        xs.append(x)
        ys += y
    xte = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    yte = rng.integers(0, 10, n_test).tolist()
    with open(d / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": yte, "data": xte}, f, protocol=2)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    return np.concatenate(xs).reshape(-1, 3, 32, 32), ys, xte.reshape(-1, 3, 32, 32), yte, names


# ---- digits ------------------------------------------------------------------------------
def test_digits_is_embedded_stratified_and_deterministic():
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert a.x_train.dtype == torch.uint8 and a.x_train.shape == (1437, 1, 8, 8)
    assert a.x_test.shape == (360, 1, 8, 8) and a.classes == [str(i) for i in range(10)]
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class
    assert int(a.x_train.max()) == 255 and int(a.x_train.min()) == 0
    assert len(a.mean) == 1 and 0 < a.mean[0] < 1 and a.std[0] > 0


def _digits_in_subprocess(cache_home, code: str) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    p = subprocess.run([sys.executable, "-c", "import sys; from alexnet.data import load_digits; ds = load_digits(); "
                        + code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_digits_second_load_does_not_import_sklearn(tmp_path):
    """Start-up cost (issue 15): importing scikit-learn takes 1-2 s; the split is cached after the first load."""
    show = "print('sklearn' in sys.modules, int(ds.x_train.sum()), ds.y_test.tolist()[:20])"
    first = _digits_in_subprocess(tmp_path, show)
    second = _digits_in_subprocess(tmp_path, show)
    assert first.startswith("True") and second.startswith("False")
    assert first.split(" ", 1)[1] == second.split(" ", 1)[1]  # the same images and labels


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong shape"])
def test_digits_cache_is_sklearns_split(tmp_path, monkeypatch, damage):
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = data.digits_cache_path()
    cache.parent.mkdir(parents=True)
    if damage == "garbage":
        cache.write_bytes(b"not a zip")
    elif damage == "wrong shape":
        np.savez(cache, x_train=np.zeros((3, 8, 8), np.uint8), y_train=np.zeros(3), x_test=np.zeros((1, 8, 8), np.uint8),
                 y_test=np.zeros(1))
    load_dataset("digits")
    ds = load_dataset("digits")  # from the cache now
    d = sk_digits()
    x = np.rint(d.images * 255 / 16).astype(np.uint8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)
    assert np.array_equal(ds.x_train[:, 0].numpy(), xtr) and np.array_equal(ds.x_test[:, 0].numpy(), xte)
    assert ds.y_train.tolist() == ytr.tolist() and ds.y_test.tolist() == yte.tolist()


# ---- torchvision formats -----------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_files(tmp_path, compress):
    xtr, ytr, xte, yte = make_mnist(tmp_path, compress=compress)
    ds = load_dataset("mnist", root=tmp_path, download=False)
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_test.shape == (12, 1, 28, 28)
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(xtr))
    assert ds.y_train.tolist() == ytr.tolist() and ds.y_test.tolist() == yte.tolist()
    assert ds.classes == [str(i) for i in range(10)]


def test_fashion_mnist_folder_and_class_names(tmp_path):
    _, _, xte, _ = make_mnist(tmp_path, folder="FashionMNIST", seed=1)
    ds = load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert torch.equal(ds.x_test[:, 0], torch.from_numpy(xte))
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_cifar10_python_batches(tmp_path):
    xtr, ytr, xte, yte, names = make_cifar(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path, download=False)
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (8, 3, 32, 32)
    assert torch.equal(ds.x_train, torch.from_numpy(xtr)) and torch.equal(ds.x_test, torch.from_numpy(xte))
    assert ds.y_train.tolist() == ytr and ds.y_test.tolist() == yte
    assert ds.classes == names
    m = xtr.reshape(30, 3, -1).transpose(1, 0, 2).reshape(3, -1).mean(1) / 255
    assert np.allclose(ds.mean, m, atol=1e-5)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    make_cifar(tmp_path)
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tmp_path))
    assert len(load_dataset("cifar10", download=False).y_test) == 8


def test_missing_files_with_download_disabled_name_folder_and_files(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root=tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "data_batch_1" in msg and "batches.meta" in msg
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(e.value) and "train-images-idx3-ubyte.gz" in str(e.value)


@pytest.mark.parametrize("name,cls", [("cifar10", "CIFAR10"), ("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_offline_download_gives_a_clear_message(tmp_path, monkeypatch, name, cls):
    """No network: torchvision's download raises; we get a DatasetError, not a traceback."""
    import torchvision.datasets as tvd
    import torchvision.datasets.utils as tvu

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvu, "download_url", offline)
    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    monkeypatch.setattr(tvd.mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(tvd.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError) as e:
        load_dataset(name, root=tmp_path, download=True)
    msg = str(e.value)
    assert "could not be downloaded" in msg and str(tmp_path) in msg
    assert ("data_batch_1" in msg) if name == "cifar10" else ("t10k-labels-idx1-ubyte.gz" in msg)
    assert "Traceback" not in msg


def test_corrupt_cifar_file_is_a_dataset_error(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="cannot be read"):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_unknown_name():
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("imagenet-22k")


# ---- image folders -----------------------------------------------------------------------
def _png(path, color, size=(12, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def make_folder(root, classes=("cat", "dog"), n=3):
    for split in ("train", "test"):
        for ci, c in enumerate(classes):
            for i in range(n):
                _png(root / split / c / f"{i}.png", (40 * ci + i, 100, 200))
    return root


def test_image_folder_loads_and_counts_unreadable_files(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG garbage")
    (root / "test" / "cat" / "empty.jpg").write_bytes(b"")
    _png(root / "train" / "cat" / "big.png", (1, 2, 3), size=(24, 20))  # another size: resized
    (root / "train" / "dog" / "notes.txt").write_text("not an image")  # ignored, not counted
    ds = load_dataset(root)
    assert ds.classes == ["cat", "dog"] and ds.skipped == 2
    assert ds.x_train.shape == (7, 3, 10, 12) and ds.x_test.shape == (6, 3, 10, 12)
    assert sorted(ds.y_train.tolist()) == [0, 0, 0, 0, 1, 1, 1]
    assert any("skipped 2 unreadable" in n for n in ds.notes)
    px = ds.x_train[ds.y_train == 1][0, :, 0, 0].tolist()
    assert px[1:] == [100, 200]


def test_grayscale_folder_stays_one_channel(tmp_path):
    root = tmp_path / "g"
    for split in ("train", "test"):
        for c in ("a", "b"):
            _png(root / split / c / "x.png", 77, mode="L")
    ds = load_dataset(root)
    assert ds.image_shape == (1, 10, 12) and int(ds.x_train[0, 0, 0, 0]) == 77


def test_image_folder_errors(tmp_path):
    root = tmp_path / "f"
    _png(root / "train" / "a" / "1.png", (1, 1, 1))
    with pytest.raises(DatasetError, match="no 'test' folder"):
        load_dataset(root)
    (root / "test" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="class 'a' has no images"):
        load_dataset(root)
    _png(root / "test" / "a" / "1.png", (1, 1, 1))
    _png(root / "test" / "zebra" / "1.png", (1, 1, 1))
    with pytest.raises(DatasetError, match="zebra"):
        load_dataset(root)
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "test").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        load_dataset(empty)
    bad = tmp_path / "bad"
    for split in ("train", "test"):
        (bad / split / "a").mkdir(parents=True)
        (bad / split / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="none of the train images could be read"):
        load_dataset(bad)


def test_npz_file(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(p, x_train=rng.integers(0, 256, (5, 6, 6, 3), dtype=np.uint8), y_train=np.arange(5) % 2,
             x_test=rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8), y_test=np.array([0, 1, 1, 0]),
             classes=np.array(["no", "yes"]))
    ds = load_dataset(p)
    assert ds.x_train.shape == (5, 3, 6, 6) and ds.classes == ["no", "yes"]
    np.savez(p, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1])
    with pytest.raises(DatasetError, match="missing array"):
        load_dataset(p)


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="the shared CIFAR-10 subset is not on this machine")
def test_shared_cifar_subset_npz():
    ds = load_dataset(SHARED_DATA)
    assert ds.x_train.shape == (10000, 3, 32, 32) and ds.x_test.shape == (2000, 3, 32, 32)
    assert ds.classes[0] == "airplane"


# ---- preprocessing and augmentation ------------------------------------------------------
def test_preprocess_single_image_normalises_resizes_and_converts_channels():
    img = torch.full((1, 3, 8, 8), 128, dtype=torch.uint8)
    mean, std = [128 / 255] * 3, [0.25] * 3
    out = preprocess(img, (3, 16, 16), mean, std, "cpu")
    assert out.shape == (1, 3, 16, 16) and out.dtype == torch.float32
    assert out.abs().max() < 1e-5  # the mean maps to 0
    gray = preprocess(img[0], (1, 4, 4), mean, std)  # one [C, H, W] image, RGB → gray, shrink
    assert gray.shape == (1, 1, 4, 4) and gray.abs().max() < 1e-5
    g = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    rgb = preprocess(g, (3, 1, 2), [0.5], [0.5])
    assert rgb.shape == (1, 3, 1, 2) and torch.allclose(rgb[0, :, 0, 0], torch.tensor([-1.0] * 3))
    assert adapt_stats([0.1, 0.2, 0.3], [1, 1, 1], 3, 1)[0] == [pytest.approx(0.299 * 0.1 + 0.587 * 0.2 + 0.114 * 0.3)]
    # a checkpoint's 3-channel stats used on a gray image: the stats are converted too
    one = preprocess(torch.full((1, 1, 2, 2), 128, dtype=torch.uint8), (3, 2, 2), mean, std)
    assert one.shape == (1, 3, 2, 2) and one.abs().max() < 1e-5
    with pytest.raises(DatasetError):
        preprocess(img, (3, 8, 8), [0.5], [0.5, 0.5])  # mean and std disagree


def test_channel_stats_match_numpy():
    x = torch.randint(0, 256, (50, 3, 5, 5), dtype=torch.uint8)
    mean, std = channel_stats(x)
    a = x.numpy().astype(np.float64) / 255
    assert np.allclose(mean, a.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose(std, a.std(axis=(0, 2, 3)), atol=1e-5)


def test_flip_mirrors_some_images_exactly():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 6, 6)
    y = augment(x, flip=True, generator=g)
    same = [(y[i] == x[i]).all().item() for i in range(64)]
    mirrored = [(y[i] == x[i].flip(2)).all().item() for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 10 < sum(mirrored) < 54


def test_translate_is_a_zero_filled_shift_per_image():
    g = torch.Generator().manual_seed(1)
    n, t = 40, 2
    x = torch.arange(n * 2 * 7 * 7, dtype=torch.float32).view(n, 2, 7, 7) + 1
    y = augment(x, translate=t, generator=g)
    shifts = set()
    for i in range(n):
        found = None
        for dy in range(-t, t + 1):
            for dx in range(-t, t + 1):
                ref = torch.zeros_like(x[i])
                src = x[i][:, max(dy, 0):7 + min(dy, 0), max(dx, 0):7 + min(dx, 0)]
                ref[:, max(-dy, 0):7 + min(-dy, 0), max(-dx, 0):7 + min(-dx, 0)] = src
                if torch.equal(ref, y[i]):
                    found = (dy, dx)
        assert found is not None, f"image {i} is not a shifted copy"
        shifts.add(found)
    assert len(shifts) > 5  # different images get different shifts


def test_color_jitter_changes_values_but_keeps_shape():
    x = torch.randn(8, 3, 4, 4)
    y = augment(x, color_jitter=0.4, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y)


def test_datasets_command_lists_every_builtin_with_its_sizes(tmp_path, capsys):
    """`python -m alexnet datasets`: the list the --dataset help points to (one line per built-in)."""
    from alexnet.cli import main
    from alexnet.data import DATASETS

    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == list(DATASETS)
    digits = next(ln for ln in lines if ln.startswith("digits"))
    assert "1,437 train" in digits and "360 test" in digits and "on this machine" in digits
    cifar = next(ln for ln in lines if ln.startswith("cifar10"))
    assert "not here" in cifar  # an empty data folder
