"""Thresholds, AUCs, confusion and deciles: exact on hand-built score/label rows, and equal to Spark / sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import array_to_vector
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from customer_ml import evaluation
from customer_ml.tracking import decide_promotion

# 10 rows, 4 positives. Sorted by score: 0.9(1) 0.8(1) 0.7(0) 0.6(1) 0.5(0) 0.4(0) 0.3(1) 0.2(0) 0.1(0) 0.05(0)
ROWS = [(0.9, 1), (0.8, 1), (0.7, 0), (0.6, 1), (0.5, 0), (0.4, 0), (0.3, 1), (0.2, 0), (0.1, 0), (0.05, 0)]


def counts(rows: list[tuple[float, int]]) -> evaluation.ScoreCounts:
    frame = pd.DataFrame(rows, columns=["score", "positives"]).assign(rows=1)
    return evaluation.counts_from_pandas(frame)


def test_threshold_for_recall_is_the_highest_reaching_the_target() -> None:
    data = counts(ROWS)
    # recall 0.5 is first reached at 0.8 (2 of 4), 0.75 at 0.6 (3 of 4), 1.0 at 0.3.
    assert evaluation.threshold_for_recall(data, 0.5).value == 0.8
    chosen = evaluation.threshold_for_recall(data, 0.75)
    assert (chosen.value, chosen.recall, chosen.precision) == (0.6, 0.75, 0.75)
    assert chosen.predicted_positive_share == pytest.approx(0.4)
    assert evaluation.threshold_for_recall(data, 0.76).value == 0.3
    assert evaluation.threshold_for_recall(data, 1.0).precision == pytest.approx(4 / 7)


def test_threshold_for_cost_minimises_the_total_cost() -> None:
    data = counts(ROWS)
    # fn_cost 10, fp_cost 1: at 0.3 cost = 3 FP = 3 (every other threshold misses a positive, >= 10).
    assert evaluation.threshold_for_cost(data, fp_cost=1, fn_cost=10).value == 0.3
    # fp_cost 10, fn_cost 1: at 0.8 cost = 2 FN = 2; at 0.6: 1 FP + 1 FN = 11.
    assert evaluation.threshold_for_cost(data, fp_cost=10, fn_cost=1).value == 0.8


def test_confusion_at_a_threshold() -> None:
    matrix = evaluation.confusion(counts(ROWS), 0.6)
    assert {k: matrix[k] for k in ("tp", "fp", "fn", "tn")} == {"tp": 3, "fp": 1, "fn": 1, "tn": 5}
    assert matrix["f1"] == pytest.approx(0.75)
    assert matrix["accuracy"] == pytest.approx(0.8)


def test_roc_auc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) * 0.5 + labels * 0.3, 2)  # many ties
    data = counts(list(zip(scores, labels, strict=True)))
    assert evaluation.roc_auc(data) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_pr_auc_equals_spark_evaluator(spark: SparkSession) -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 400).astype(float)
    scores = np.round(rng.random(400) * 0.6 + labels * 0.25, 3)
    frame = spark.createDataFrame(pd.DataFrame({"score": scores, "label": labels}))
    with_vector = frame.withColumn("raw", array_to_vector(F.array(1 - F.col("score"), F.col("score"))))
    expected = BinaryClassificationEvaluator(rawPredictionCol="raw", metricName="areaUnderPR").evaluate(with_vector)
    data = evaluation.score_counts(frame, "score", "label")
    assert data.total_rows == 400
    assert evaluation.pr_auc(data) == pytest.approx(expected, abs=1e-9)


def test_deciles_lift_gain_and_calibration() -> None:
    table = evaluation.deciles(counts(ROWS), buckets=5)
    # buckets of 2 rows: (0.9 1, 0.8 1) (0.7 0, 0.6 1) (0.5 0, 0.4 0) (0.3 1, 0.2 0) (0.1 0, 0.05 0)
    assert table["positives"].tolist() == [2, 1, 0, 1, 0]
    assert table["lift"].tolist() == pytest.approx([2.5, 1.25, 0, 1.25, 0])
    assert table["cumulative_gain"].tolist() == pytest.approx([0.5, 0.75, 0.75, 1.0, 1.0])
    assert table["mean_score"].tolist() == pytest.approx([0.85, 0.65, 0.45, 0.25, 0.075])


def test_deciles_split_ties_pro_rata() -> None:
    table = evaluation.deciles(counts([(0.5, 1)] * 3 + [(0.5, 0)] * 3), buckets=2)
    assert table["positives"].tolist() == pytest.approx([1.5, 1.5])


def test_promotion_gate_both_ways() -> None:
    first = decide_promotion(0.60, None, 0.01, None)
    assert first.promoted and first.reason == "no champion yet"
    better = decide_promotion(0.62, 0.60, 0.01, "3")
    assert better.promoted and better.champion_metric == 0.60 and better.champion_version == "3"
    not_enough = decide_promotion(0.605, 0.60, 0.01, "3")
    assert not not_enough.promoted and "<" in not_enough.reason
    worse = decide_promotion(0.55, 0.60, 0.0, "3")
    assert not worse.promoted
    unmeasured = decide_promotion(0.99, None, -1.0, "3")  # the champion could not be evaluated: it is kept
    assert not unmeasured.promoted and unmeasured.champion_version == "3"
    assert "could not be evaluated" in unmeasured.reason
