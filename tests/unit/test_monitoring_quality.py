"""Model quality per score date (monitoring/calibration.py, monitoring/quality.py): the isotonic calibration against
scikit-learn, its JSON and Spark forms, quality measured from labels by hand and sklearn, CBPE's estimate against
labels drawn from known probabilities, and the labels source with its date window and one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from customer_ml import evaluation, lake
from customer_ml.errors import ConfigError, MonitoringError
from customer_ml.monitoring.quality import (
    LABEL,
    Calibration,
    estimated_quality,
    labelled_quality,
    latest_label,
    read_labels,
)
from customer_ml.settings import LabelsSettings, Settings


def drawn_rows(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a 1e-3 grid and 0/1 labels drawn with probability score ** 2 (so the scores are miscalibrated)."""
    generator = np.random.default_rng(seed)
    score = np.round(generator.random(rows), 3)
    return score, (generator.random(rows) < score**2).astype(float)


def counts_of(score: np.ndarray, label: np.ndarray) -> evaluation.ScoreCounts:
    return evaluation.counts_from_pandas(pd.DataFrame({"score": score, "positives": label, "rows": 1.0}))


def test_calibration_is_sklearn_isotonic_on_the_rows_and_keeps_the_positives() -> None:
    score, label = drawn_rows(seed=3, rows=5_000)
    calibration = Calibration.fit(counts_of(score, label))
    # Fitted per row (one weight each), not per distinct score: the weighting by rows is what makes them equal.
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, label)
    probe = np.concatenate([[-0.5, 0.0, 1.0, 1.5], np.linspace(0, 1, 997), score[:200]])
    np.testing.assert_allclose(calibration.probability(probe), reference.predict(probe), rtol=0, atol=1e-12)
    assert calibration.x == tuple(reference.X_thresholds_)
    np.testing.assert_allclose(calibration.y, reference.y_thresholds_, rtol=0, atol=1e-12)
    assert float(calibration.probability(score).sum()) == pytest.approx(label.sum(), abs=1e-6)  # isotonic's mean
    assert (calibration.rows, calibration.positives) == (5_000.0, label.sum())
    assert calibration.probability(np.array([0.95]))[0] == pytest.approx(0.95**2, abs=0.08)  # near the truth p
    with pytest.raises(MonitoringError, match=r"needs scored rows"):
        Calibration.fit(counts_of(np.array([]), np.array([])))


def test_calibration_round_trips_through_json_and_rejects_a_broken_one() -> None:
    calibration = Calibration.fit(counts_of(*drawn_rows(seed=4, rows=2_000)))
    stored = json.loads(json.dumps(calibration.to_dict()))
    assert stored["kind"] == "isotonic" and len(stored["x"]) == len(calibration.x) > 10
    assert Calibration.from_dict(stored) == calibration
    with pytest.raises(MonitoringError, match=r"expected kind isotonic with x, y, rows and positives"):
        Calibration.from_dict({"x": [0.1], "y": [0.2]})
    with pytest.raises(MonitoringError, match=r"x must be strictly increasing and y non-decreasing"):
        Calibration.from_dict({**stored, "y": list(reversed(stored["y"]))})
    with pytest.raises(MonitoringError, match=r"probabilities outside \[0, 1\]"):
        Calibration.from_dict({**stored, "x": [0.1, 0.2], "y": [0.5, 1.5]})


@pytest.mark.parametrize(
    "calibration",
    [
        Calibration(x=(0.1, 0.3, 0.4, 0.8), y=(0.0, 0.2, 0.2, 0.9), rows=10.0, positives=3.0),
        Calibration(x=(0.5,), y=(0.25,), rows=4.0, positives=1.0),  # one step point: a constant
    ],
)
def test_the_spark_column_gives_the_numbers_of_probability(spark: SparkSession, calibration: Calibration) -> None:
    scores = [-1.0, 0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.4000001, 0.55, 0.8, 0.81, 2.0, None]
    frame = spark.createDataFrame([(s,) for s in scores], "score double")
    actual = frame.select("score", calibration.column(F.col("score")).alias("p"))
    expected = spark.createDataFrame(
        [(s, None if s is None else float(calibration.probability(np.array([s]))[0])) for s in scores],
        "score double, p double",
    )
    assert_approx_df_equality(actual, expected, precision=1e-12)
    if len(calibration.x) == 4:  # by hand: the middle of the ramp from 0.4 to 0.8, and clipped at both ends
        by_score = dict(actual.collect())
        assert by_score[0.55] == pytest.approx(0.2 + 0.7 * 0.15 / 0.4, abs=1e-12)
        assert (by_score[-1.0], by_score[2.0], by_score[None]) == (0.0, 0.9, None)


def scored_frame(spark: SparkSession, seed: int, rows: int, squared: bool) -> DataFrame:
    """Rows with id, score and `_label`: the label drawn with probability p = rand; the score is p itself, or p
    squared (a miscalibrated score the isotonic calibration has to undo)."""
    p = F.round(F.rand(seed), 4)
    return spark.range(rows).select(
        F.col("id"),
        (p * p if squared else p).alias("score"),
        (F.rand(seed + 1) < p).cast("double").alias(LABEL),
    )


@pytest.mark.parametrize("squared", [False, True], ids=["calibrated", "squared"])
def test_cbpe_estimates_what_labels_drawn_from_the_probabilities_measure(spark: SparkSession, squared: bool) -> None:
    """200k rows; the calibration fitted on another 200k drawn alike. AUC 5/6 in theory (positives' scores have
    density 2p, negatives' 2(1 - p))."""
    validation = scored_frame(spark, seed=21, rows=200_000, squared=squared)
    calibration = Calibration.fit(evaluation.score_counts(validation, "score", LABEL))
    current = scored_frame(spark, seed=11, rows=200_000, squared=squared).cache()
    threshold = 0.36 if squared else 0.6
    measured = labelled_quality(current, current.select("id", LABEL), "id", threshold)
    estimated = estimated_quality(current.drop(LABEL), calibration, threshold)
    assert (measured.method, estimated.method) == ("measured", "estimated")
    assert (measured.rows, measured.labelled_rows, estimated.rows, estimated.labelled_rows) == (200_000,) * 3 + (0,)
    assert measured.roc_auc == pytest.approx(5 / 6, abs=0.005)
    for figure in ("roc_auc", "pr_auc", "recall", "precision", "positive_rate"):
        assert getattr(estimated, figure) == pytest.approx(getattr(measured, figure), abs=0.01), figure
    assert estimated.predicted_positive_rate == measured.predicted_positive_rate  # the scores alone decide it
    assert measured.predicted_positive_rate == pytest.approx(0.4, abs=0.005)
    if squared:  # uncalibrated, the squared scores would promise far fewer positives than there are
        raw = evaluation.score_counts(current, "score", "score")
        assert raw.total_positives / raw.total_rows == pytest.approx(1 / 3, abs=0.005)
        assert estimated.positive_rate == pytest.approx(0.5, abs=0.005)
    current.unpersist()


def test_labelled_quality_by_hand(spark: SparkSession) -> None:
    scored = spark.createDataFrame(
        [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), ("e", 0.4), ("f", 0.3), ("g", 0.2), ("h", 0.1)],
        "customer_id string, score double",
    )
    labels = spark.createDataFrame(
        [("a", 1.0), ("b", 0.0), ("c", 1.0), ("e", 1.0), ("f", None), ("g", 0.0), ("h", 0.0), ("z", 1.0)],
        f"customer_id string, {LABEL} double",
    )
    quality = labelled_quality(scored, labels, "customer_id", threshold=0.7)
    # Labelled: a 0.9 (1), b 0.8 (0), c 0.7 (1), e 0.4 (1), g 0.2 (0), h 0.1 (0); d has none, f's is null, z unscored
    truth, scores = [1, 0, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.4, 0.2, 0.1]
    assert (quality.rows, quality.labelled_rows, quality.threshold) == (8, 6, 0.7)
    assert quality.roc_auc == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert quality.roc_auc == pytest.approx(7 / 9, abs=1e-12)
    # PR trapezoids from (0, 1): 1/3 at precision 1, then 1/2 -> 2/3 over 1/3, then 2/3 -> 3/4 over 1/3
    assert quality.pr_auc == pytest.approx(1 / 3 + 7 / 36 + 17 / 72, abs=1e-12)
    assert (quality.recall, quality.precision) == pytest.approx((2 / 3, 2 / 3), abs=1e-12)  # a, c of a, c, e; b
    assert (quality.positive_rate, quality.predicted_positive_rate) == pytest.approx((0.5, 0.5), abs=1e-12)

    none = labelled_quality(scored, labels.limit(0), "customer_id", threshold=0.7)
    assert (none.rows, none.labelled_rows) == (8, 0) and math.isnan(none.roc_auc) and math.isnan(none.recall)
    one_class = labelled_quality(scored, labels.where(F.col(LABEL) == 0.0), "customer_id", threshold=0.7)
    assert math.isnan(one_class.roc_auc) and math.isnan(one_class.recall) and one_class.precision == 0.0
    with pytest.raises(MonitoringError, match=r"the scored partition is empty"):
        labelled_quality(scored.limit(0), labels, "customer_id", threshold=0.7)
    with pytest.raises(MonitoringError, match=r"the scored partition is empty"):
        estimated_quality(scored.limit(0), Calibration((0.5,), (0.25,), 4.0, 1.0), threshold=0.7)


def test_latest_label_keeps_the_newest_outcome_and_drops_a_disagreement(spark: SparkSession) -> None:
    outcomes = spark.createDataFrame(
        [
            ("a", 1.0, dt.date(2026, 2, 1)),
            ("a", 0.0, dt.date(2026, 3, 1)),  # newer: a is negative
            ("b", 1.0, dt.date(2026, 2, 1)),
            ("b", 1.0, dt.date(2026, 2, 1)),  # the same outcome twice
            ("c", 0.0, dt.date(2026, 2, 1)),
            ("c", 1.0, dt.date(2026, 2, 1)),  # disagreeing on the latest date: no label
            ("d", 0.0, dt.date(2026, 1, 5)),
            ("d", 1.0, dt.date(2026, 2, 5)),
            ("d", 0.0, dt.date(2026, 1, 5)),
        ],
        f"customer_id string, {LABEL} double, _outcome_date date",
    )
    expected = spark.createDataFrame([("a", 0.0), ("b", 1.0), ("d", 1.0)], f"customer_id string, {LABEL} double")
    actual = outcomes.transform(latest_label("customer_id"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def with_labels(settings: Settings, **labels: object) -> Settings:
    monitoring = settings.monitoring.model_copy(update={"labels": LabelsSettings(**labels)})
    return settings.model_copy(update={"monitoring": monitoring})


def test_read_labels_takes_the_outcomes_within_the_horizon_of_the_score_date(
    spark: SparkSession, lake_settings: Settings
) -> None:
    rows = [
        ("a", "Yes", "2026-02-10"),
        ("a", "No", "2026-03-20"),  # the latest within 60 days of 2026-01-31 (by 2026-04-01)
        ("b", "Yes", "2026-01-31"),  # on the score date: not after it
        ("c", "Yes", "2026-04-02"),  # 61 days after
        ("d", "Yes", "2026-04-01"),  # 60 days after: counts
        ("e", None, "2026-02-01"),
        ("f", "yes", "2026-02-01"),  # not "Yes": negative (values compare exactly)
        ("g", "Yes", None),
    ]
    frame = spark.createDataFrame(rows, "client string, outcome string, closed_on string")
    lake.write_table(frame.withColumn("closed_on", F.to_date("closed_on")), "t", mode="overwrite")
    columns = {"table": "t", "id_column": "client", "label_column": "outcome", "positive": "Yes"}
    dated = with_labels(lake_settings, **columns, date_column="closed_on", horizon_days=60)
    expected = spark.createDataFrame([("a", 0.0), ("d", 1.0), ("f", 0.0)], f"customer_id string, {LABEL} double")
    assert_df_equality(
        read_labels(spark, dated, dt.date(2026, 1, 31)), expected, ignore_row_order=True, ignore_nullable=True
    )
    undated = with_labels(lake_settings, **columns)
    every = {r["customer_id"]: r[LABEL] for r in read_labels(spark, undated, dt.date(2026, 1, 31)).collect()}
    assert every == {"b": 1.0, "c": 1.0, "d": 1.0, "f": 0.0, "g": 1.0}  # a's outcomes disagree, e's is null


def test_read_labels_fails_in_one_line_naming_the_key_and_what_exists(
    spark: SparkSession, lake_settings: Settings
) -> None:
    frame = spark.createDataFrame([("a", 1, "x")], "client string, outcome int, closed_on string")
    lake.write_table(frame.withColumn("closed_on", F.lit(3)), "t", mode="overwrite")
    day = dt.date(2026, 1, 31)
    cases = [
        (with_labels(lake_settings, table="nope"), r"^monitoring.labels.table: table 'nope' is not configured \("),
        (with_labels(lake_settings, table="t2"), r"^monitoring.labels.table: table 't2' does not exist yet \(.*\bt\b"),
        (
            with_labels(lake_settings, table="t"),  # the id column defaults to data.id_column
            r"^monitoring.labels.id_column: table t has no column customer_id; set it to one of client, outcome, "
            r"closed_on$",
        ),
        (
            with_labels(lake_settings, table="t", id_column="client", label_column="label"),
            r"^monitoring.labels.label_column: table t has no column label; set it to one of client, outcome",
        ),
        (
            with_labels(lake_settings, table="t", id_column="client", label_column="outcome", date_column="closed_on"),
            r"^monitoring.labels.date_column: closed_on of table t is int; name a date, timestamp or ISO-date",
        ),
        (
            with_labels(lake_settings, table="t", id_column="client", label_column="outcome", positive="Yes"),
            r"^monitoring.labels.positive is 'Yes' but outcome of table t is int; set monitoring.labels.positive",
        ),
        (  # the example overlay names customers_truth: without it
            lake_settings.model_copy(
                update={"monitoring": lake_settings.monitoring.model_copy(update={"labels": None})}
            ),
            r"^monitoring.labels is not set: name the table with the outcomes",
        ),
    ]
    for settings, message in cases:
        with pytest.raises(ConfigError, match=message) as raised:
            read_labels(spark, settings, day)
        assert "\n" not in str(raised.value)
    no_label = with_labels(lake_settings, table="t", id_column="client")
    no_label = no_label.model_copy(update={"data": no_label.data.model_copy(update={"label": None})})
    with pytest.raises(ConfigError, match=r"^monitoring.labels.label_column is not set and neither is data.label"):
        read_labels(spark, no_label, day)
