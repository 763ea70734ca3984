"""Two proportions, compared honestly: score intervals, an exact test, a detectable difference.

A before/after comparison of agent runs is a comparison of counts (traces a
pattern affects out of traces run), often small ones: a dozen runs a side is
common. The Wald interval and the z-test mislead there, so this module uses
the Wilson score interval for each rate, Newcombe's hybrid score interval
(method 10 of Newcombe 1998) for their difference, and Fisher's exact test
whenever a cell's expected count is small, the pooled two-proportion z-test
otherwise. `min_detectable_difference` says how large a change the sample
could have shown at all, so a "no change" is never read as "no effect".
Only the standard library: scipy is not a dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

__all__ = [
    "ALPHA",
    "POWER",
    "Z_TEST_MIN_EXPECTED",
    "TestName",
    "ProportionTest",
    "wilson_interval",
    "newcombe_interval",
    "fisher_exact",
    "two_proportion_z",
    "compare_proportions",
    "min_detectable_difference",
]

# Significance level of every test and interval here (two-sided), and the power a
# detectable difference is computed for: the conventions of clinical trials.
ALPHA = 0.05
POWER = 0.8
# Cochran's rule: below this expected count in any cell of the 2x2 table, the
# normal approximation is poor and Fisher's exact test is used instead of the z-test.
Z_TEST_MIN_EXPECTED = 5.0

TestName = Literal["fisher_exact", "z_test"]


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1 - alpha / 2)


def wilson_interval(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    z = _z(alpha)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p2 - p1 (candidate minus baseline).

    Built from the two Wilson intervals (Newcombe 1998, method 10): it stays inside
    [-1, 1] and keeps its coverage when a count is 0, where the Wald interval collapses.
    """
    p1, p2 = (k1 / n1 if n1 else 0.0), (k2 / n2 if n2 else 0.0)
    l1, u1 = wilson_interval(k1, n1, alpha)
    l2, u2 = wilson_interval(k2, n2, alpha)
    d = p2 - p1
    lower = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on [[k1, n1-k1], [k2, n2-k2]].

    The sum of the hypergeometric probabilities of every table with the same
    margins that is no more likely than the one observed (R's and scipy's rule,
    with the same relative tolerance for ties).
    """
    total, hits = n1 + n2, k1 + k2
    if n1 <= 0 or n2 <= 0 or hits in (0, total):
        return 1.0
    low, high = max(0, hits - n2), min(hits, n1)
    log_all = _log_choose(total, hits)

    def log_p(x: int) -> float:
        return _log_choose(n1, x) + _log_choose(n2, hits - x) - log_all

    observed = log_p(k1)
    cutoff = observed + math.log1p(1e-7)
    p = sum(math.exp(lp) for x in range(low, high + 1) if (lp := log_p(x)) <= cutoff)
    return min(1.0, p)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k2 / n2 - k1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def min_detectable_difference(n1: int, n2: int, rate: float = 0.5, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest difference of rates these sample sizes detect with `power`.

    Normal approximation at the given common `rate` (0.5, the worst case, unless a
    rate is known): (z_{1-alpha/2} + z_power) * sqrt(rate (1 - rate) (1/n1 + 1/n2)).
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    rate = min(max(rate, 0.0), 1.0)
    spread = math.sqrt(max(rate * (1 - rate), 1e-12) * (1 / n1 + 1 / n2))
    return min(1.0, (_z(alpha) + NormalDist().inv_cdf(power)) * spread)


@dataclass(frozen=True)
class ProportionTest:
    """Baseline k1/n1 against candidate k2/n2: the difference, its interval, its test."""

    k1: int
    n1: int
    k2: int
    n2: int
    difference: float  # candidate rate minus baseline rate
    low: float
    high: float
    p_value: float
    test: TestName
    detectable: float  # min_detectable_difference at the pooled rate

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def compare_proportions(k1: int, n1: int, k2: int, n2: int) -> ProportionTest:
    """Baseline against candidate: Fisher's exact test when any expected count is below
    `Z_TEST_MIN_EXPECTED`, the pooled z-test otherwise; Newcombe's interval either way."""
    total = n1 + n2
    pooled = (k1 + k2) / total if total else 0.0
    expected = [n * r for n in (n1, n2) for r in (pooled, 1 - pooled)]
    small = min(expected, default=0.0) < Z_TEST_MIN_EXPECTED
    test: TestName = "fisher_exact" if small else "z_test"
    p = fisher_exact(k1, n1, k2, n2) if small else two_proportion_z(k1, n1, k2, n2)
    low, high = newcombe_interval(k1, n1, k2, n2)
    # A pattern seen on neither side or on every trace has no spread to size a bound
    # by: size it at one trace in the smaller side instead.
    floor = 1 / max(1, min(n1, n2))
    rate = min(max(pooled, floor), 1 - floor) if floor < 0.5 else 0.5
    diff = (k2 / n2 if n2 else 0.0) - (k1 / n1 if n1 else 0.0)
    return ProportionTest(
        k1=k1, n1=n1, k2=k2, n2=n2, difference=diff, low=low, high=high, p_value=p, test=test,
        detectable=min_detectable_difference(n1, n2, rate),
    )
