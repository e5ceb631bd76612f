"""score + sql end to end on the synthetic lake with registered champions: schema, idempotency, partitions,
candidates against an independent computation, unseen categories and nulls, the SQL command, delta-rs interop."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import deltalake
import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import classifier, cli, lake, scoring, segmenter, tracking
from customer_ml.config import EXAMPLE_OVERLAY
from customer_ml.errors import ConfigError
from customer_ml.settings import Settings, StabilitySpec
from tests.conftest import TEST_OVERRIDES, SyntheticLake

pytestmark = pytest.mark.slow

DAY = dt.date(2026, 10, 31)
NEXT_DAY = dt.date(2026, 11, 30)
COLUMNS = [
    "customer_id",
    "score",
    "score_decile",
    "predicted_positive",
    "segment_id",
    "segment_name",
    "classifier_model",
    "classifier_version",
    "classifier_run_id",
    "segmenter_model",
    "segmenter_version",
    "segmenter_run_id",
    "run_id",
    "scored_at",
    "score_date",
]


@pytest.fixture
def champions(spark: SparkSession, synthetic_lake: SyntheticLake) -> Settings:
    """The synthetic lake with a champion classifier and segmenter, trained once in this module's own MLflow store
    (see conftest.module_tracking_uri: what other modules trained is not here)."""
    settings = synthetic_lake.settings
    if tracking.champion_version(settings, "customer_ml_classifier") is None:
        classifier.run(spark, settings)
    if tracking.champion_version(settings, "customer_ml_segmenter") is None:
        selection = settings.segmenter.selection.model_copy(update={"k": 4})
        fixed = settings.segmenter.model_copy(update={"selection": selection, "stability": StabilitySpec(runs=0)})
        segmenter.run(spark, settings.model_copy(update={"segmenter": fixed}))
    return settings


def cli_options(settings: Settings) -> list[str]:
    """The global options that point the CLI at this module's lake and MLflow store."""
    sets = (f"project.work_dir={settings.project.work_dir}", f"mlflow.tracking_uri={settings.tracking_uri}")
    return ["--overlay", EXAMPLE_OVERLAY, *[a for o in (*sets, *TEST_OVERRIDES) for a in ("--set", o)]]


def scored_rows(spark: SparkSession, day: dt.date):  # noqa: ANN201
    return lake.read_table(spark, "scored_customers").filter(F.col("score_date") == F.lit(day))


def test_scored_table_idempotent_partitions_and_candidates(spark: SparkSession, champions: Settings) -> None:
    settings = champions
    validated = lake.read_table(spark, "customers_validated")
    result = scoring.run(spark, settings, score_date=DAY)

    scored = lake.read_table(spark, "scored_customers")
    assert scored.columns == COLUMNS
    assert scored.count() == validated.count() == result.rows
    assert scored.select("customer_id").distinct().count() == result.rows
    assert scored.filter(F.col("score").isNull() | F.col("segment_id").isNull()).count() == 0
    assert {r.score_decile for r in scored.select("score_decile").distinct().collect()} == set(range(1, 11))
    threshold = float(
        tracking.client(settings)
        .get_model_version("customer_ml_classifier", scored.first()["classifier_version"])
        .tags["threshold"]
    )
    assert scored.filter(F.col("predicted_positive") != (F.col("score") >= threshold)).count() == 0
    # On the training run's test rows, the stored flags give exactly the confusion matrix that run logged.
    run = tracking.client(settings).get_run(scored.first()["classifier_run_id"]).data
    assert run.params["classifier.split.seed"] == str(settings.classifier.split.seed)
    labelled = validated.withColumn(classifier.LABEL, classifier.label_expression(settings.data, validated.schema))
    test_rows = classifier.split(labelled, settings.classifier, "customer_id")[2]
    test_rows = test_rows.select("customer_id", classifier.LABEL)
    flags = scored.join(test_rows, "customer_id").groupBy("predicted_positive", classifier.LABEL).count().collect()
    found = {(r.predicted_positive, r[classifier.LABEL]): r["count"] for r in flags}
    assert found.get((True, 1.0), 0) == run.metrics["test_tp"]
    assert found.get((True, 0.0), 0) == run.metrics["test_fp"]
    assert found.get((False, 1.0), 0) == run.metrics["test_fn"]
    # Decile 1 holds the highest tenth of scores.
    by_decile = scored.groupBy("score_decile").agg(F.min("score").alias("lo"), F.count("*").alias("n")).toPandas()
    by_decile = by_decile.sort_values("score_decile")
    assert by_decile["lo"].is_monotonic_decreasing
    assert by_decile["n"].between(0.09 * result.rows, 0.11 * result.rows).all()

    # Candidates: exactly the labelled-negative rows predicted positive, computed here independently.
    joined = scored.join(validated.select("customer_id", "is_affluent"), "customer_id").toPandas()
    expected = set(joined[(joined["is_affluent"] == 0) & joined["predicted_positive"]]["customer_id"])
    candidates = lake.read_table(spark, "upgrade_candidates").toPandas()
    assert set(candidates["customer_id"]) == expected and len(candidates) == len(expected) == result.candidates
    ranked = candidates.sort_values("candidate_rank")
    assert ranked["candidate_rank"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked["score"].is_monotonic_decreasing

    # Re-running the same date replaces that partition: the same rows, one partition, one replace commit.
    before = lake.history(spark, "scored_customers")[0]["version"]
    scoring.run(spark, settings, score_date=DAY)
    again = lake.read_table(spark, "scored_customers")
    drop = ("scored_at", "run_id")
    assert_df_equality(again.drop(*drop), scored.drop(*drop), ignore_row_order=True)
    assert again.select("score_date").distinct().count() == 1
    latest = lake.history(spark, "scored_customers")[0]
    assert latest["version"] == before + 1 and latest["mode"] == "overwrite_partitions"
    validated_version = lake.history(spark, "customers_validated")[0]["version"]
    assert latest["info"]["customer_ml.input_table"] == "customers_validated"
    assert latest["info"]["customer_ml.input_version"] == str(validated_version) == str(result.input_version)

    # Another date adds a partition and leaves the first one as it was.
    scoring.run(spark, settings, score_date=NEXT_DAY)
    both = lake.read_table(spark, "scored_customers")
    assert {r.score_date for r in both.select("score_date").distinct().collect()} == {DAY, NEXT_DAY}
    assert_df_equality(scored_rows(spark, DAY).drop(*drop), scored.drop(*drop), ignore_row_order=True)

    # Analysts' tools read the outputs without Spark.
    for table in ("scored_customers", "upgrade_candidates", "segment_profiles"):
        if lake.table_exists(spark, table):
            local = deltalake.DeltaTable(lake.table_path(spark, table)).to_pandas()
            assert len(local) == lake.read_table(spark, table).count()


def test_any_table_with_the_feature_columns_unseen_categories_and_nulls(
    spark: SparkSession, champions: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = champions.model_copy(
        update={
            "tables": {
                **champions.tables,
                "holdout": champions.tables["customers"].model_copy(update={"path": "holdout", "partition_by": []}),
            }
        }
    )
    from customer_ml.session import bind_settings

    bind_settings(spark, settings, engine="delta-rs")
    rows = lake.read_table(spark, "customers_validated").limit(500).drop("is_affluent")
    odd = rows.withColumn("region", F.when(F.col("age") % 2 == 0, F.lit("atlantis")).otherwise(F.lit(None)))
    odd = odd.withColumn("savings_balance", F.lit(None).cast("double")).withColumn(
        "occupation", F.lit(None).cast("string")
    )
    lake.write_table(odd, "holdout", mode="overwrite")

    # The command users run: `customer-ml score --input-table holdout` with the table described in conf (--set).
    base = cli_options(settings)
    command = [*base, "--set", "tables.holdout.path=holdout", "score", "--input-table", "holdout"]
    assert cli.main([*command, "--score-date", "2026-01-01"]) == 0
    printed = capsys.readouterr().out
    assert "scored 500 customers of holdout (version 0) for 2026-01-01" in printed
    bind_settings(spark, settings, engine="delta-rs")
    out = scored_rows(spark, dt.date(2026, 1, 1))
    assert out.count() == 500
    predicted = out.filter("predicted_positive").count()
    assert f"{predicted:,} predicted positive, {predicted:,} upgrade candidates" in printed  # no label column
    assert out.filter(F.col("score").isNull() | F.col("segment_name").isNull()).count() == 0

    as_text = rows.withColumn("age", F.col("age").cast("string")).drop("credit_limit", "payments")
    lake.write_table(as_text, "holdout", mode="overwrite", schema_mode="overwrite")
    before = lake.history(spark, "scored_customers", limit=1)[0]["version"]
    with pytest.raises(
        ConfigError,
        match=r"table holdout does not have the columns the models were trained on: customer_ml_classifier v\d+: "
        r"missing credit_limit, payments; age is string, trained as int",
    ):
        scoring.run(spark, settings, input_table="holdout", score_date=dt.date(2026, 1, 2))
    assert lake.history(spark, "scored_customers", limit=1)[0]["version"] == before  # nothing written


def test_scoring_without_a_segmenter_leaves_segments_null(spark: SparkSession, synthetic_lake: SyntheticLake) -> None:
    """A project with a classifier champion and no segmenter scores every row; the segment columns are null."""
    settings = synthetic_lake.settings.model_copy(
        update={"project": synthetic_lake.settings.project.model_copy(update={"name": "nosegments"})}
    )
    classifier.run(spark, settings)
    result = scoring.run(spark, settings, score_date=dt.date(2026, 2, 1))
    assert result.segmenter == "no segmenter"
    out = scored_rows(spark, dt.date(2026, 2, 1))
    assert out.count() == result.rows == synthetic_lake.rows - lake.read_table(spark, "customers_quarantine").count()
    assert out.filter(F.col("segment_id").isNotNull() | F.col("segment_name").isNotNull()).count() == 0
    assert out.filter(F.col("segmenter_version").isNotNull()).count() == 0
    assert out.filter(F.col("score").isNull()).count() == 0
    with pytest.raises(tracking.ModelNotFoundError, match=r"registered model nosegments_segmenter has no version 3"):
        scoring.run(spark, settings, score_date=dt.date(2026, 2, 1), segmenter_version="3")


def test_sql_command_prints_and_writes_csv(
    spark: SparkSession, champions: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = champions
    scoring.run(spark, settings, score_date=DAY)
    base = cli_options(settings)
    query = "SELECT segment_id, customers, candidates FROM segment_summary WHERE score_date = DATE'2026-10-31'"
    output = tmp_path / "summary.csv"
    assert cli.main([*base, "sql", query + " ORDER BY segment_id", "--output", str(output)]) == 0
    written = pd.read_csv(output)
    scored = scored_rows(spark, DAY).toPandas()
    candidates = lake.read_table(spark, "upgrade_candidates").filter(F.col("score_date") == F.lit(DAY)).toPandas()
    expected_customers = scored.groupby("segment_id").size()
    assert written["customers"].tolist() == expected_customers.sort_index().tolist()
    expected_candidates = candidates.groupby("segment_id").size().reindex(expected_customers.index, fill_value=0)
    assert written["candidates"].tolist() == expected_candidates.sort_index().tolist()

    capsys.readouterr()
    assert cli.main([*base, "sql", "SELECT count(*) AS n FROM top_candidates", "--limit", "5"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == ["n", str(min(len(candidates), settings.scoring.top_candidates))]

    assert cli.main([*base, "sql", "SELECT nosuch FROM scored_customers"]) == 2
    assert "SQL error" in capsys.readouterr().err


def test_the_models_come_from_this_modules_own_store(champions: Settings) -> None:
    """Issue 13 item 14: the classifier tests' models are not visible here, whatever ran first."""
    registry = tracking.client(champions)
    assert champions.tracking_uri.endswith("/mlflow.db") and "mlflow-test_scoring" in champions.tracking_uri
    versions = [v.version for v in registry.search_model_versions("name = 'customer_ml_classifier'")]
    assert [str(v) for v in versions] == ["1"]  # the one this module's fixture trained
