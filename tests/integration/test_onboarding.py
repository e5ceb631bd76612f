"""`customer-ml init` on real files: the overlay it writes loads into Settings and ingests, byte for byte again."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml.config import load_settings
from customer_ml.data import ingest, onboarding
from customer_ml.errors import ConfigError
from customer_ml.lake.sources import read_source
from customer_ml.settings import Settings
from tests.conftest import REPO

HEADER = "customer_id,Full Name,plan_code,monthly_charges,tenure,senior,payment,churn"
PAYMENTS = ['"bank transfer, automatic"', "card", "check"]


def customers_csv(path: Path) -> str:
    """40 customers: row 3's name is quoted with a comma and doubled quotes, row 7's charge is a blank ( )."""
    lines = [HEADER]
    for i in range(40):
        name = '"Smith, John ""JJ"""' if i == 3 else f"Person {i:02d}"
        charge = " " if i == 7 else f"{20 + i * 2.5:.2f}"
        churn = "Yes" if i % 4 == 0 else "No"
        lines.append(f"{1001 + i},{name},{i % 4 + 1},{charge},{i * 3},{i % 2},{PAYMENTS[i % 3]},{churn}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def init(spark: SparkSession, source: str, output: Path, **changes: object) -> onboarding.InitReport:
    arguments = {"fmt": "csv", "id_column": "customer_id", "label": "churn", "positive": "Yes", "name": "telco_test"}
    return onboarding.run(spark, source=source, output=output, **{**arguments, **changes})


def overlay_settings(overlay: Path, tmp_path: Path) -> Settings:
    return load_settings(
        "local", conf_dir=REPO / "conf", overlays=[overlay], overrides=[f"project.work_dir={tmp_path / 'work'}"]
    )


def test_init_writes_an_overlay_that_loads_and_ingests(spark: SparkSession, tmp_path: Path) -> None:
    source, output = customers_csv(tmp_path / "customers.csv"), tmp_path / "telco_test.yml"
    report = init(spark, source, output)

    assert (report.path, report.changed) == (output, True)
    assert report.summary[3:6] == [
        "customer_id: int -> id (40 distinct of 40 rows)",
        'label churn (string): 25.0% "Yes" of 40 rows',
        "full_name: string -> excluded from features (id-like: ~38 distinct of 40 values)",
    ]
    assert (
        "monthly_charges: double (1 blank value read as null) 20..117.5 -> numeric; suite: 10.2..127.3 (warn), "
        ">= 0 (quarantine)"
    ) in report.summary
    settings = overlay_settings(output, tmp_path)
    spec = settings.ingest.sources["telco_test"]
    assert spec.casts == {
        "customer_id": "int",
        "plan_code": "int",
        "monthly_charges": "double",
        "tenure": "int",
        "senior": "int",
    }
    assert spec.rename == {"Full Name": "full_name"}
    assert settings.data.label is not None and settings.data.label.positive == "Yes"
    assert isinstance(settings.data.label.positive, str)
    assert settings.classifier.features.categorical == ["plan_code", "payment"]
    assert settings.classifier.features.exclude == ["full_name"]
    assert settings.segmenter.features.include == ["monthly_charges", "tenure", "senior"]
    suite = settings.validation.suites["customers"]
    assert suite.schema_ == {
        "customer_id": "int",
        "full_name": "string",
        "plan_code": "int",
        "monthly_charges": "double",
        "tenure": "int",
        "senior": "int",
        "payment": "string",
        "churn": "string",
    }
    payment = [e for e in suite.expectations if e.kwargs.get("column") == "payment"]
    assert [(e.kwargs["value_set"], e.severity) for e in payment] == [
        (["bank transfer, automatic", "card", "check"], "warn")
    ]

    read = read_source(spark, "telco_test", spec.format, spec.path, spec.options)
    customers = ingest.prepare(read, "telco_test", spec, settings.ingest_key)
    expected = spark.createDataFrame(
        [
            (1004, 'Smith, John "JJ"', 4, 27.5, 9, 1, "bank transfer, automatic", "No"),
            (1008, "Person 07", 4, None, 21, 1, "card", "No"),
        ],
        "customer_id int, full_name string, plan_code int, monthly_charges double, tenure int, senior int, "
        "payment string, churn string",
    )
    assert_df_equality(
        customers.where(F.col("customer_id").isin(1004, 1008)), expected, ignore_row_order=True, ignore_nullable=True
    )

    written = output.read_bytes()
    again = init(spark, source, output)
    assert (again.changed, output.read_bytes()) == (False, written)


def test_init_refuses_what_it_cannot_decide(spark: SparkSession, tmp_path: Path) -> None:
    source, output = customers_csv(tmp_path / "customers.csv"), tmp_path / "telco_test.yml"
    with pytest.raises(ConfigError) as wrong_positive:
        init(spark, source, output, positive="yes")
    assert str(wrong_positive.value) == (
        '--positive yes: label column churn holds "No", "Yes" (values compare exactly, case included)'
    )
    assert not output.exists()
    with pytest.raises(ConfigError) as missing:
        init(spark, source, output, id_column="cust_id")
    assert str(missing.value) == f"--id cust_id: no such column in {source}; its columns: {HEADER.replace(',', ', ')}"
    with pytest.raises(
        ConfigError, match=r"--name Telco-Test: use lower-case letters, digits and _ \(e.g. telco_test\)"
    ):
        init(spark, source, output, name="Telco-Test")

    output.write_text("# my edits\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="telco_test.yml exists and differs .*; --force replaces it"):
        init(spark, source, output)
    assert output.read_text(encoding="utf-8") == "# my edits\n"
    assert init(spark, source, output, force=True).changed
    assert output.read_text(encoding="utf-8").startswith(
        "# Dataset overlay for telco_test, written by `customer-ml init`"
    )


def test_quoted_blanks_keep_a_numeric_column_as_text_so_ingest_still_passes(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = tmp_path / "quoted.csv"
    source.write_text('id,amount,churn\n1,10.5,Yes\n2,"  ",No\n3,7,No\n', encoding="utf-8")
    report = init(spark, str(source), tmp_path / "quoted.yml", id_column="id")
    settings = overlay_settings(report.path, tmp_path)
    spec = settings.ingest.sources["telco_test"]
    assert spec.casts == {"id": "int"}
    assert (
        "amount: string (1 quoted blank value kept: ingest cannot cast them, so the column stays text) with 3 values "
        "-> categorical, value set in the suite (warn)"
    ) in report.summary
    read = read_source(spark, "telco_test", spec.format, spec.path, spec.options)
    amounts = ingest.prepare(read, "telco_test", spec, "id").orderBy("id").select("amount").collect()
    assert [row["amount"] for row in amounts] == ["10.5", "  ", "7"]


def test_parquet_keeps_its_types_and_renames_for_delta(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "accounts"
    spark.createDataFrame(
        [(1, "north east", 2.5, 1), (2, "south", None, 0), (3, "south", 7.25, 0)],
        "id bigint, `Home Region` string, balance double, churned int",
    ).write.parquet(str(folder))
    assert onboarding.default_format(str(folder)) == "parquet"
    report = init(
        spark, str(folder), tmp_path / "accounts.yml", fmt="parquet", id_column="id", label="churned", positive="1"
    )
    settings = overlay_settings(report.path, tmp_path)
    spec = settings.ingest.sources["telco_test"]
    assert (spec.format, spec.options, spec.rename, spec.casts) == ("parquet", {}, {"Home Region": "home_region"}, {})
    assert settings.validation.suites["customers"].schema_ == {
        "id": "bigint",
        "home_region": "string",
        "balance": "double",
        "churned": "int",
    }
    assert settings.data.label is not None and settings.data.label.positive == 1
    assert "label churned (int): 33.3% 1 of 3 rows" in report.summary


def test_a_semicolon_csv_with_decimal_commas_in_quotes_is_read_by_its_separator(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Continental exports: `;` between fields, a comma inside a quoted text value."""
    source = tmp_path / "export.csv"
    source.write_text('id;segment;balance;churn\n1;"Retail, North";10.5;Yes\n2;Private;7;No\n3;Retail;;No\n')
    report = init(spark, str(source), tmp_path / "export.yml", id_column="id")
    assert "fields separated by ';' (--sep to change)" in report.summary
    settings = overlay_settings(report.path, tmp_path)
    spec = settings.ingest.sources["telco_test"]
    assert spec.options["sep"] == ";" and spec.casts == {"id": "int", "balance": "double"}
    read = read_source(spark, "telco_test", spec.format, spec.path, spec.options)
    rows = ingest.prepare(read, "telco_test", spec, "id").orderBy("id").collect()
    assert [(r["segment"], r["balance"]) for r in rows] == [("Retail, North", 10.5), ("Private", 7.0), ("Retail", None)]
