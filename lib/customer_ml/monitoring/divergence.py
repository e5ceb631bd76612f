"""Drift statistics from per-bin counts: pure Python, no Spark, so they are tested against hand-computed values.

Spark's part (monitoring/stats.py) is to bring these counts to the driver; every function here takes counts (and,
for the grid estimates, per-bin sums of values) of a reference and a current frame over the same bins.

Bins for numeric columns are right-closed over sorted edges e_1 < ... < e_k: (-inf, e_1], (e_1, e_2], ...,
(e_k, inf), so bin i holds the values with exactly i edges below them (numpy's searchsorted(edges, x, "left")).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2_contingency

from customer_ml.errors import MonitoringError

EMPTY_BIN_EPSILON = 1e-4
"""The proportion PSI puts in place of an empty bin's 0 (on either side), so that ln(q / p) stays finite. It is not
renormalised: a bin empty in the reference and holding a share q of the current rows adds (q - 1e-4) * ln(q / 1e-4)."""


@dataclass(frozen=True)
class Estimate:
    """An approximate statistic: the true value lies in [value, value + error_bound]."""

    value: float
    error_bound: float


def psi(reference_counts: Sequence[int], current_counts: Sequence[int], epsilon: float = EMPTY_BIN_EPSILON) -> float:
    """Population stability index, sum over bins of (q - p) * ln(q / p).

    Args:
        reference_counts: rows per bin in the reference (p = count / total).
        current_counts: rows per bin in the current frame, same bins in the same order (q = count / total).
        epsilon: the proportion that replaces an empty bin's 0 (EMPTY_BIN_EPSILON); no renormalisation after.

    Returns:
        PSI >= 0; a bin empty on both sides adds 0.
    """
    reference, current = _proportions(reference_counts, current_counts)
    reference = np.where(reference == 0, epsilon, reference)
    current = np.where(current == 0, epsilon, current)
    return float(np.sum((current - reference) * np.log(current / reference)))


def js_distance(reference_counts: Sequence[int], current_counts: Sequence[int]) -> float:
    """Jensen-Shannon distance in base 2: the square root of the JS divergence, 0 for identical proportions and 1
    for disjoint ones (no epsilon needed: a bin's mixture share is positive wherever either side has rows).

    Args:
        reference_counts: rows per bin (category) in the reference.
        current_counts: rows per bin in the current frame, same bins in the same order.

    Returns:
        The distance in [0, 1].
    """
    reference, current = _proportions(reference_counts, current_counts)
    mixture = (reference + current) / 2
    divergence = (_kl_bits(reference, mixture) + _kl_bits(current, mixture)) / 2
    return float(math.sqrt(min(max(divergence, 0.0), 1.0)))


def chi_square_p(reference_counts: Sequence[int], current_counts: Sequence[int]) -> float:
    """P-value of Pearson's chi-square test of homogeneity on the 2 x K table (scipy.stats.chi2_contingency, with
    its default Yates correction when K = 2). Bins empty on both sides are dropped; with fewer than two bins left
    the two frames cannot differ and the p-value is 1. With millions of rows any small difference is significant:
    read it beside PSI / JS, which measure how large the difference is.

    Args:
        reference_counts: rows per bin (category) in the reference.
        current_counts: rows per bin in the current frame, same bins in the same order.

    Returns:
        The p-value in [0, 1].
    """
    _proportions(reference_counts, current_counts)  # the same input checks
    table = np.array([reference_counts, current_counts], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table).pvalue)


def align_categories(
    reference: Mapping[Hashable, int], current: Mapping[Hashable, int]
) -> tuple[list[Hashable], list[int], list[int]]:
    """The union of both frames' categories (reference's first, then unseen ones, each its own bin) and the counts
    of each side over it, 0 where a side lacks the category."""
    categories = list(reference) + [category for category in current if category not in reference]
    return categories, [reference.get(c, 0) for c in categories], [current.get(c, 0) for c in categories]


def coarsen(fine_edges: Sequence[float], fine_counts: Sequence[int], edges: Sequence[float]) -> list[int]:
    """Counts over `edges` from counts over finer right-closed bins whose edges include every one of `edges`.

    Args:
        fine_edges: sorted edges of the fine bins (len(fine_counts) == len(fine_edges) + 1).
        fine_counts: rows per fine bin.
        edges: sorted coarse edges, each one of `fine_edges`.

    Returns:
        Rows per coarse bin (len(edges) + 1 values).
    """
    if len(fine_counts) != len(fine_edges) + 1:
        raise MonitoringError(f"{len(fine_counts)} counts do not fit {len(fine_edges)} edges (expected one more)")
    missing = sorted(set(edges) - set(fine_edges))
    if missing:
        raise MonitoringError(f"coarse edges {missing[:5]} are not among the fine edges: cannot split a fine bin")
    upper = np.append(np.asarray(fine_edges, dtype=float), np.inf)
    coarse_bin = np.searchsorted(np.asarray(edges, dtype=float), upper, side="left")
    return [int(n) for n in np.bincount(coarse_bin, weights=fine_counts, minlength=len(edges) + 1)]


@dataclass(frozen=True)
class BinnedValues:
    """The non-null values of one frame over right-closed bins: rows, value sum, smallest and largest value per bin
    (nan where a bin is empty). With k edges every sequence has k + 1 entries."""

    counts: Sequence[int]
    sums: Sequence[float]
    minimums: Sequence[float]
    maximums: Sequence[float]


def regrid(fine_edges: Sequence[float], binned: BinnedValues, edges: Sequence[float]) -> BinnedValues:
    """`coarsen` for binned values: rows and sums added, minima and maxima kept, over `edges` (each a fine edge)."""
    coarsen(fine_edges, binned.counts, edges)  # checks the edges
    upper = np.append(np.asarray(fine_edges, dtype=float), np.inf)
    index = np.searchsorted(np.asarray(edges, dtype=float), upper, side="left")
    size = len(edges) + 1
    minimums, maximums = np.full(size, np.nan), np.full(size, np.nan)
    np.fmin.at(minimums, index, np.asarray(binned.minimums, dtype=float))
    np.fmax.at(maximums, index, np.asarray(binned.maximums, dtype=float))
    return BinnedValues(
        np.bincount(index, weights=binned.counts, minlength=size).astype(np.int64).tolist(),
        np.bincount(index, weights=binned.sums, minlength=size).tolist(),
        minimums.tolist(),
        maximums.tolist(),
    )


def bin_values(values: np.ndarray, edges: Sequence[float]) -> BinnedValues:
    """The same binning in numpy, for values already on the driver (and as the reference the Spark one is tested
    against). Nulls (nan) are left out."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    size = len(edges) + 1
    minimums, maximums = np.full(size, np.nan), np.full(size, np.nan)
    np.fmin.at(minimums, index, values)
    np.fmax.at(maximums, index, values)
    counts, sums = np.bincount(index, minlength=size), np.bincount(index, weights=values, minlength=size)
    return BinnedValues(counts.tolist(), sums.tolist(), minimums.tolist(), maximums.tolist())


def grid_ks(edges: Sequence[float], reference: BinnedValues, current: BinnedValues) -> Estimate:
    """Two-sample Kolmogorov-Smirnov statistic sup |F(x) - G(x)| from binned values.

    F and G are exact at the edges, so max |F(e) - G(e)| is a lower bound. Inside a bin both CDFs are constant
    outside [smallest, largest value the bin holds]; within that span each lies between its values at the bin's
    edges, which bounds how much higher the supremum can be. With edges at 1000 quantiles of each frame no bin
    holds more than about 0.1 % of either side, so the bound is about 0.001; it is 0 when every bin holds one
    distinct value (a column with few values whose values are all edges).

    Args:
        edges: sorted edges of the bins.
        reference: the reference's binned non-null values.
        current: the current frame's binned non-null values.

    Returns:
        The statistic as an Estimate (true value in [value, value + error_bound]).
    """
    grid = _Grid.of(edges, reference, current)
    value = float(np.abs(grid.gap_before[1:]).max()) if len(edges) else 0.0
    spread = grid.occupied & (grid.high > grid.low)
    inside = np.maximum(grid.ref_after - grid.cur_before, grid.cur_after - grid.ref_before)
    upper = max(value, float(np.max(np.where(spread, inside, 0.0))))
    return Estimate(value, upper - value)


def grid_wasserstein(edges: Sequence[float], reference: BinnedValues, current: BinnedValues) -> Estimate:
    """Wasserstein-1 distance, the integral of |F(x) - G(x)|, from binned values.

    In a bin (a, b] whose values span [lo, hi], F - G is constant on (a, lo) and on [hi, b], so those pieces are
    exact. On [lo, hi) the integral of F is exact from the bin's rows n and value sum s, F(a) (hi - lo) +
    (n hi - s) / N, and |integral of F - G| is exact unless F - G changes sign there; when the brackets the bin's
    edges allow (lowest l < 0 < highest h) say it may, the shortfall is at most 2 (hi - lo) min(h, -l). The error
    bound is the sum of those.

    Args:
        edges: sorted edges of the bins.
        reference: the reference's binned non-null values.
        current: the current frame's binned non-null values.

    Returns:
        The distance in the column's units as an Estimate (true value in [value, value + error_bound]).
    """
    grid = _Grid.of(edges, reference, current)
    # F - G is constant left of a bin's values (over the whole bin when it is empty) and right of them.
    left = np.where(grid.occupied, grid.low - grid.lower, grid.upper - grid.lower)
    right = np.where(grid.occupied, grid.upper - grid.high, 0.0)
    constant = _piece(left, grid.gap_before) + _piece(right, grid.gap_after)
    span = np.where(grid.occupied, grid.high - grid.low, 0.0)
    reference_area = _area_below(reference, grid.ref_before, grid.high, span)
    current_area = _area_below(current, grid.cur_before, grid.high, span)
    value = float(constant.sum() + np.abs(reference_area - current_area).sum())
    lowest = grid.ref_before - grid.cur_after
    highest = grid.ref_after - grid.cur_before
    straddles = (span > 0) & (lowest < 0) & (highest > 0)
    error = float(np.sum(np.where(straddles, 2 * span * np.minimum(highest, -lowest), 0.0)))
    return Estimate(value, error)


@dataclass(frozen=True)
class _Grid:
    """Per bin (a, b]: both CDFs at a and at b, and the span [low, high] of the values either side holds there."""

    lower: np.ndarray
    upper: np.ndarray
    ref_before: np.ndarray
    ref_after: np.ndarray
    cur_before: np.ndarray
    cur_after: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def occupied(self) -> np.ndarray:
        return ~np.isnan(self.low)

    @property
    def gap_before(self) -> np.ndarray:
        return self.ref_before - self.cur_before

    @property
    def gap_after(self) -> np.ndarray:
        return self.ref_after - self.cur_after

    @classmethod
    def of(cls, edges: Sequence[float], reference: BinnedValues, current: BinnedValues) -> _Grid:
        size = len(edges) + 1
        for side, binned in (("reference", reference), ("current", current)):
            lengths = {len(binned.counts), len(binned.sums), len(binned.minimums), len(binned.maximums)}
            if lengths != {size}:
                raise MonitoringError(f"{side}: binned values of lengths {sorted(lengths)} do not fit {size - 1} edges")
        _proportions(reference.counts, current.counts)  # both sides have rows
        bounds = np.asarray(edges, dtype=float)
        ref_cdf, cur_cdf = _cdf(reference.counts), _cdf(current.counts)
        return cls(
            lower=np.concatenate([[-np.inf], bounds]),
            upper=np.concatenate([bounds, [np.inf]]),
            ref_before=ref_cdf[:-1],
            ref_after=ref_cdf[1:],
            cur_before=cur_cdf[:-1],
            cur_after=cur_cdf[1:],
            low=np.fmin(np.asarray(reference.minimums, dtype=float), np.asarray(current.minimums, dtype=float)),
            high=np.fmax(np.asarray(reference.maximums, dtype=float), np.asarray(current.maximums, dtype=float)),
        )


def _cdf(counts: Sequence[int]) -> np.ndarray:
    """The CDF before the first bin and after each bin; integer sums, so the last value is exactly 1."""
    cumulative = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    return cumulative / cumulative[-1]


def _piece(length: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """|F - G| times the length it holds over; an unbounded piece lies where F = G = 0 or 1, so it adds 0."""
    finite = np.isfinite(length) & (gap != 0)
    return np.where(finite, np.abs(gap) * np.where(finite, length, 0.0), 0.0)


def _area_below(binned: BinnedValues, before: np.ndarray, high: np.ndarray, span: np.ndarray) -> np.ndarray:
    """The integral of one side's CDF over [lo, hi) in each bin: F(a) (hi - lo) + the sum of (hi - x) over its
    values there, divided by its rows."""
    rows = np.asarray(binned.counts, dtype=float)
    held = rows > 0
    below_high = np.where(held, rows * np.where(held, high, 0.0) - np.asarray(binned.sums, dtype=float), 0.0)
    return before * span + np.clip(below_high, 0.0, rows * span) / rows.sum()


def _proportions(reference_counts: Sequence[int], current_counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference_counts, dtype=float)
    current = np.asarray(current_counts, dtype=float)
    if reference.shape != current.shape or reference.ndim != 1:
        raise MonitoringError(f"counts over different bins: {len(reference)} reference, {len(current)} current bins")
    for side, counts in (("reference", reference), ("current", current)):
        if (counts < 0).any():
            raise MonitoringError(f"{side}: negative counts {counts[counts < 0][:5].tolist()}")
        if counts.sum() <= 0:
            raise MonitoringError(f"{side}: no rows in any bin; a drift statistic needs rows on both sides")
    return reference / reference.sum(), current / current.sum()


def _kl_bits(proportions: np.ndarray, mixture: np.ndarray) -> float:
    held = proportions > 0
    return float(np.sum(proportions[held] * np.log2(proportions[held] / mixture[held])))
