"""The monitor stage's parts on small frames: a stored distribution compares like the frame it was made from, the
profile against hand counts, the segment fit against numpy, the policy's alerts and recommendations."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.clustering import KMeans
from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession

from customer_ml.errors import ConfigError
from customer_ml.monitoring.inputs import parse_baseline
from customer_ml.monitoring.policy import (
    CHECK_SOURCE,
    DATASET,
    RECLUSTER,
    RETRAIN,
    DriftRecord,
    drift_alerts,
    fit_alert,
    quality_alert,
)
from customer_ml.monitoring.profile import TABLE_ROW, profile
from customer_ml.monitoring.reference import StoredNumeric, categorical_drift, numeric_drift
from customer_ml.monitoring.stats import DriftStat, frame_drift
from customer_ml.segmenter.fit import mean_distance
from customer_ml.settings import MonitoringSettings


def test_a_stored_distribution_gives_the_statistics_of_the_frame_it_was_made_from(spark: SparkSession) -> None:
    rng = np.random.default_rng(7)
    reference = np.round(rng.beta(2, 5, 20_000), 4)  # scores: many repeats, as rounded scores have
    current = np.round(rng.beta(2.4, 5, 20_000), 4)
    values, counts = np.unique(reference, return_counts=True)
    stored = StoredNumeric.from_dict(StoredNumeric.of_counts(values, counts).to_dict())  # through its JSON form
    assert stored.rows == 20_000 and stored.std == pytest.approx(reference.std(ddof=1))
    current_frame = spark.createDataFrame([(float(v),) for v in current], "score double")
    reference_frame = spark.createDataFrame([(float(v),) for v in reference], "score double")
    from_store = numeric_drift("score", stored, current_frame, "score")
    from_rows = frame_drift(reference_frame, current_frame, ["score"], [])[0]
    # Deciles exact (stored) or within 1e-4 of rank (sketched): nearly the same PSI; KS / Wasserstein on the stored
    # grid hold the value from the rows within their error bounds.
    assert from_store.psi == pytest.approx(from_rows.psi, abs=1e-3) and from_store.psi > 0.02
    assert from_store.ks <= from_rows.ks + 1e-9 <= from_store.ks + from_store.ks_error + 2e-3
    assert from_store.wasserstein == pytest.approx(from_rows.wasserstein, abs=from_store.wasserstein_error + 2e-3)
    same = numeric_drift("score", stored, reference_frame, "score")
    assert same.psi == pytest.approx(0.0, abs=1e-12) and same.ks == pytest.approx(0.0, abs=1e-12)


def test_a_category_mix_against_a_stored_one_counts_an_unseen_segment_as_its_own_bin() -> None:
    stat = categorical_drift("segment_name", {"a": 50, "b": 50}, {"a": 50, "b": 30, "c": 20})
    p, q = np.array([0.5, 0.5, 1e-4]), np.array([0.5, 0.3, 0.2])
    assert stat.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert stat.kind == "categorical" and 0 < stat.js < 1 and stat.chi2_p < 0.001


def test_the_profile_counts_by_hand(spark: SparkSession) -> None:
    frame = spark.createDataFrame(
        [(1.0, "a", "s1"), (0.0, "b", "s1"), (None, "a", "s2"), (float("nan"), None, "s2"), (5.0, "a", None)],
        "x double, c string, seg string",
    )
    rows = {(r.slice_key, r.slice_value, r.column_name): r for r in profile(frame, ["x"], ["c"], ["seg"], top=2)}
    assert len(rows) == 3 * 4  # :table, x, c for the whole frame and the slices s1, s2 and null
    whole_x = rows[(None, None, "x")]
    assert (whole_x.count, whole_x.num_nulls, whole_x.num_zeros, whole_x.distinct_count) == (5, 2, 1, 3)
    assert (whole_x.avg, whole_x.min, whole_x.max, whole_x.median) == (2.0, 0.0, 5.0, 1.0)
    assert whole_x.percent_null == 40.0 and whole_x.percent_zeros == 20.0
    assert rows[(None, None, "c")].frequent_items == [("a", 3, 0.6), (None, 1, 0.2)]  # top 2; a null is an item
    assert rows[("seg", "s2", "x")].num_nulls == 2 and rows[("seg", "s2", "x")].avg is None
    assert rows[("seg", None, TABLE_ROW)].count == 1 and rows[(None, None, TABLE_ROW)].count == 5


def test_the_segment_fit_is_the_mean_distance_to_the_assigned_centre(spark: SparkSession) -> None:
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2))])
    frame = spark.createDataFrame([(Vectors.dense(p),) for p in points], ["features"])
    model = KMeans(k=2, seed=1).fit(frame)
    assigned = model.transform(frame)
    centres = np.array(model.clusterCenters())
    labels = np.array([r["prediction"] for r in assigned.select("prediction").collect()])
    expected = np.linalg.norm(points - centres[labels], axis=1).mean()
    assert mean_distance(assigned, model, "prediction") == pytest.approx(expected, rel=1e-9)
    wider = spark.createDataFrame([(Vectors.dense(p * 1.5),) for p in points], ["features"])
    assert mean_distance(model.transform(wider), model, "prediction") > 1.25 * expected


def stat(column: str, psi: float, js: float | None = None) -> DriftStat:
    return DriftStat(column, "categorical" if js is not None else "numeric", 100, 100, 0.0, 0.0, psi, js=js)


def test_alerts_say_what_to_do_and_dataset_drift_needs_its_share() -> None:
    config = MonitoringSettings()
    records = [
        DriftRecord(stat("age", 0.3), "baseline", "t@1", "t@2"),
        DriftRecord(stat("region", 0.05, js=0.25), "baseline", "t@1", "t@2"),
        DriftRecord(stat("income", 0.12), "baseline", "t@1", "t@2"),
        DriftRecord(stat("tenure", 0.01), "baseline", "t@1", "t@2"),
        DriftRecord(stat("score", 0.4), "baseline", "model v1 test scores", "score date 2026-01-31"),
        DriftRecord(stat("segment_name", 0.3, js=0.1), "baseline", "segmenter", "score date 2026-01-31"),
        DriftRecord(stat("age", 0.9), "consecutive", "t@0", "t@2"),  # not judged: consecutive
        DriftRecord(stat("age", 0.9), "baseline", "t@1", "t@2", "segment_name", "small"),  # not judged: a slice
    ]
    alerts = drift_alerts(records, "baseline", config)
    found = [(a.column, a.statistic, a.recommendation) for a in alerts]
    assert found == [
        ("age", "psi", CHECK_SOURCE),
        ("region", "js", CHECK_SOURCE),
        ("score", "psi", RETRAIN),
        ("segment_name", "psi", RECLUSTER),
        (DATASET, "drifted_share", RETRAIN),  # age, region, income of 4 features at warn or over: 0.75 >= 0.5
    ]
    assert alerts[-1].value == 0.75 and "age, region, income" in alerts[-1].detail
    fewer = drift_alerts(records[:1] + records[3:4], "baseline", config)  # 1 of 2 drifted: 0.5, still an alert
    assert [a.column for a in fewer] == ["age", DATASET]
    assert [a.column for a in drift_alerts(records, "consecutive", config)] == ["age", DATASET]


def test_fit_and_quality_alert_only_past_their_levels() -> None:
    config = MonitoringSettings()
    assert fit_alert(1.2, config) is None and fit_alert(None, config) is None
    assert fit_alert(1.3, config).recommendation == RECLUSTER
    assert quality_alert(0.049, "roc_auc", config) is None
    assert quality_alert(0.06, "estimated_roc_auc", config).statistic == "estimated_roc_auc_drop"


def test_a_baseline_is_training_previous_or_a_table_version() -> None:
    assert [parse_baseline(b) for b in ("training", "previous", "customers@3")] == [
        "training",
        "previous",
        "customers@3",
    ]
    for wrong in ("yesterday", "customers@", "customers@v3", "../x@1"):
        with pytest.raises(
            ConfigError, match=r"expected training .*, previous .*, TABLE@VERSION, e\.g\. customers_validated@3"
        ):
            parse_baseline(wrong)
