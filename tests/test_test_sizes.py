"""The test-set size a verdict's precision rests on is read from the dataset itself: the built-in
digits split, a custom .npz's own x_test; unknown (0, and then no verdict from one run) when the
files cannot be read, never an invented size (issue 13 §3: a hard-coded 2,000 for custom data)."""

from __future__ import annotations

import numpy as np

from alexnet.verdicts import dataset_test_size


def test_custom_npz_test_size_is_its_own(tmp_path):
    path = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (50, 8, 8), dtype=np.uint8), y_train=np.arange(50) % 3,
             x_test=rng.integers(0, 255, (37, 8, 8), dtype=np.uint8), y_test=np.arange(37) % 3)
    assert dataset_test_size(str(path)) == 37


def test_builtin_digits_split_and_unknown_sizes():
    from sklearn.datasets import load_digits

    n = len(load_digits().target)
    assert dataset_test_size("digits") == n - int(n * 0.8)  # the 80/20 split, 360 of 1,797
    assert dataset_test_size("/no/such/dataset.npz") == 0
    assert dataset_test_size(None) == 0
