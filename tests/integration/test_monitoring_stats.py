"""Drift statistics on Spark frames (monitoring/stats.py): hand-computed values on small frames, scipy's exact
statistics on 20k-row samples, and how many Spark jobs one frame_drift call runs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from customer_ml.errors import MonitoringError
from customer_ml.monitoring.divergence import psi
from customer_ml.monitoring.stats import bin_counts, category_counts, column_drift, frame_drift, numeric_bins

EPS = 1e-4  # EMPTY_BIN_EPSILON, written out: the hand values below use it
Draw = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


def numbers(spark: SparkSession, values: list[float | None], column: str = "x") -> DataFrame:
    return spark.createDataFrame([(v,) for v in values], f"{column} double")


def labels(spark: SparkSession, values: list[str | None]) -> DataFrame:
    return spark.createDataFrame([(v,) for v in values], "k string")


def test_numeric_bins_are_the_reference_deciles_without_repeats(spark: SparkSession) -> None:
    one_to_hundred = [float(v) for v in range(1, 101)]
    assert numeric_bins(numbers(spark, [*one_to_hundred, None, math.nan]), "x") == [
        float(v) for v in range(10, 100, 10)
    ]
    assert numeric_bins(numbers(spark, [0.0] * 70 + [1.0] * 30), "x") == [0.0, 1.0]
    assert numeric_bins(numbers(spark, [5.0] * 20), "x") == [5.0]
    assert numeric_bins(numbers(spark, [None] * 20), "x") == []


def test_bin_counts_are_right_closed_with_the_null_bin_last(spark: SparkSession) -> None:
    frame = numbers(spark, [0.0, 1.0, 1.5, 2.0, None, math.nan, 7.0, math.inf])
    assert bin_counts(frame, "x", [1.0, 2.0]) == [2, 2, 1, 3]
    assert bin_counts(frame, "x", []) == [5, 3]
    # -0.0 equals 0.0: both close at the edge 0.0.
    assert bin_counts(numbers(spark, [-0.0, 0.0, 0.5]), "x", [0.0]) == [2, 1, 0]
    with pytest.raises(MonitoringError, match="finite and increasing"):
        bin_counts(frame, "x", [2.0, 1.0])


def test_category_counts_keep_nulls_as_their_own_category(spark: SparkSession) -> None:
    assert category_counts(labels(spark, ["a", "b", None, "a"]), "k") == {"a": 2, "b": 1, None: 1}
    integers = spark.createDataFrame([(1,), (2,), (2,)], "k int")
    assert category_counts(integers, "k") == {"1": 1, "2": 2}


def test_psi_with_empty_bins_uses_the_epsilon(spark: SparkSession) -> None:
    """Reference 1..100 has deciles 10, 20, .., 90; current 1..50 fills the first five bins and empties the rest."""
    reference = numbers(spark, [float(v) for v in range(1, 101)])
    current = numbers(spark, [float(v) for v in range(1, 51)])
    stat = column_drift(reference, current, "x", "numeric")
    assert stat.psi == pytest.approx(5 * 0.1 * math.log(2) + 5 * (EPS - 0.1) * math.log(EPS / 0.1), rel=1e-12)
    assert stat.ks == pytest.approx(0.5, abs=1e-12)
    assert stat.ks_error == 0.0  # every value is a grid edge
    # W1 of 1..100 vs 1..50 is 25 (by symmetry of the two uniform grids), over the sample std of 1..100.
    assert stat.wasserstein == pytest.approx(25 / np.std(np.arange(1, 101), ddof=1), rel=1e-9)
    assert stat.wasserstein_error == 0.0


def test_an_all_null_column(spark: SparkSession) -> None:
    nothing = numbers(spark, [None] * 10)
    both_empty = column_drift(nothing, nothing, "x", "numeric")
    assert (both_empty.psi, both_empty.ks, both_empty.wasserstein) == (0.0, None, None)
    assert (both_empty.reference_null_share, both_empty.current_null_share) == (1.0, 1.0)
    now_empty = column_drift(numbers(spark, [float(v) for v in range(1, 101)]), nothing, "x", "numeric")
    expected = 10 * (EPS - 0.1) * math.log(EPS / 0.1) + (1 - EPS) * math.log(1 / EPS)
    assert now_empty.psi == pytest.approx(expected, rel=1e-12)
    assert (now_empty.reference_null_share, now_empty.current_null_share) == (0.0, 1.0)
    assert now_empty.ks is None


def test_a_constant_column(spark: SparkSession) -> None:
    fives = numbers(spark, [5.0] * 50)
    unchanged = column_drift(fives, fives, "x", "numeric")
    assert (unchanged.psi, unchanged.ks, unchanged.ks_error) == (0.0, 0.0, 0.0)
    assert unchanged.wasserstein is None  # no spread in the reference to normalise by
    moved = column_drift(fives, numbers(spark, [5.0] * 30 + [6.0] * 20), "x", "numeric")
    assert moved.psi == pytest.approx((0.6 - 1) * math.log(0.6) + (0.4 - EPS) * math.log(0.4 / EPS), rel=1e-12)
    assert moved.ks == pytest.approx(0.4, abs=1e-12)
    assert moved.ks_error == 0.0


def test_an_unseen_category_is_its_own_bin(spark: SparkSession) -> None:
    reference = labels(spark, ["a"] * 50 + ["b"] * 50)
    current = labels(spark, ["a"] * 40 + ["b"] * 40 + ["c"] * 15 + [None] * 5)
    stat = column_drift(reference, current, "k", "categorical")
    expected = 2 * (-0.1) * math.log(0.8) + (0.15 - EPS) * math.log(0.15 / EPS) + (0.05 - EPS) * math.log(0.05 / EPS)
    assert stat.psi == pytest.approx(expected, rel=1e-12)
    assert stat.js == pytest.approx(jensenshannon([50, 50, 0, 0], [40, 40, 15, 5], base=2), rel=1e-12)
    assert stat.chi2_p == pytest.approx(chi2_contingency([[50, 50, 0, 0], [40, 40, 15, 5]]).pvalue, rel=1e-9)
    assert (stat.reference_null_share, stat.current_null_share) == (0.0, 0.05)
    assert (stat.ks, stat.wasserstein) == (None, None)
    assert column_drift(reference, reference, "k", "categorical").js == 0.0
    assert column_drift(reference, labels(spark, ["x", "y"]), "k", "categorical").js == 1.0


def test_frame_drift_psi_is_psi_over_bin_counts(spark: SparkSession) -> None:
    """The batched path (grid bins summed into deciles) gives what the single-column functions give."""
    rng = np.random.default_rng(2)
    reference = numbers(spark, rng.gamma(2.0, 1.0, 3_000).tolist())
    current = numbers(spark, [*rng.gamma(2.3, 1.0, 2_900).tolist(), *[None] * 100])
    edges = numeric_bins(reference, "x")
    assert len(edges) == 9
    expected = psi(bin_counts(reference, "x", edges), bin_counts(current, "x", edges))
    assert frame_drift(reference, current, ["x"], [])[0].psi == pytest.approx(expected, rel=1e-12)


def sample(spark: SparkSession, values: np.ndarray) -> DataFrame:
    """A numeric column x and a categorical k (whether x > 1)."""
    return spark.createDataFrame(pd.DataFrame({"x": values, "k": (values > 1).astype(str)}))


def test_psi_stays_low_on_the_same_distribution_and_high_on_a_shifted_one(spark: SparkSession) -> None:
    rng = np.random.default_rng(7)
    reference, same, shifted = (sample(spark, rng.normal(mean, 1, 20_000)) for mean in (0, 0, 1))
    quiet = frame_drift(reference, same, ["x"], ["k"])
    assert quiet[0].psi < 0.01 and quiet[1].psi < 0.01
    assert quiet[1].chi2_p > 0.01
    moved = frame_drift(reference, shifted, ["x"], ["k"])
    assert moved[0].psi > 0.25 and moved[1].psi > 0.25
    assert moved[1].chi2_p < 1e-12


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: (rng.normal(0, 1, 20_000), rng.normal(0.1, 1.2, 20_000)),
        lambda rng: (rng.lognormal(0, 1, 20_000), rng.lognormal(0.05, 1, 20_000)),
        lambda rng: (rng.poisson(3, 20_000).astype(float), rng.poisson(3.3, 20_000).astype(float)),
    ],
    ids=["normal", "lognormal", "poisson"],
)
def test_ks_and_wasserstein_match_scipy_within_their_bounds(spark: SparkSession, draw: Draw) -> None:
    """scipy's exact statistics lie in [value, value + error]; stated tolerance: |value - scipy| < 1e-3 for KS and
    for Wasserstein / reference std."""
    reference_values, current_values = draw(np.random.default_rng(13))
    reference, current = sample(spark, reference_values), sample(spark, current_values)
    stat = frame_drift(reference, current, ["x"], [])[0]
    exact_ks = ks_2samp(reference_values, current_values).statistic
    exact_w = wasserstein_distance(reference_values, current_values) / np.std(reference_values, ddof=1)
    assert stat.ks - 1e-12 <= exact_ks <= stat.ks + stat.ks_error + 1e-12
    assert stat.wasserstein - 1e-9 <= exact_w <= stat.wasserstein + stat.wasserstein_error + 1e-9
    assert abs(stat.ks - exact_ks) < 1e-3 and stat.ks_error < 2e-3
    assert abs(stat.wasserstein - exact_w) < 1e-3 and stat.wasserstein_error < 2e-2


def spark_jobs(spark: SparkSession, group: str, run: Callable[[], object]) -> int:
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        run()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return len(context.statusTracker().getJobIdsForGroup(group))


def test_frame_drift_runs_the_same_few_jobs_for_one_column_or_many(spark: SparkSession) -> None:
    rng = np.random.default_rng(3)
    reference = spark.createDataFrame(
        pd.DataFrame({f"n{i}": rng.normal(i, 1, 5_000) for i in range(6)} | {"a": ["x", "y"] * 2_500, "b": "z"})
    )
    one = spark_jobs(spark, "drift-one", lambda: frame_drift(reference, reference, ["n0"], []))
    many = spark_jobs(
        spark, "drift-many", lambda: frame_drift(reference, reference, [f"n{i}" for i in range(6)], ["a", "b"])
    )
    # Per frame: its row count (a shuffle map job and a result job under adaptive execution), its sample, and one
    # counting pass for every column; not one per column.
    assert (one, many) == (8, 8)


def test_inputs_that_cannot_give_a_statistic_fail_with_what_to_fix(spark: SparkSession) -> None:
    frame = numbers(spark, [1.0, 2.0])
    with pytest.raises(MonitoringError, match=r"the current frame has no column\(s\) \['y'\]; it has \['x'\]"):
        frame_drift(spark.createDataFrame([(1.0, 2.0)], "x double, y double"), frame, ["x", "y"], [])
    with pytest.raises(MonitoringError, match="numeric drift needs numeric columns, not \\['k \\(string\\)'\\]"):
        column_drift(labels(spark, ["a"]), labels(spark, ["a"]), "k", "numeric")
    with pytest.raises(MonitoringError, match="the current frame has no rows"):
        column_drift(frame, frame.limit(0), "x", "numeric")
    with pytest.raises(MonitoringError, match="kind must be 'numeric' or 'categorical'"):
        column_drift(frame, frame, "x", "ordinal")  # type: ignore[arg-type]
