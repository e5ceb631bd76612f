"""The `validate` stage: schema check, GX suite, results table, quarantine split, Data Docs, policies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from customer_ml import lake
from customer_ml.errors import TableNotFoundError, ValidationError
from customer_ml.logs import job_context, stage
from customer_ml.settings import Settings
from customer_ml.validation import gx_runner, rules

logger = logging.getLogger(__name__)

RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("table_name", T.StringType()),
        T.StructField("table_version", T.LongType()),
        T.StructField("expectation", T.StringType()),
        T.StructField("column", T.StringType()),
        T.StructField("kwargs", T.StringType()),
        T.StructField("severity", T.StringType()),
        T.StructField("success", T.BooleanType()),
        T.StructField("element_count", T.LongType()),
        T.StructField("unexpected_count", T.LongType()),
        T.StructField("unexpected_percent", T.DoubleType()),
        T.StructField("observed_value", T.StringType()),
        T.StructField("validated_at", T.TimestampType()),
    ]
)


@dataclass(frozen=True)
class ValidationReport:
    run_id: str
    table: str
    input_rows: int
    validated_rows: int
    quarantined_rows: int
    passed: int
    warned: int
    quarantine_failures: int
    failed: list[str]
    data_docs: str
    generic: bool = False  # no suite was configured: the generic checks ran


def run(spark: SparkSession, settings: Settings, table: str, suite_of: str | None = None) -> ValidationReport:
    """Validate `table` with `validation.suites.<table>` and write results, `<table>_validated`, `<table>_quarantine`.

    Raises:
        ValidationError: the schema check fails (before GX runs), the suite is invalid, or an `error`-severity
            expectation fails (after the results are written; the validated table is then not replaced).
    """
    suite_name = suite_of or table
    configured = settings.validation.suites.get(suite_name)
    if suite_of and configured is None:
        raise ValidationError(
            f"--suite {suite_of}: no suite validation.suites.{suite_of} (suites: "
            f"{', '.join(settings.validation.suites) or 'none'})"
        )
    suite = configured or rules.generic_suite(settings.data.id_column)
    run_id = uuid.uuid4().hex
    with stage("validate") as record, job_context(run_id=run_id):
        try:
            frame, version = lake.read_snapshot(spark, table)
        except TableNotFoundError as error:
            raise TableNotFoundError(
                f"{error} (`customer-ml ingest --table {table}` writes it; `ingest --path FILE --table {table}` from "
                "another file of a source's layout)"
            ) from None
        if configured is None:
            logger.warning(
                "validate: no suite for table %s (validation.suites: %s): generic checks only (rows > 0%s, "
                "NaN/Infinity %s); --suite TABLE uses another table's, `customer-ml init` proposes one",
                table,
                ", ".join(settings.validation.suites) or "none",
                f", {suite.key} present and unique" if suite.key else "; set data.id_column to check the key",
                settings.validation.non_finite,
            )
        label = settings.data.label.column if settings.data.label else None
        if label and label not in frame.columns:
            logger.info("validate: %s has no label column %s (rows to score): its rules are skipped", table, label)
        suite = rules.without_absent_label(suite, frame, label)
        suite = rules.with_finite_checks(suite, frame, settings.validation.non_finite)
        problems = rules.schema_differences(frame, suite)
        if problems:
            raise ValidationError(f"table {table} does not have the schema its suite requires: {'; '.join(problems)}")
        quarantine_rules = [e for e in suite.expectations if e.severity == "quarantine"]
        for rule in quarantine_rules:
            rules.passes(rule)  # fails fast on a non-row-level quarantine rule, before any work
        input_rows = record.count("input", frame.count())  # the input must read before anything is recorded
        try:
            results, docs = gx_runner.validate(
                frame, table, suite, settings.reports_dir / "gx", settings.validation.unexpected_examples
            )
            logger.info("validate: Data Docs at %s", docs)
            _write_results(spark, settings.validation.results_table, run_id, table, version, results)
            failed = [
                f"{r.expectation}({r.column})" if r.column else r.expectation
                for r in results
                if r.severity == "error" and not r.success
            ]
            if failed:
                raise ValidationError(f"validation of {table} failed (run {run_id}): {', '.join(failed)}")
            validated, quarantined = rules.split(frame, quarantine_rules, run_id)
            lake.write_table(quarantined, f"{table}_quarantine", mode="append", schema_mode="merge")
            lake.write_table(validated, f"{table}_validated", mode="overwrite", schema_mode="overwrite")
            validated_rows = record.count("validated", lake.read_table(spark, f"{table}_validated").count())
            this_run = lake.read_table(spark, f"{table}_quarantine").where(f"{rules.RUN_ID} = '{run_id}'")
            quarantined_rows = record.count("quarantined", this_run.count())
            if validated_rows + quarantined_rows != input_rows:
                raise ValidationError(
                    f"validation of {table} lost rows: {input_rows} in, {validated_rows} validated + "
                    f"{quarantined_rows} quarantined; this is a bug, please report it"
                )
        finally:
            frame.unpersist()  # GX persists the batch it checks; released here, not at session end
    warned = [r for r in results if r.severity == "warn" and not r.success]
    for result in warned:
        logger.warning(
            "validate: warning: %s(%s) failed: %s unexpected",
            result.expectation,
            result.column,
            result.unexpected_count,
        )
    report = ValidationReport(
        run_id,
        table,
        input_rows,
        validated_rows,
        quarantined_rows,
        passed=sum(r.success for r in results),
        warned=len(warned),
        quarantine_failures=sum(1 for r in results if r.severity == "quarantine" and not r.success),
        failed=failed,
        data_docs=str(docs),
        generic=configured is None,
    )
    logger.info(
        "validate %s: %d passed, %d warned, %d quarantine rules hit (%d rows quarantined), %d failed",
        table,
        report.passed,
        report.warned,
        report.quarantine_failures,
        quarantined_rows,
        len(failed),
    )
    return report


def _write_results(
    spark: SparkSession,
    results_table: str,
    run_id: str,
    table: str,
    version: int,
    results: list[gx_runner.ExpectationResult],
) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        (
            run_id,
            table,
            version,
            *dataclasses.astuple(r)[:2],
            r.kwargs,
            r.severity,
            r.success,
            r.element_count,
            r.unexpected_count,
            r.unexpected_percent,
            r.observed_value,
            now,
        )
        for r in results
    ]
    lake.write_table(spark.createDataFrame(rows, RESULTS_SCHEMA), results_table, mode="append")
