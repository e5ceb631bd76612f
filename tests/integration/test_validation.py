"""Validation: GX suites from conf, results kept, quarantine split exact, policies, and every early error."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.data import generate
from customer_ml.errors import ValidationError
from customer_ml.session import bind_settings
from customer_ml.settings import ExpectationSpec, Settings, SuiteSpec, ValidationSettings
from customer_ml.validation import gx_runner, rules, stage
from tests.conftest import make_settings

ROWS = [
    ("a", 30, "north", 10.0),
    ("b", None, "south", 5.0),  # null age -> quarantine
    ("c", 150, "east", 1.0),  # impossible age -> quarantine
    ("d", 40, "??", 2.0),  # unknown region -> quarantine
    ("e", 50, "west", -3.0),  # negative balance -> quarantine
    ("f", 60, "north", 1.0),  # duplicate id with the next row -> both quarantined
    ("f", 61, "north", 2.0),
    ("g", 70, None, None),  # nulls pass value rules
]
SCHEMA = "id string, age int, region string, balance double"


def rule(expectation: str, severity: str = "quarantine", **kwargs: object) -> ExpectationSpec:
    return ExpectationSpec(expectation=expectation, kwargs=kwargs, severity=severity)


QUARANTINE_RULES = [
    rule("expect_column_values_to_not_be_null", column="age"),
    rule("expect_column_values_to_be_between", column="age", min_value=18, max_value=110),
    rule("expect_column_values_to_be_in_set", column="region", value_set=["north", "south", "east", "west"]),
    rule("expect_column_values_to_be_between", column="balance", min_value=0),
    rule("expect_column_values_to_be_unique", column="id"),
]


def settings_with_suite(
    spark: SparkSession, tmp_path: Path, expectations: list[ExpectationSpec], schema: dict[str, str] | None = None
) -> Settings:
    settings = make_settings(
        tmp_path / "work",
        "tables.t.path=t",
        "tables.t_validated.path=t_validated",
        "tables.t_quarantine.path=t_quarantine",
    )
    suite = SuiteSpec(key="id", schema=schema or {"id": "string", "age": "int"}, expectations=expectations)
    settings = settings.model_copy(update={"validation": ValidationSettings(suites={"t": suite})})
    bind_settings(spark, settings, engine="delta-rs")
    return settings


def test_split_is_exact_and_loses_nothing(spark: SparkSession) -> None:
    frame = spark.createDataFrame(ROWS, SCHEMA)
    validated, quarantined = rules.split(frame, QUARANTINE_RULES, "run-1")
    assert_df_equality(validated, spark.createDataFrame([ROWS[0], ROWS[7]], SCHEMA), ignore_row_order=True)
    violations = {(r["id"], r["age"]): sorted(r[rules.VIOLATIONS]) for r in quarantined.collect()}
    assert violations == {
        ("b", None): ["expect_column_values_to_not_be_null(age)"],
        ("c", 150): ["expect_column_values_to_be_between(age)"],
        ("d", 40): ["expect_column_values_to_be_in_set(region)"],
        ("e", 50): ["expect_column_values_to_be_between(balance)"],
        ("f", 60): ["expect_column_values_to_be_unique(id)"],
        ("f", 61): ["expect_column_values_to_be_unique(id)"],
    }
    assert validated.count() + quarantined.count() == frame.count()
    assert {r[rules.RUN_ID] for r in quarantined.collect()} == {"run-1"}


def test_non_row_level_quarantine_rule_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"expect_column_mean_to_be_between cannot quarantine rows"):
        rules.passes(rule("expect_column_mean_to_be_between", column="age", min_value=1))


def test_stage_writes_results_split_and_data_docs(spark: SparkSession, tmp_path: Path) -> None:
    expectations = [
        *QUARANTINE_RULES,
        rule("expect_column_values_to_match_regex", "warn", column="id", regex="^[a-e]$"),
        rule("expect_table_row_count_to_be_between", "error", min_value=1),
    ]
    settings = settings_with_suite(spark, tmp_path, expectations)
    lake.write_table(spark.createDataFrame(ROWS, SCHEMA), "t", mode="overwrite")
    report = stage.run(spark, settings, "t")
    assert (report.input_rows, report.validated_rows, report.quarantined_rows) == (8, 2, 6)
    assert report.warned == 1 and report.failed == [] and report.quarantine_failures == 5
    results = lake.read_table(spark, "validation_results").where(F.col("run_id") == report.run_id)
    assert results.count() == len(expectations) + 1  # + the finite check of the double column `balance`
    finite = results.where("kwargs LIKE '%1.7976931348623157e+308%'").first()
    assert (finite["column"], finite["severity"], finite["success"]) == ("balance", "quarantine", True)
    unique = results.where("expectation = 'expect_column_values_to_be_unique'").first()
    assert (unique["severity"], unique["success"], unique["element_count"], unique["unexpected_count"]) == (
        "quarantine",
        False,
        8,
        2,
    )
    assert results.where("severity = 'warn'").first()["success"] is False
    docs = Path(report.data_docs)
    assert docs.exists()
    assert any("t_suite" in p.read_text(errors="ignore") for p in docs.parent.rglob("*.html"))
    assert lake.read_table(spark, "t_validated").count() == 2


def test_error_severity_fails_after_recording_results(spark: SparkSession, tmp_path: Path) -> None:
    settings = settings_with_suite(
        spark, tmp_path, [rule("expect_column_values_to_not_be_null", "error", column="age")]
    )
    lake.write_table(spark.createDataFrame(ROWS, SCHEMA), "t", mode="overwrite")
    with pytest.raises(
        ValidationError, match=r"validation of t failed \(run \w+\): expect_column_values_to_not_be_null\(age\)"
    ):
        stage.run(spark, settings, "t")
    assert lake.read_table(spark, "validation_results").where("success = false").count() == 1
    assert not lake.table_exists(spark, "t_validated")


def test_schema_check_and_bad_suites_fail_before_gx(spark: SparkSession, tmp_path: Path) -> None:
    settings = settings_with_suite(
        spark, tmp_path, QUARANTINE_RULES, schema={"id": "string", "age": "bigint", "segment": "string"}
    )
    lake.write_table(spark.createDataFrame(ROWS, SCHEMA), "t", mode="overwrite")
    with pytest.raises(ValidationError, match=r"column age is int, expected bigint; missing column segment \(string\)"):
        stage.run(spark, settings, "t")
    assert not lake.table_exists(spark, "validation_results")
    settings = settings_with_suite(spark, tmp_path, [rule("expect_column_values_to_be_purple", "warn", column="id")])
    with pytest.raises(ValidationError, match=r"unknown GX expectation 'expect_column_values_to_be_purple'"):
        stage.run(spark, settings, "t")


def test_a_table_without_a_suite_gets_the_generic_checks_and_non_finite_numbers_are_quarantined(
    spark: SparkSession, tmp_path: Path
) -> None:
    """No suite configured: rows > 0, the key (data.id_column) present and unique, and NaN / ±Infinity in any
    double column quarantined — they pass `>= 0` range rules and must never reach a model."""
    settings = make_settings(tmp_path / "work", "tables.t.path=t", "data.id_column=id", "validation.suites={}")
    bind_settings(spark, settings, engine="delta-rs")
    rows = [
        ("a", 1, 10.0),
        ("b", 2, float("nan")),
        ("c", 3, float("inf")),
        ("d", 4, float("-inf")),
        ("e", 5, None),  # null is not non-finite
        ("e", 6, 1.0),  # duplicate key -> both quarantined
        (None, 7, 2.0),  # no key
    ]
    lake.write_table(spark.createDataFrame(rows, "id string, n int, x double"), "t", mode="overwrite")
    report = stage.run(spark, settings, "t")
    assert report.generic and (report.input_rows, report.validated_rows, report.quarantined_rows) == (7, 1, 6)
    quarantined = {r["n"]: sorted(r[rules.VIOLATIONS]) for r in lake.read_table(spark, "t_quarantine").collect()}
    assert quarantined == {
        2: ["finite(x)"],
        3: ["finite(x)"],
        4: ["finite(x)"],
        5: ["expect_column_values_to_be_unique(id)"],
        6: ["expect_column_values_to_be_unique(id)"],
        7: ["expect_column_values_to_not_be_null(id)"],
    }
    assert [r["n"] for r in lake.read_table(spark, "t_validated").collect()] == [1]

    warn_only = make_settings(
        tmp_path / "work", "tables.t.path=t", "data.id_column=id", "validation.suites={}", "validation.non_finite=warn"
    )
    bind_settings(spark, warn_only, engine="delta-rs")
    assert stage.run(spark, warn_only, "t").quarantined_rows == 3  # only the key rules quarantine now


@pytest.mark.slow
def test_synthetic_base_quarantines_exactly_the_injected_faults(spark: SparkSession, lake_settings: Settings) -> None:
    generate.run(spark, lake_settings, rows=8000, seed=21)
    report = stage.run(spark, lake_settings, "customers")
    assert report.validated_rows + report.quarantined_rows == report.input_rows == 8000
    truth = lake.read_table(spark, "customers_truth")
    faulty = {r[0] for r in truth.where(F.size("injected_faults") > 0).select("customer_id").collect()}
    quarantined = {r[0] for r in lake.read_table(spark, "customers_quarantine").select("customer_id").collect()}
    assert faulty and quarantined == faulty
    validated_ids = {r[0] for r in lake.read_table(spark, "customers_validated").select("customer_id").collect()}
    assert not validated_ids & faulty


def test_rows_without_the_label_column_skip_only_the_label_rules(spark: SparkSession, tmp_path: Path) -> None:
    """Rows to score arrive before their outcome: the suite's schema and rules on the label go, the rest hold."""
    settings = make_settings(
        tmp_path / "work",
        "tables.t.path=t",
        "data.id_column=id",
        "data.label={column: y, positive: 'Yes'}",
        "validation.suites.t={schema: {id: string, n: int, y: string}, expectations: ["
        "{expectation: expect_column_values_to_be_in_set, kwargs: {column: y, value_set: ['Yes', 'No']}, "
        "severity: quarantine}, {expectation: expect_column_values_to_be_between, kwargs: {column: n, min_value: 0}, "
        "severity: quarantine}]}",
    )
    bind_settings(spark, settings, engine="delta-rs")
    lake.write_table(spark.createDataFrame([("a", 1), ("b", -1)], "id string, n int"), "t", mode="overwrite")
    report = stage.run(spark, settings, "t")
    assert (report.validated_rows, report.quarantined_rows) == (1, 1)
    [bad] = lake.read_table(spark, "t_quarantine").collect()
    assert bad["id"] == "b" and bad[rules.VIOLATIONS] == ["expect_column_values_to_be_between(n)"]
    frame = spark.createDataFrame([("a", 1)], "id string, n bigint")
    lake.write_table(frame, "t", mode="overwrite", schema_mode="overwrite")
    with pytest.raises(ValidationError, match=r"column n is bigint, expected int"):  # the other columns still checked
        stage.run(spark, settings, "t")


@pytest.mark.parametrize("examples", [0, 3])
def test_failing_values_reach_data_docs_only_when_asked(spark: SparkSession, tmp_path: Path, examples: int) -> None:
    """`validation.unexpected_examples`: 0 (the default) counts failures without GX's example pass; n lists them."""
    frame = spark.createDataFrame(ROWS, SCHEMA)
    suite = SuiteSpec(key="id", schema={"id": "string", "age": "int"}, expectations=[QUARANTINE_RULES[1]])
    (result,), docs = gx_runner.validate(frame, "t", suite, tmp_path / "gx", examples)
    assert (result.success, result.element_count, result.unexpected_count) == (False, 8, 1)
    (page,) = docs.parent.glob("validations/t_suite/**/*.html")
    assert ("150" in page.read_text()) is (examples > 0)  # the impossible age, in GX's "sample unexpected values"
