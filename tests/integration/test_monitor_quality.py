"""Model quality per score date (issue 14, part 5) end to end: a classifier trained on the synthetic lake stores its
calibration; the scored rows joined with late labels from the synthetic truth table give the training run's test
figures back exactly on its test rows, and close to them on a fresh, undrifted base, where CBPE's estimate without
labels lands close to the measured figures."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import mlflow
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import classifier, lake, scoring, tracking
from customer_ml.data import generate
from customer_ml.errors import MonitoringError
from customer_ml.monitoring.quality import (
    CALIBRATION_ARTIFACT,
    TRAINING_FIGURES,
    estimated_quality,
    labelled_quality,
    load_calibration,
    read_labels,
    training_quality,
)
from customer_ml.scoring import SCORE_DATE
from customer_ml.session import bind_settings
from customer_ml.settings import Settings
from tests.conftest import SyntheticLake

pytestmark = pytest.mark.slow

DAY = dt.date(2026, 1, 31)
FRESH_DAY = dt.date(2026, 2, 28)
SCORED, CANDIDATES = "quality_scored", "quality_candidates"
FRESH, FRESH_TRUTH = "quality_base", "quality_base_truth"
FRESH_SEED = 4242


def quality_settings(base: Settings) -> Settings:
    """The fixture's lake and MLflow store, with tables of this module's own (the shared lake's scored_customers
    and customers are other modules'), the gbt candidate only (the quickest), and the truth table as labels."""
    values = base.model_dump(by_alias=True)
    values["scoring"].update(scored_table=SCORED, candidates_table=CANDIDATES)
    values["tables"].update({name: {"path": name, "partition_by": [SCORE_DATE]} for name in (SCORED, CANDIDATES)})
    values["tables"].update({name: {"path": name} for name in (FRESH, FRESH_TRUTH)})
    for name in ("logistic", "xgboost"):
        values["classifier"]["candidates"][name]["enabled"] = False
    values["monitoring"]["labels"] = {"table": base.synthetic.truth_table, "label_column": base.synthetic.label.name}
    return Settings.model_validate(values)


def fresh_base(spark: SparkSession, settings: Settings) -> Settings:
    """The settings with a second synthetic base, of another seed and without faults, in tables of its own, and
    its truth table as the labels source (bound to the session)."""
    values = settings.model_dump(by_alias=True)
    values["synthetic"].update(table=FRESH, truth_table=FRESH_TRUTH, faults={})
    values["monitoring"]["labels"]["table"] = FRESH_TRUTH
    fresh = Settings.model_validate(values)
    bind_settings(spark, fresh, engine="delta-rs")
    generate.run(spark, fresh, rows=20_000, seed=FRESH_SEED)
    return fresh


def scored_on(spark: SparkSession, day: dt.date) -> DataFrame:
    return lake.read_table(spark, SCORED).where(F.col(SCORE_DATE) == F.lit(day))


@dataclass(frozen=True)
class Trained:
    settings: Settings
    run_id: str
    threshold: float


@pytest.fixture
def trained(spark: SparkSession, synthetic_lake: SyntheticLake) -> Trained:
    """The classifier champion of this module's store, trained (and the training base scored on DAY) once."""
    settings = quality_settings(synthetic_lake.settings)
    bind_settings(spark, settings, engine="delta-rs")
    if tracking.champion_version(settings, tracking.model_name(settings, classifier.KIND)) is None:
        classifier.run(spark, settings)
        scoring.run(spark, settings, score_date=DAY)
    model = scoring.resolve_model(settings, classifier.KIND, None)
    return Trained(settings, model.run_id, model.threshold)


def test_the_run_stores_its_calibration_and_late_labels_give_its_test_figures_back(
    spark: SparkSession, trained: Trained
) -> None:
    settings = trained.settings
    stored = [a.path for a in tracking.client(settings).list_artifacts(trained.run_id)]
    calibration = load_calibration(settings, trained.run_id)
    run = tracking.client(settings).get_run(trained.run_id).data.metrics
    assert CALIBRATION_ARTIFACT in stored and calibration is not None
    assert calibration.rows == run["rows_validation"] and len(calibration.x) > 5
    assert calibration.y[0] < 0.05 and calibration.y[-1] > 0.8  # the class weights pushed the raw scores up
    figures = training_quality(settings, trained.run_id)
    assert {k: figures[k] for k in TRAINING_FIGURES} == {k: run[k] for k in TRAINING_FIGURES}

    # The training base's test rows (the split again: same seed, same rows), labelled from the truth table.
    labels = read_labels(spark, settings, DAY)
    test_rows = scored_on(spark, DAY).join(ids_of_the_test_split(spark, settings), "customer_id", "inner")
    on_test = labelled_quality(test_rows, labels, "customer_id", trained.threshold)
    assert on_test.labelled_rows == on_test.rows == run["rows_test"]
    assert on_test.roc_auc == pytest.approx(figures["test_roc_auc"], abs=1e-9)
    assert on_test.pr_auc == pytest.approx(figures["test_pr_auc"], abs=1e-9)
    assert (on_test.recall, on_test.precision) == pytest.approx((figures["test_recall"], figures["test_precision"]))
    assert on_test.predicted_positive_rate == pytest.approx(figures["test_predicted_positive_rate"], abs=1e-12)
    # The whole table holds the train rows too (70 %), which the model has seen: its AUC is optimistic (0.938
    # against the test rows' 0.914 when written), so the issue's "within 0.01" is checked on a base it never saw.
    whole = labelled_quality(scored_on(spark, DAY), labels, "customer_id", trained.threshold)
    assert whole.labelled_rows == whole.rows == lake.read_table(spark, "customers_validated").count()
    assert whole.roc_auc > figures["test_roc_auc"]


def test_on_an_undrifted_base_labels_match_the_test_auc_and_cbpe_the_labels(
    spark: SparkSession, trained: Trained
) -> None:
    """A base of another seed (20k rows, no faults), which the model never saw."""
    figures = training_quality(trained.settings, trained.run_id)
    calibration = load_calibration(trained.settings, trained.run_id)
    fresh = fresh_base(spark, trained.settings)
    scoring.run(spark, fresh, input_table=FRESH, score_date=FRESH_DAY)
    current = scored_on(spark, FRESH_DAY).cache()
    measured = labelled_quality(current, read_labels(spark, fresh, FRESH_DAY), "customer_id", trained.threshold)
    estimated = estimated_quality(current, calibration, trained.threshold)
    current.unpersist()
    # When written: test AUC 0.9144 (2,953 rows, standard error ~0.007), measured 0.9097, CBPE 0.9149.
    assert measured.labelled_rows == measured.rows == 20_000
    assert measured.roc_auc == pytest.approx(figures["test_roc_auc"], abs=0.01)
    assert estimated.roc_auc == pytest.approx(measured.roc_auc, abs=0.01)
    assert estimated.positive_rate == pytest.approx(measured.positive_rate, abs=0.01)  # 0.1226 vs 0.1175
    # The calibration rests on the ~3k validation rows (~600 over the threshold, ~350 positives): recall and
    # precision estimates carry a standard error of ~0.02 from it (when written: recall 0.811 vs 0.796, precision
    # 0.480 vs 0.451), so 0.04 is two of them.
    assert estimated.recall == pytest.approx(measured.recall, abs=0.04)
    assert estimated.precision == pytest.approx(measured.precision, abs=0.04)
    assert estimated.predicted_positive_rate == measured.predicted_positive_rate  # from the scores alone
    assert (estimated.method, estimated.rows, estimated.labelled_rows) == ("estimated", 20_000, 0)


def test_a_run_from_before_calibrations_has_none_said_once_and_no_test_figures(
    synthetic_lake: SyntheticLake, caplog: pytest.LogCaptureFixture
) -> None:
    settings = synthetic_lake.settings
    tracking.configure(settings)
    with mlflow.start_run(run_name="train-classifier before calibrations") as old:
        mlflow.log_metrics({"test_roc_auc": 0.9, "test_pr_auc": 0.6})
    with caplog.at_level(logging.WARNING, logger="customer_ml.monitoring.calibration"):
        assert load_calibration(settings, old.info.run_id) is None
        assert load_calibration(settings, old.info.run_id) is None
    said = [r.getMessage() for r in caplog.records if r.name == "customer_ml.monitoring.calibration"]
    assert len(said) == 1 and said[0].startswith(f"training run {old.info.run_id} has no calibration.json")
    with pytest.raises(MonitoringError, match=r"has no test_recall, test_precision, test_positive_rate, test_tp"):
        training_quality(settings, old.info.run_id)


def ids_of_the_test_split(spark: SparkSession, settings: Settings) -> DataFrame:
    rows = lake.read_table(spark, settings.data.table)
    labelled = rows.withColumn(classifier.LABEL, classifier.label_expression(settings.data, rows.schema))
    marked = classifier.mark_split(labelled, settings.classifier, settings.data.id_column)
    return marked.where(F.col(classifier.SPLIT) == "test").select(settings.data.id_column)
