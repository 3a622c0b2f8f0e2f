"""How often the experiment verdict names a winner, by simulation (issue 13, section 1).

Simulation model (numpy, seeded; 1,000 simulated experiments per case):

* Test set: n = 360 images, the size of digits' test split, which every built-in uses.
* One seed per variant (paired): a fixed test set where image i has a chance q_i of
  being classified correctly, q_i ~ Beta(14, 1) (mean 0.933: most images easy, a few
  hard).  Each trained network gets image i right with probability q_i, independently of
  the other network.  For identical variants both networks draw from the same q; this
  is the null hypothesis McNemar's test addresses: equally accurate networks on these
  images.  It does not include a whole-network shift from one seed to the next — that
  is exactly what one seed cannot measure, which is why the verdict then says
  "single-run comparison: seed-to-seed variation is not measured".
* Several seeds per variant: each run's final accuracy is Binomial(n, p_s)/n with
  p_s = μ + σ·z_s (z_s standard normal per seed): a network-level seed-to-seed sd σ on
  top of binomial noise at n = 360.  With σ = 0.5 points the total sd of one run's
  accuracy is 1.0 points at μ = 97 % and 1.5 points at μ = 92 % (the issue's 12-seed
  tanh/tanh pairs imply about 0.9 points).  Identical variants are also checked with
  σ = 2 points.
* Real difference: μ = 97 % vs 92 % (5 points, near the built-ins' 96.6 % / 92.5 %),
  3 seeds per variant, σ = 0.5 points.

Measured with these seeds (the assertions are the bounds, not these numbers): false
winners 3.3 % (1 seed, McNemar), 3.8 % (1 seed, unpaired fallback), 2.3 / 3.4 / 4.5 %
at 2 / 3 / 5 seeds with σ = 0.5 points and 2.7 / 3.5 / 4.8 % with σ = 2 points; a real
5-point gap is found in 83 % of experiments at 3 seeds.  With few seeds Welch's
interval has few degrees of freedom (at most 4 at 3 seeds), which costs power: with
σ = 1 point the same gap is found in about 73 % of experiments at 3 seeds (99 % at 5),
with σ = 2 points in about 41 % (81 % at 5).
"""

import numpy as np
import pytest

from alexnet.verdicts import VariantResult, compare

N_TEST = 360
SIMS = 1000
# identical variants: Welch's true false-winner rate is about 4.4 % at 5 seeds (measured
# with 200,000 experiments), so 1,000 would exceed 5 % by chance in about one draw in
# five; 4,000 keep the check about the method, not the draw
SIMS_NULL = 4000


def _variant(label, accs, correct=None):
    runs = [{"status": "completed", "final_acc": a, "correct": c}
            for a, c in zip(accs, correct or [None] * len(accs))]
    return VariantResult(label, runs, n_test=N_TEST)


def seed_accuracies(rng, mu, sigma, seeds):
    """One experiment's per-seed final accuracies of one variant."""
    p = np.clip(mu + sigma * rng.standard_normal(seeds), 0.0, 1.0)
    return list(rng.binomial(N_TEST, p) / N_TEST)


def winner_rate(mu_a, mu_b, sigma, seeds, rng, sims=SIMS) -> float:
    named = 0
    for _ in range(sims):
        c = compare(_variant("a", seed_accuracies(rng, mu_a, sigma, seeds)),
                    _variant("b", seed_accuracies(rng, mu_b, sigma, seeds)))
        named += c.winner is not None
    return named / sims


def single_run_rate(paired: bool, rng) -> float:
    q = rng.beta(14, 1, N_TEST)
    named = 0
    for _ in range(SIMS):
        x, y = list(rng.random(N_TEST) < q), list(rng.random(N_TEST) < q)
        c = compare(_variant("a", [sum(x) / N_TEST], [x] if paired else None),
                    _variant("b", [sum(y) / N_TEST], [y] if paired else None))
        assert c.method == ("mcnemar" if paired else "unpaired")
        named += c.winner is not None
    return named / SIMS


@pytest.mark.parametrize("paired", [True, False])
def test_identical_variants_one_seed_name_a_winner_at_most_5_percent(paired):
    rate = single_run_rate(paired, np.random.default_rng(11))
    assert rate <= 0.05, f"1 seed ({'McNemar' if paired else 'unpaired'}): {rate:.1%} false winners"


@pytest.mark.parametrize("sigma", [0.005, 0.02])
@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_identical_variants_several_seeds_name_a_winner_at_most_5_percent(seeds, sigma):
    rate = winner_rate(0.93, 0.93, sigma, seeds, np.random.default_rng(100 * seeds + int(sigma * 1000)), SIMS_NULL)
    assert rate <= 0.05, f"{seeds} seeds, σ = {sigma * 100:g} points: {rate:.1%} false winners"


def test_a_real_5_point_gap_is_found_at_least_80_percent_with_3_seeds():
    rate = winner_rate(0.97, 0.92, 0.005, 3, np.random.default_rng(3))
    assert rate >= 0.80, f"3 seeds, 97 % vs 92 %, σ = 0.5 points: found in {rate:.1%}"


def test_the_winner_is_the_better_variant_and_more_seeds_find_it_more_often():
    rng = np.random.default_rng(5)
    at3, at5 = winner_rate(0.97, 0.92, 0.01, 3, rng), winner_rate(0.97, 0.92, 0.01, 5, rng)
    assert at5 > at3 + 0.1, (at3, at5)
    c = compare(_variant("worse", [0.92, 0.921, 0.918]), _variant("better", [0.97, 0.968, 0.971]))
    assert c.winner == "better" and c.low > 0
