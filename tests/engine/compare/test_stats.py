"""The statistics of `compare`, against published values and exact enumeration."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from engine.compare.stats import (
    compare_proportions,
    fisher_exact,
    min_detectable_difference,
    newcombe_interval,
    two_proportion_z,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998a), Statistics in Medicine 17:857, Table I, method 3 (score without correction)
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombes_table(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    # Newcombe (1998b), Statistics in Medicine 17:873, Table II, method 10, examples (a), (b), (h);
    # the paper gives p1 - p2, ours is candidate - baseline, so the baseline is the paper's second sample.
    [(48, 80, 56, 70, 0.0524, 0.3339), (3, 10, 9, 10, 0.1705, 0.8090), (0, 20, 0, 10, -0.1611, 0.2775)],
)
def test_newcombe_interval_matches_method_10(k1: int, n1: int, k2: int, n2: int, low: float, high: float) -> None:
    assert newcombe_interval(k1, n1, k2, n2) == pytest.approx((low, high), abs=5e-5)


def _fisher_by_enumeration(k1: int, n1: int, k2: int, n2: int) -> Fraction:
    hits, total = k1 + k2, n1 + n2

    def p(x: int) -> Fraction:
        return Fraction(comb(n1, x) * comb(n2, hits - x), comb(total, hits))

    observed = p(k1)
    return sum((p(x) for x in range(max(0, hits - n2), min(hits, n1) + 1) if p(x) <= observed), Fraction(0))


def test_fisher_exact_matches_the_tea_tasting_lady_and_scipys_examples() -> None:
    # Fisher's tea-tasting experiment: 3 of 4 cups right each way, two-sided p = 17/35
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(17 / 35, rel=1e-9)
    # scipy.stats.fisher_exact docs: [[6, 2], [1, 4]] -> 0.10256...; [[8, 2], [1, 5]] -> 0.03496...
    assert fisher_exact(6, 8, 1, 5) == pytest.approx(0.1025641025641026, rel=1e-9)
    assert fisher_exact(8, 10, 1, 6) == pytest.approx(0.03496503496503495, rel=1e-9)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(0, 12, 5, 12), (7, 9, 2, 11), (12, 60, 0, 60), (1, 3, 3, 3)])
def test_fisher_exact_equals_exact_enumeration(k1: int, n1: int, k2: int, n2: int) -> None:
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(float(_fisher_by_enumeration(k1, n1, k2, n2)), rel=1e-9)


def test_z_test_matches_a_hand_computed_value() -> None:
    # 60/200 vs 40/200: pooled 0.25, se = sqrt(.25*.75*(2/200)) = 0.0433, z = 2.309, p = 0.02092
    assert two_proportion_z(60, 200, 40, 200) == pytest.approx(0.020921, abs=1e-5)


def test_small_counts_get_fishers_test_and_large_ones_the_z_test() -> None:
    assert compare_proportions(2, 12, 0, 12).test == "fisher_exact"
    assert compare_proportions(60, 200, 40, 200).test == "z_test"


def test_the_detectable_difference_of_twelve_traces_a_side_is_more_than_half() -> None:
    # (1.96 + 0.84) * sqrt(0.25 * 2/12) = 0.572: a 10-point change is noise at this size
    assert min_detectable_difference(12, 12) == pytest.approx(0.5719, abs=1e-3)
    assert min_detectable_difference(1000, 1000) < 0.07
