"""The synthetic base: determinism, planted truth, faults, drift, and the generate stage's tables."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.cli import main
from customer_ml.data import generate as generate_stage
from customer_ml.data.synthetic import generate
from customer_ml.settings import Settings

ROWS = 20_000


@pytest.fixture(scope="module")
def truth(spark: SparkSession, spark_settings: Settings) -> DataFrame:
    return generate(spark, spark_settings.synthetic, ROWS, seed=7).combined.cache()


def test_same_seed_gives_identical_rows_whatever_the_partitions(spark: SparkSession, spark_settings: Settings) -> None:
    spec = spark_settings.synthetic
    two = generate(spark, spec, 3000, seed=11, partitions=2)
    five = generate(spark, spec, 3000, seed=11, partitions=5)
    assert_df_equality(two.customers, five.customers, ignore_row_order=True)
    assert_df_equality(two.truth, five.truth, ignore_row_order=True)
    other_seed = generate(spark, spec, 3000, seed=12, partitions=2).customers
    assert other_seed.exceptAll(two.customers).count() > 2900


def test_positive_rate_is_calibrated(truth: DataFrame, spark_settings: Settings) -> None:
    label = spark_settings.synthetic.label
    rate = truth.agg(F.avg(label.name)).first()[0]
    assert rate == pytest.approx(label.positive_rate, abs=0.012)
    mean_probability = truth.agg(F.avg("true_probability")).first()[0]
    assert mean_probability == pytest.approx(label.positive_rate, abs=0.01)


def test_planted_segments_drive_behaviour(truth: DataFrame, spark_settings: Settings) -> None:
    means = {
        row["true_segment"]: row
        for row in truth.where(F.size("injected_faults") == 0)
        .groupBy("true_segment")
        .agg(
            F.count("*").alias("n"),
            F.expr("percentile_approx(cash_advance_amount, 0.5)").alias("cash"),
            F.expr("percentile_approx(investment_balance, 0.75)").alias("invest"),
            F.avg("digital_active").alias("digital"),
            F.avg("is_affluent").alias("affluent"),
        )
        .collect()
    }
    weights = {name: s.weight for name, s in spark_settings.synthetic.segments.items()}
    total = sum(means[s]["n"] for s in means)
    for name, weight in weights.items():
        assert means[name]["n"] / total == pytest.approx(weight, abs=0.02)
    assert means["cash_advance_heavy"]["cash"] > 3 * max(means["stable_saver"]["cash"], 1.0)
    assert means["premium_spender"]["invest"] > means["low_engagement"]["invest"]
    assert means["low_engagement"]["digital"] < means["premium_spender"]["digital"]
    assert means["premium_spender"]["affluent"] > 3 * means["low_engagement"]["affluent"]


def test_fault_rates_and_values(truth: DataFrame, spark_settings: Settings) -> None:
    faults = spark_settings.synthetic.faults
    exploded = truth.select("*", F.explode("injected_faults").alias("fault"))
    counts = {
        r["kind"]: r["n"]
        for r in exploded.groupBy(F.split("fault", ":")[0].alias("kind")).agg(F.count("*").alias("n")).collect()
    }
    for name, rule in faults.items():
        expected = rule.rate * ROWS
        assert abs(counts.get(name, 0) - expected) <= 4 * expected**0.5 + 2, name
    checks = {
        "null_required:age": F.col("age").isNull(),
        "negative_balance:savings_balance": F.col("savings_balance") < 0,
        "impossible_age:age": F.col("age").isin([int(v) for v in faults["impossible_age"].values]),
        "unknown_category:region": F.col("region") == "??",
    }
    for fault, condition in checks.items():
        rows = exploded.where(F.col("fault") == fault)
        assert rows.count() > 0, fault
        assert rows.where(~condition).count() == 0, fault
    duplicates = truth.groupBy("customer_id").count().where("count > 1").count()
    assert duplicates == counts["duplicate_id"]


def test_ordinary_missingness_is_not_a_fault(truth: DataFrame) -> None:
    clean = truth.where(F.size("injected_faults") == 0)
    share = clean.agg(F.avg(F.col("income_band").isNull().cast("int"))).first()[0]
    assert share == pytest.approx(0.04, abs=0.01)


def test_drift_moves_segment_mix_and_columns(spark: SparkSession, spark_settings: Settings) -> None:
    spec = spark_settings.synthetic
    base = generate(spark, spec, 10_000, seed=3).combined
    drifted_rows = generate(spark, spec, 10_000, seed=3, drift=1.0).combined
    share = drifted_rows.agg(F.avg((F.col("true_segment") == "cash_advance_heavy").cast("int"))).first()[0]
    assert share == pytest.approx(spec.drift.segment_weights["cash_advance_heavy"], abs=0.02)
    median = "percentile_approx(monthly_purchases, 0.5)"
    same_segment = F.col("true_segment") == "premium_spender"
    ratio = (
        drifted_rows.where(same_segment).selectExpr(median).first()[0]
        / base.where(same_segment).selectExpr(median).first()[0]
    )
    assert ratio == pytest.approx(spec.drift.columns["monthly_purchases"].scale, rel=0.1)


def test_generate_stage_writes_separate_tables_and_records_bayes_auc(
    spark: SparkSession, lake_settings: Settings
) -> None:
    result = generate_stage.run(spark, lake_settings, rows=4000, seed=5)
    customers = lake.read_table(spark, "customers")
    truth = lake.read_table(spark, "customers_truth")
    assert customers.count() == truth.count() == 4000
    assert not {"true_segment", "true_probability", "injected_faults"} & set(customers.columns)
    assert list(customers.columns) == ["customer_id", *lake_settings.synthetic.columns, "is_affluent"]
    assert 0.8 < result.bayes_auc < 1.0
    assert generate_stage.bayes_auc(spark, "customers_truth") == pytest.approx(result.bayes_auc, abs=1e-6)
    outside = DeltaTable(lake.table_path(spark, "customers")).to_pandas()
    assert len(outside) == 4000
    assert outside["customer_id"].str.match(r"^C\d{9}$").all()


def test_cli_generate_in_process(spark: SparkSession, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from tests.conftest import REPO, TEST_OVERRIDES

    overrides = [arg for override in TEST_OVERRIDES for arg in ("--set", override)]
    code = main(
        [
            "--conf-dir",
            str(REPO / "conf"),
            "--set",
            f"project.work_dir={tmp_path}",
            *overrides,
            "generate",
            "--rows",
            "1500",
            "--seed",
            "9",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("generated 1,500 customers into customers (version 0)")
    assert "Bayes-optimal ROC AUC 0." in out
    assert main(["--conf-dir", str(REPO / "conf"), "generate", "--drift", "2"]) == 2
