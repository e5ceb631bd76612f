"""train-classifier end to end on real Spark, Delta files and an MLflow sqlite store: the synthetic base, a table
of other column names described only in conf, and the promotion gate both ways."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.sql import SparkSession

from customer_ml import classifier, lake
from customer_ml.errors import ConfigError
from customer_ml.session import bind_settings
from customer_ml.settings import DataSpec, FeatureSpec, LabelColumn, PromotionSpec, Settings
from tests.conftest import FAST_MODELS, SyntheticLake, assert_recorded_input, make_settings

pytestmark = pytest.mark.slow


def registry(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri)


def alias(client: MlflowClient, name: str, which: str) -> str:
    return str(client.get_model_version_by_alias(name, which).version)


def test_train_on_the_validated_synthetic_base(spark: SparkSession, synthetic_lake: SyntheticLake) -> None:
    settings = synthetic_lake.settings
    result = classifier.run(spark, settings)

    assert {c.name for c in result.candidates} == {"gbt", "logistic", "xgboost"}
    assert result.winner == max(result.candidates, key=lambda c: c.validation_pr_auc).name
    assert result.metrics["test_roc_auc"] >= 0.95 * synthetic_lake.bayes_auc
    assert result.threshold.recall >= settings.classifier.threshold.target_recall
    assert result.input_table == "customers_validated"

    client = registry(settings)
    name = "customer_ml_classifier"
    assert alias(client, name, "challenger") == result.version
    assert alias(client, name, "champion") == result.version  # the first one
    version = client.get_model_version(name, result.version)
    assert float(version.tags["threshold"]) == result.threshold.value

    run = client.get_run(result.run_id)
    for metric in (
        "test_roc_auc",
        "test_pr_auc",
        "test_recall",
        "test_precision",
        "test_f1",
        "test_tp",
        "test_top_decile_lift",
        "validation_pr_auc",
        "candidate.gbt.validation_pr_auc",
    ):
        assert metric in run.data.metrics, metric
    assert run.data.metrics["test_roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])
    assert run.data.params["input.table"] == "customers_validated"
    assert run.data.params["input.version"] == str(result.input_version)
    assert_recorded_input(run, "customers_validated", result.input_version)
    assert run.data.params["classifier.split.seed"] == "7"
    assert run.data.tags["promotion.decision"] == "promoted"
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    for plot in ("roc", "pr", "gain", "lift", "calibration", "confusion", "feature_importance"):
        assert f"evaluation/{plot}.png" in artifacts, plot
    gains = [m.value for m in client.get_metric_history(result.run_id, "test_gain_by_decile")]
    assert len(gains) == 10 and gains[-1] == pytest.approx(1.0) and gains == sorted(gains)

    importances = json.loads(Path(client.download_artifacts(result.run_id, "feature_importance.json")).read_text())
    columns = set(lake.read_table(spark, "customers_validated").columns) | {"credit_utilization", "payment_ratio"}
    assert set(importances) <= columns  # original names: one-hot slots summed back to their column
    assert sum(importances.values()) <= 1.0 + 1e-9
    assert len({"savings_balance", "investment_balance", "income_band"} & set(list(importances)[:8])) >= 2


def churn_table(rows: int = 3000) -> pd.DataFrame:
    """A telecom-style table: no column name in common with the synthetic base, a string label, a date column."""
    rng = np.random.default_rng(11)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.35, 0.15])
    tenure = rng.gamma(2.0, 2.0, rows)
    calls = rng.poisson(2, rows)
    fee = np.where(plan == "basic", 20.0, np.where(plan == "plus", 35.0, 60.0)) + rng.normal(0, 3, rows)
    logit = -1.5 + 0.5 * calls - 0.4 * tenure + 0.8 * (plan == "premium")
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "acct_no": [f"A{i:06d}" for i in range(rows)],
            "plan": plan,
            "tenure_years": np.round(tenure, 2),
            "support_calls": calls.astype("int32"),
            "monthly_fee": np.round(fee, 2),
            "signup_date": [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1500, rows)],
            "churned": np.where(churned, "yes", "no"),
        }
    )


def churn_settings(work: Path, margin: float) -> Settings:
    settings = make_settings(work, "project.name=churn", "tables.accounts.path=accounts", *FAST_MODELS)
    return settings.model_copy(
        update={
            "data": DataSpec(
                table="accounts", id_column="acct_no", label=LabelColumn(column="churned", positive="yes")
            ),
            "classifier": settings.classifier.model_copy(
                update={
                    "features": FeatureSpec(derived={"fee_per_year": "monthly_fee * 12"}, log1p="auto"),
                    "promotion": PromotionSpec(margin=margin),
                }
            ),
        }
    )


def test_another_table_from_conf_alone_and_the_promotion_gate(spark: SparkSession, tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = churn_settings(work, margin=0.0)
    bind_settings(spark, first, engine="delta-rs")
    lake.write_table(spark.createDataFrame(churn_table()), "accounts", mode="overwrite")

    one = classifier.run(spark, first)
    assert one.promotion.promoted and one.promotion.reason == "no champion yet"
    read = json.loads(registry(first).get_model_version("churn_classifier", one.version).tags["input_columns"])
    assert read == {"plan": "string", "tenure_years": "double", "support_calls": "int", "monthly_fee": "double"}
    assert one.metrics["test_roc_auc"] > 0.7
    assert one.metrics["test_positive_rate"] == pytest.approx(
        (churn_table()["churned"] == "yes").mean(), abs=0.01
    )  # stratified: the test rows keep the class balance

    # Gate closed: the challenger must beat the champion by 1.0 PR AUC, which nothing can.
    two = classifier.run(spark, churn_settings(work, margin=1.0))
    client = registry(first)
    assert not two.promotion.promoted
    assert two.promotion.champion_version == one.version
    assert two.promotion.champion_metric == pytest.approx(one.metrics["test_pr_auc"])  # same test rows, same model
    assert alias(client, "churn_classifier", "champion") == one.version
    assert alias(client, "churn_classifier", "challenger") == two.version
    assert client.get_run(two.run_id).data.tags["promotion.decision"] == "kept champion"
    assert "promotion.champion_test_pr_auc" in client.get_run(two.run_id).data.metrics

    # Gate open: a negative margin lets an equal challenger through; trained on at most 1,200 of the ~2,100 train
    # rows (classifier.split.max_train_rows), on the same validation and test rows.
    opened = churn_settings(work, margin=-1.0)
    split = opened.classifier.split.model_copy(update={"max_train_rows": 1200})
    three = classifier.run(
        spark, opened.model_copy(update={"classifier": opened.classifier.model_copy(update={"split": split})})
    )
    assert three.promotion.promoted
    assert alias(client, "churn_classifier", "champion") == three.version
    rows = {k: v for k, v in client.get_run(three.run_id).data.metrics.items() if k.startswith("rows_")}
    assert rows["rows_train_available"] == client.get_run(one.run_id).data.metrics["rows_train"] > 2000
    assert 1000 < rows["rows_train"] < 1400, rows  # the cap, within the sampling spread of a hash
    assert rows["rows_test"] == client.get_run(one.run_id).data.metrics["rows_test"]
    assert three.metrics["test_roc_auc"] > 0.7


def test_label_and_feature_mistakes_fail_in_one_line_before_training(spark: SparkSession, tmp_path: Path) -> None:
    settings = churn_settings(tmp_path / "work", margin=0.0)
    bind_settings(spark, settings, engine="delta-rs")
    lake.write_table(spark.createDataFrame(churn_table(200)), "accounts", mode="overwrite")

    def with_label(positive: object, derived: dict[str, str] | None = None) -> Settings:
        data = settings.data.model_copy(update={"label": LabelColumn(column="churned", positive=positive)})
        spec = settings.classifier.features.model_copy(update={"derived": derived or {}})
        return settings.model_copy(
            update={"data": data, "classifier": settings.classifier.model_copy(update={"features": spec})}
        )

    # `positive: yes` unquoted in YAML is the boolean true
    with pytest.raises(
        ConfigError,
        match=r"data.label.positive is true \(a YAML boolean\), which label column "
        r"churned of table accounts never holds \(values: 'no', 'yes'\).*quote the value, e.g. "
        r'positive: "no"',
    ):
        classifier.run(spark, with_label(True))
    with pytest.raises(ConfigError, match=r"'Yes' \(a string\).*values compare exactly, case included"):
        classifier.run(spark, with_label("Yes"))
    with pytest.raises(
        ConfigError,
        match=r"classifier.features.derived.utilization: 'card_balance / nullif\(credit_limit, 0\)' does not "
        r"resolve: column `card_balance` is not in table accounts",
    ):
        classifier.run(spark, with_label("yes", {"utilization": "card_balance / nullif(credit_limit, 0)"}))
    with pytest.raises(
        ConfigError,
        match=r"classifier.features on table accounts: feature columns not in the table: "
        r"balance",
    ):
        bad = with_label("yes")
        spec = bad.classifier.features.model_copy(update={"include": ["plan", "balance"]})
        classifier.run(
            spark, bad.model_copy(update={"classifier": bad.classifier.model_copy(update={"features": spec})})
        )
    assert MlflowClient(tracking_uri=settings.tracking_uri).search_registered_models() == []  # nothing trained
