"""Drift statistics from counts (monitoring/divergence.py): hand-computed values, and scipy where it has them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from customer_ml.errors import MonitoringError
from customer_ml.monitoring.divergence import (
    EMPTY_BIN_EPSILON,
    align_categories,
    bin_values,
    chi_square_p,
    coarsen,
    grid_ks,
    grid_wasserstein,
    js_distance,
    psi,
    regrid,
)


def test_psi_of_known_proportions() -> None:
    expected = -0.15 * math.log(0.4) - 0.05 * math.log(0.8) + 0.05 * math.log(1.2) + 0.15 * math.log(1.6)
    assert psi([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(expected, rel=1e-12)
    assert psi([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(0.2282, abs=1e-4)
    assert psi([3, 7], [30, 70]) == 0.0


def test_psi_puts_the_epsilon_in_place_of_an_empty_bin_on_either_side() -> None:
    assert EMPTY_BIN_EPSILON == 1e-4
    shared = 2 * (-0.1) * math.log(0.8)
    assert psi([50, 50, 0], [40, 40, 20]) == pytest.approx(shared + (0.2 - 1e-4) * math.log(0.2 / 1e-4), rel=1e-12)
    assert psi([40, 40, 20], [50, 50, 0]) == pytest.approx(shared + (1e-4 - 0.2) * math.log(1e-4 / 0.2), rel=1e-12)
    assert psi([50, 50, 0], [40, 40, 20], epsilon=1e-3) == pytest.approx(
        shared + (0.2 - 1e-3) * math.log(0.2 / 1e-3), rel=1e-12
    )
    # A bin empty on both sides adds nothing.
    assert psi([25, 25, 25, 25, 0], [10, 20, 30, 40, 0]) == pytest.approx(psi([25, 25, 25, 25], [10, 20, 30, 40]))


def test_count_functions_refuse_counts_that_do_not_fit() -> None:
    with pytest.raises(MonitoringError, match="different bins: 2 reference, 3 current"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(MonitoringError, match="current: no rows"):
        js_distance([1, 2], [0, 0])
    with pytest.raises(MonitoringError, match="reference: negative counts"):
        chi_square_p([1, -2], [1, 2])


def test_js_distance_is_0_for_the_same_mix_1_for_disjoint_ones_and_matches_a_hand_value() -> None:
    assert js_distance([10, 30, 60], [1, 3, 6]) == 0.0
    assert js_distance([10, 0], [0, 7]) == 1.0
    assert js_distance([5, 5, 0, 0], [0, 0, 3, 1]) == 1.0
    # p = (1, 0), q = (.5, .5), m = (.75, .25): KL(p|m) = log2(4/3), KL(q|m) = .5 log2(2/3) + .5 log2(2).
    divergence = (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5) / 2
    assert js_distance([8, 0], [4, 4]) == pytest.approx(math.sqrt(divergence), rel=1e-12)
    assert js_distance([8, 0], [4, 4]) == pytest.approx(0.557923, abs=1e-6)
    assert js_distance([12, 5, 0, 3], [2, 9, 4, 1]) == pytest.approx(
        jensenshannon([12, 5, 0, 3], [2, 9, 4, 1], base=2), rel=1e-12
    )


def test_chi_square_p_matches_the_hand_value_and_scipy() -> None:
    # Expected 15, 20, 25 per row; chi2 = 2 * 25/15 + 2 * 25/25; two degrees of freedom: p = exp(-chi2 / 2).
    assert chi_square_p([10, 20, 30], [20, 20, 20]) == pytest.approx(math.exp(-(50 / 15 + 2) / 2), rel=1e-9)
    assert chi_square_p([10, 20, 30], [20, 20, 20]) == pytest.approx(0.069483, abs=1e-6)
    # Bins empty on both sides are dropped (scipy would refuse an expected count of 0).
    assert chi_square_p([10, 0, 20, 30], [20, 0, 20, 20]) == pytest.approx(0.069483, abs=1e-6)
    table = [[120, 90, 40, 0], [100, 95, 60, 12]]
    assert chi_square_p(*table) == pytest.approx(chi2_contingency(table).pvalue, rel=1e-12)
    assert chi_square_p([5, 0], [9, 0]) == 1.0


def test_an_unseen_category_is_its_own_bin() -> None:
    categories, reference, current = align_categories({"a": 10, None: 2, "b": 8}, {"b": 6, "c": 5, "a": 9})
    assert categories == ["a", None, "b", "c"]
    assert reference == [10, 2, 8, 0]
    assert current == [9, 0, 6, 5]
    assert js_distance(reference, current) == pytest.approx(jensenshannon(reference, current, base=2), rel=1e-12)


def test_coarsen_sums_fine_bins_into_the_coarse_ones() -> None:
    assert coarsen([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4, 5], [2.0, 4.0]) == [3, 7, 5]
    assert coarsen([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4, 5], []) == [15]
    with pytest.raises(MonitoringError, match=r"coarse edges \[2.5\] are not among the fine edges"):
        coarsen([1.0, 2.0, 3.0], [1, 2, 3, 4], [2.5])


def test_regrid_gives_what_binning_on_the_coarse_edges_gives() -> None:
    values = np.random.default_rng(5).normal(0, 1, 2_000)
    fine = sorted(np.quantile(values, np.linspace(0, 1, 101)).tolist())
    coarse = fine[10::20]
    merged, direct = regrid(fine, bin_values(values, fine), coarse), bin_values(values, coarse)
    assert merged.counts == direct.counts
    assert merged.sums == pytest.approx(direct.sums, rel=1e-12)
    assert (merged.minimums, merged.maximums) == (direct.minimums, direct.maximums)


def test_bin_values_uses_right_closed_bins() -> None:
    binned = bin_values(np.array([0.0, 1.0, 1.5, 2.0, np.nan, 7.0]), [1.0, 2.0])
    assert binned.counts == [2, 2, 1]
    assert binned.sums == [1.0, 3.5, 7.0]
    assert binned.minimums == [0.0, 1.5, 7.0]
    assert binned.maximums == [1.0, 2.0, 7.0]


def test_grid_statistics_are_exact_when_every_value_is_an_edge() -> None:
    edges = [0.0, 1.0, 2.0, 3.0, 4.0]
    reference = bin_values(np.array([0.0, 1.0, 2.0, 3.0]), edges)
    current = bin_values(np.array([1.0, 2.0, 3.0, 4.0]), edges)
    assert grid_ks(edges, reference, current).value == 0.25
    assert grid_ks(edges, reference, current).error_bound == 0.0
    assert grid_wasserstein(edges, reference, current).value == pytest.approx(1.0, rel=1e-12)
    assert grid_wasserstein(edges, reference, current).error_bound == 0.0


def test_one_sided_shift_gives_the_exact_wasserstein_value_even_on_a_coarse_grid() -> None:
    """F >= G everywhere (the current frame is the reference plus 2): F - G changes sign in no bin, so the value is
    exact; the bound cannot know that from three edges and stays conservative."""
    values = np.random.default_rng(3).normal(size=2_000)
    edges = list(np.quantile(values, [0.25, 0.5, 0.75]))
    estimate = grid_wasserstein(edges, bin_values(values, edges), bin_values(values + 2.0, edges))
    assert estimate.value == pytest.approx(2.0, rel=1e-9)
    assert estimate.error_bound > 0.0


@pytest.mark.parametrize("grid_points", [10, 100, 1000])
def test_grid_estimates_bracket_scipy(grid_points: int) -> None:
    """scipy's exact statistics lie in [value, value + bound]; with 1000 points per side the KS bound is < 0.002."""
    rng = np.random.default_rng(11)
    reference, current = rng.normal(0.0, 1.0, 20_000), rng.normal(0.1, 1.2, 20_000)
    probabilities = np.linspace(0.0, 1.0, grid_points + 1)
    edges = sorted(set(np.quantile(reference, probabilities)) | set(np.quantile(current, probabilities)))
    binned_reference, binned_current = bin_values(reference, edges), bin_values(current, edges)
    ks, wasserstein = (
        grid_ks(edges, binned_reference, binned_current),
        grid_wasserstein(edges, binned_reference, binned_current),
    )
    exact_ks, exact_wasserstein = ks_2samp(reference, current).statistic, wasserstein_distance(reference, current)
    assert ks.value - 1e-12 <= exact_ks <= ks.value + ks.error_bound + 1e-12
    assert wasserstein.value - 1e-9 <= exact_wasserstein <= wasserstein.value + wasserstein.error_bound + 1e-9
    if grid_points == 1000:
        assert ks.error_bound < 0.002
        assert wasserstein.error_bound < 0.002
        assert abs(ks.value - exact_ks) < 1e-3
        assert abs(wasserstein.value - exact_wasserstein) < 1e-3
