"""alexnet.stats against scipy, published values and simulated coverage."""

import numpy as np
import pytest
from scipy import stats as sp

from alexnet import stats


@pytest.mark.parametrize("b,c", [(0, 5), (1, 10), (7, 7), (3, 12), (400, 500), (2500, 2610)])
def test_mcnemar_exact_is_the_two_sided_binomial_test_on_discordant_images(b, c):
    assert stats.mcnemar_exact(b, c) == pytest.approx(sp.binomtest(b, b + c).pvalue, rel=1e-9)
    assert stats.mcnemar_exact(c, b) == stats.mcnemar_exact(b, c)


def test_mcnemar_with_no_discordant_images_sees_no_difference():
    assert stats.mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize("df", [1, 2, 2.6, 4, 9.3, 200])
def test_t_quantile_matches_scipy(df):
    assert stats.t_quantile(0.975, df) == pytest.approx(sp.t.ppf(0.975, df), rel=1e-9)


def test_t_quantile_known_values_and_bad_input():
    assert stats.t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.776, abs=1e-3)
    with pytest.raises(ValueError):
        stats.t_quantile(0.975, 0)


@pytest.mark.parametrize("xs,ys", [([0.90, 0.92, 0.95], [0.85, 0.90, 0.88]),
                                   ([0.5, 0.7], [0.6, 0.61, 0.59, 0.65, 0.6]),
                                   ([0.97, 0.96, 0.975, 0.969, 0.958], [0.92, 0.95, 0.88])])
def test_welch_interval_matches_scipy(xs, ys):
    w = stats.welch(xs, ys)
    ref = sp.ttest_ind(xs, ys, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (w.low, w.high, w.df) == pytest.approx((ci.low, ci.high, ref.df), rel=1e-9)
    assert w.excludes_zero == (ref.pvalue < 0.05)


def test_welch_floor_keeps_identical_seeds_from_a_zero_width_interval():
    tie = stats.welch([0.95, 0.95, 0.95], [0.9472, 0.9472, 0.9472], var_floor=(0.5 / 360) ** 2)
    assert tie.low < 0 < tie.high  # one image apart on every seed: not resolved
    with pytest.raises(ValueError):
        stats.welch([0.9], [0.8, 0.85])


def test_newcombe_unpaired_reproduces_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 − 48/80, method 10
    d, lo, hi = stats.newcombe_unpaired(56, 70, 48, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)


def test_newcombe_paired_is_antisymmetric_and_narrower_than_unpaired_for_correlated_runs():
    d, lo, hi = stats.newcombe_paired(320, 14, 4, 22)
    d2, lo2, hi2 = stats.newcombe_paired(320, 4, 14, 22)
    assert (d2, lo2, hi2) == pytest.approx((-d, -hi, -lo))
    assert d == pytest.approx(10 / 360) and lo < d < hi
    _, ulo, uhi = stats.newcombe_unpaired(334, 360, 324, 360)
    assert hi - lo < uhi - ulo  # pairing removes the images both get right or both get wrong


def test_newcombe_paired_covers_the_true_difference_95_percent_of_the_time():
    """Simulated paired runs: 360 images, per-image difficulty shared, accuracies 0.93 and 0.90."""
    rng = np.random.default_rng(7)
    q = rng.beta(9.3, 0.7, 360)  # per-image chance that a network gets it right (mean 0.93)
    qa, qb = q, np.clip(q - 0.03 / q.mean() * q, 0, 1)
    true = qa.mean() - qb.mean()
    hits = 0
    for _ in range(1000):
        x, y = rng.random(360) < qa, rng.random(360) < qb
        _, lo, hi = stats.newcombe_paired(*stats.paired_counts(list(x), list(y)))
        hits += lo <= true <= hi
    assert 0.93 <= hits / 1000 <= 0.99, hits


def test_two_proportion_p_matches_the_z_test():
    # pooled z-test: 40/100 vs 55/100 → z = 2.1232, p = 0.0337
    assert stats.two_proportion_p(40, 100, 55, 100) == pytest.approx(0.03374, abs=1e-4)
    assert stats.two_proportion_p(0, 10, 0, 10) == 1.0


def test_wilson_interval_known_value():
    lo, hi = stats.wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 360, 10000])
def test_pack_correct_round_trips_and_matches_numpy_packbits(n):
    bits = list(np.random.default_rng(n).random(n) < 0.9)
    text = stats.pack_correct(bits)
    assert stats.unpack_correct(text, n) == [bool(b) for b in bits]
    assert text == __import__("base64").b64encode(np.packbits(np.array(bits, dtype=np.uint8)).tobytes()).decode()
    with pytest.raises(ValueError):
        stats.unpack_correct(text, n + 8)


def test_paired_counts():
    assert stats.paired_counts([True, True, False, False, True], [True, False, True, False, True]) == (2, 1, 1, 1)
    with pytest.raises(ValueError):
        stats.paired_counts([True], [True, False])
