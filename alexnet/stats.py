"""Small statistics for experiment verdicts (pure Python; scipy only for the t quantile).

* One seed per variant, both scored on the same test images: McNemar's exact test on
  the discordant images (``mcnemar_exact``) and Newcombe's interval for a paired
  difference of proportions (``newcombe_paired``).  When the per-image record is
  missing (older runs): an unpaired two-proportion test and Newcombe's interval for
  independent proportions.
* Several seeds per variant: Welch's t interval on the per-seed accuracies (``welch``).
* ``pack_correct``/``unpack_correct``: the per-image record — which test images a
  network classified correctly — as a short base64 string (one bit per image).
"""

from __future__ import annotations

import base64
import math
import statistics
from dataclasses import dataclass


def binom_half_cdf(k: int, n: int) -> float:
    """P(X ≤ k) for X ~ Binomial(n, ½), exactly (integer arithmetic: no overflow for large n)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    term, total = 1, 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    return total / 2 ** n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b images only the first network got right, c only
    the second; under 'equally accurate' each discordant image is a fair coin."""
    m = b + c
    if m == 0:
        return 1.0
    return min(1.0, 2 * binom_half_cdf(min(b, c), m))


def z_quantile(level: float) -> float:
    """The two-sided normal quantile for a confidence level (0.95 → 1.96)."""
    return statistics.NormalDist().inv_cdf(0.5 + level / 2)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` (possibly fractional) degrees of freedom."""
    if df <= 0 or not 0 < p < 1:
        raise ValueError(f"t_quantile needs df > 0 and 0 < p < 1, got df={df}, p={p}")
    from scipy.special import stdtrit  # scipy comes with scikit-learn; imported only when needed

    return float(stdtrit(df, p))


def wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion x/n."""
    if n <= 0:
        return 0.0, 1.0
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe(p1, l1, u1, p2, l2, u2, phi) -> tuple[float, float, float]:
    d = p1 - p2
    lo = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return d, max(-1.0, d - lo), min(1.0, d + hi)


def newcombe_paired(a: int, b: int, c: int, d: int, level: float = 0.95) -> tuple[float, float, float]:
    """(difference, low, high) of p1 − p2 for paired binary outcomes (Newcombe 1998,
    method 10).  a: both right, b: only the first right, c: only the second, d: neither."""
    n = a + b + c + d
    if n == 0:
        return 0.0, -1.0, 1.0
    z = z_quantile(level)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(den) if den > 0 else 0.0
    return _newcombe((a + b) / n, *wilson(a + b, n, z), (a + c) / n, *wilson(a + c, n, z), phi)


def newcombe_unpaired(x1: int, n1: int, x2: int, n2: int, level: float = 0.95) -> tuple[float, float, float]:
    """(difference, low, high) of x1/n1 − x2/n2 for independent samples (Newcombe 1998, method 10)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, -1.0, 1.0
    z = z_quantile(level)
    return _newcombe(x1 / n1, *wilson(x1, n1, z), x2 / n2, *wilson(x2, n2, z), 0.0)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(x1 / n1 - x2 / n2) / se
    return math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class Welch:
    diff: float  # mean(xs) − mean(ys)
    low: float
    high: float
    df: float
    se: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def welch(xs: list[float], ys: list[float], level: float = 0.95, var_floor: float = 0.0) -> Welch:
    """Welch's t interval for mean(xs) − mean(ys); each needs at least two values.

    ``var_floor`` is a lower bound on each sample's variance (e.g. a quarter of one
    test image squared): three seeds with identical accuracies would otherwise give a
    zero-width interval."""
    if len(xs) < 2 or len(ys) < 2:
        raise ValueError("Welch's interval needs at least two values on each side")
    vx = max(statistics.variance(xs), var_floor) / len(xs)
    vy = max(statistics.variance(ys), var_floor) / len(ys)
    se = math.sqrt(vx + vy)
    diff = statistics.fmean(xs) - statistics.fmean(ys)
    if se == 0:
        return Welch(diff, diff, diff, float(len(xs) + len(ys) - 2), 0.0)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(xs) - 1) + vy ** 2 / (len(ys) - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return Welch(diff, diff - half, diff + half, df, se)


# ---------------------------------------------------------------------------------------
# the per-image record: one bit per test image, 1 = classified correctly
# ---------------------------------------------------------------------------------------
def pack_correct(correct) -> str:
    """Bits (first image = most significant bit of the first byte, as numpy.packbits)
    as base64 text: 360 images → 60 characters, 10,000 → 1,668."""
    bits = [1 if x else 0 for x in correct]
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 0x80 >> (i & 7)
    return base64.b64encode(bytes(out)).decode("ascii")


def unpack_correct(text: str, n: int) -> list[bool]:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"the record holds {len(raw) * 8} bits, not {n}")
    return [bool(raw[i >> 3] & (0x80 >> (i & 7))) for i in range(n)]


def paired_counts(x: list[bool], y: list[bool]) -> tuple[int, int, int, int]:
    """(both right, only x right, only y right, neither) over the same images."""
    if len(x) != len(y):
        raise ValueError(f"paired records must cover the same images ({len(x)} vs {len(y)})")
    a = sum(1 for p, q in zip(x, y) if p and q)
    b = sum(1 for p, q in zip(x, y) if p and not q)
    c = sum(1 for p, q in zip(x, y) if q and not p)
    return a, b, c, len(x) - a - b - c
