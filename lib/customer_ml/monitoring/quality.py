"""The classifier's quality per score date: measured from late labels, or estimated from calibrated scores.

Measured (`labelled_quality`): the scored partition joined with the outcomes (`read_labels`, from
`monitoring.labels` in conf) by id; ROC AUC, PR AUC, recall, precision, positive rate and predicted-positive rate at
the stored threshold on the scored rows that got a label. Estimated (`estimated_quality`, NannyML's CBPE): each
row's calibrated probability p (monitoring/calibration.py) stands for its unknown label, so the expected true
positives are the sum of p over the rows predicted positive, the expected false positives the sum of 1 - p there,
the expected false negatives the sum of p over the rest, and the expected ROC / PR curves come from the expected
positives and negatives per distinct score. That holds while the calibration does (covariate shift, no concept
drift). Both are one Spark aggregation per distinct score (evaluation.py does the arithmetic on the driver), and
both compare with the training run's test figures (`training_quality`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml import evaluation, lake, tracking
from customer_ml.columns import SCORE, is_number, label_expression
from customer_ml.errors import ConfigError, MonitoringError
from customer_ml.features import quote
from customer_ml.monitoring.calibration import CALIBRATION_ARTIFACT, Calibration, load_calibration
from customer_ml.settings import DataSpec, LabelColumn, LabelsSettings, Settings

logger = logging.getLogger(__name__)

__all__ = [
    "CALIBRATION_ARTIFACT",
    "LABEL",
    "TRAINING_FIGURES",
    "Calibration",
    "Quality",
    "estimated_quality",
    "labelled_quality",
    "latest_label",
    "load_calibration",
    "read_labels",
    "training_quality",
]

LABEL = "_label"
TRAINING_FIGURES = ("test_roc_auc", "test_pr_auc", "test_recall", "test_precision", "test_positive_rate")
_DATE = "_outcome_date"


@dataclass(frozen=True)
class Quality:
    """The classifier's figures on one score date's scored rows. A figure that is undefined on them (an AUC
    without both classes, a precision without predicted positives) is NaN.

    Attributes:
        method: `measured` (from labels) or `estimated` (CBPE, from calibrated probabilities).
        rows: the scored rows of the date.
        labelled_rows: the scored rows that got a label, which the measured figures rest on (0 when estimated:
            the estimate rests on all `rows`).
        threshold: the stored decision threshold (predicted positive when score >= threshold).
        positive_rate: the share of positives (expected share when estimated).
        predicted_positive_rate: the share of rows at or over the threshold.
    """

    method: Literal["measured", "estimated"]
    rows: int
    labelled_rows: int
    threshold: float
    roc_auc: float
    pr_auc: float
    recall: float
    precision: float
    positive_rate: float
    predicted_positive_rate: float

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (for a table row or an MLflow log)."""
        return asdict(self)


def labelled_quality(scored_partition: DataFrame, labels: DataFrame, id_column: str, threshold: float) -> Quality:
    """Measured quality of one score date: the scored rows (id, `score`) joined with `labels` (id, `_label` 0/1)
    by id, figures on the rows with a label; how many got one is `labelled_rows` (logged).

    A left join aggregated per distinct score (scored rows, labelled rows, positives), so the number of scored
    rows comes with the same single job; `labels` must hold one row per id (`read_labels` gives that).

    Raises:
        MonitoringError: the partition holds no scored rows.
    """
    per_score = (
        scored_partition.select(F.col(quote(id_column)), F.col(SCORE))
        .join(labels.select(F.col(quote(id_column)), F.col(LABEL)), on=id_column, how="left")
        .groupBy(F.round(F.col(SCORE).cast("double"), evaluation.SCORE_DECIMALS).alias("score"))
        .agg(
            F.count(F.lit(1)).alias("scored"),
            F.count(F.col(LABEL)).alias("rows"),
            F.coalesce(F.sum(F.col(LABEL)), F.lit(0.0)).alias("positives"),
        )
        .toPandas()
    )
    rows = int(per_score["scored"].sum())
    if rows == 0:
        raise MonitoringError("no scored rows to measure quality on: the scored partition is empty")
    counts = evaluation.counts_from_pandas(per_score[per_score["rows"] > 0])
    labelled = int(counts.total_rows)
    logger.info("quality: %d of %d scored rows have a label (%.1f %%)", labelled, rows, 100 * labelled / rows)
    return _quality(counts, threshold, "measured", rows, labelled)


def estimated_quality(scored_partition: DataFrame, calibration: Calibration, threshold: float) -> Quality:
    """Estimated quality of one score date without labels (CBPE): each row's calibrated probability summed per
    distinct score is its expected positives, and the figures follow from those expected counts.

    Raises:
        MonitoringError: the partition holds no scored rows.
    """
    probable = scored_partition.select(
        F.col(SCORE),
        calibration.column(F.col(SCORE)).alias(LABEL),
    )
    counts = evaluation.score_counts(probable, SCORE, LABEL)
    if counts.total_rows == 0:
        raise MonitoringError("no scored rows to estimate quality on: the scored partition is empty")
    return _quality(counts, threshold, "estimated", int(counts.total_rows), 0)


def _quality(
    counts: evaluation.ScoreCounts, threshold: float, method: Literal["measured", "estimated"], rows: int, labelled: int
) -> Quality:
    """The figures of (possibly fractional) per-score counts; NaN where undefined, all NaN without rows."""
    total, positives = counts.total_rows, counts.total_positives
    if total == 0:
        return Quality(method, rows, labelled, threshold, *[math.nan] * 6)
    matrix = evaluation.confusion(counts, threshold)
    predicted = matrix["tp"] + matrix["fp"]
    both = 0 < positives < total
    return Quality(
        method=method,
        rows=rows,
        labelled_rows=labelled,
        threshold=threshold,
        roc_auc=evaluation.roc_auc(counts) if both else math.nan,
        pr_auc=evaluation.pr_auc(counts) if positives > 0 else math.nan,
        recall=matrix["recall"] if positives > 0 else math.nan,
        precision=matrix["precision"] if predicted > 0 else math.nan,
        positive_rate=positives / total,
        predicted_positive_rate=predicted / total,
    )


def read_labels(spark: SparkSession, settings: Settings, score_date: dt.date) -> DataFrame:
    """The outcomes `monitoring.labels` names that count for `score_date`: (data.id_column, `_label` 0.0 / 1.0),
    one row per customer (see `LabelsSettings` for the date window and which outcome wins).

    Raises:
        ConfigError: `monitoring.labels` is not set, its table is not configured or does not exist, or a column
            it names is missing (each named, with the columns the table has) or does not fit its value.
    """
    labels = settings.monitoring.labels
    if labels is None:
        raise ConfigError(
            "monitoring.labels is not set: name the table with the outcomes, e.g. monitoring.labels: "
            "{table: outcomes, id_column: client_no, label_column: upgraded, positive: 1}"
        )
    id_column, label_column, positive = labels.columns(settings.data)
    frame = _labels_table(spark, settings, labels.table)
    _check_columns(frame.schema, labels, id_column, label_column, positive)
    spec = DataSpec(label=LabelColumn(column=label_column, positive=positive))
    within = f"dated after {score_date} by at most {labels.horizon_days} days" if labels.date_column else "all"
    logger.info("labels for %s: %s of table %s (%s = %r)", score_date, within, labels.table, label_column, positive)
    target = settings.data.require_id()
    outcomes = frame.select(
        F.col(quote(id_column)).alias(target),
        label_expression(spec, frame.schema).alias(LABEL),
        _outcome_date(labels, score_date).alias(_DATE),
    )
    return outcomes.where(F.col(_DATE).isNotNull() & F.col(LABEL).isNotNull()).transform(latest_label(target))


def latest_label(id_column: str) -> Callable[[DataFrame], DataFrame]:
    """(id, `_label`, `_outcome_date`) rows -> one (id, `_label`) per id: the label of its latest date, and no row
    for an id whose labels on that date disagree. One aggregation by id: the highest label and the lowest (as
    1 - label) of the latest date, via the maximum of (date, label) structs."""

    def one_per_id(outcomes: DataFrame) -> DataFrame:
        return (
            outcomes.groupBy(F.col(quote(id_column)))
            .agg(
                F.max(F.struct(F.col(_DATE), F.col(LABEL))).alias("_highest"),
                F.max(F.struct(F.col(_DATE), (1.0 - F.col(LABEL)).alias("_complement"))).alias("_lowest"),
            )
            .where(F.col("_highest")[LABEL] == 1.0 - F.col("_lowest")["_complement"])
            .select(F.col(quote(id_column)), F.col("_highest")[LABEL].alias(LABEL))
        )

    return one_per_id


def training_quality(settings: Settings, run_id: str) -> dict[str, float]:
    """The training run's test figures (`TRAINING_FIGURES`, and `test_predicted_positive_rate` from its test
    confusion matrix) to compare a date's `Quality` with.

    Raises:
        MonitoringError: the run lacks one of them (named).
    """
    metrics = tracking.client(settings).get_run(run_id).data.metrics
    missing = [name for name in (*TRAINING_FIGURES, "test_tp", "test_fp", "test_tn", "test_fn") if name not in metrics]
    if missing:
        raise MonitoringError(
            f"training run {run_id} has no {', '.join(missing)}: it is not a train-classifier run of this version "
            "of customer-ml; retrain the classifier"
        )
    figures = {name: float(metrics[name]) for name in TRAINING_FIGURES}
    predicted = metrics["test_tp"] + metrics["test_fp"]
    figures["test_predicted_positive_rate"] = predicted / (predicted + metrics["test_tn"] + metrics["test_fn"])
    return figures


def _labels_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """The labels table, or a one-line error naming the tables there are."""
    if table not in settings.tables or not lake.table_exists(spark, table):
        found = ", ".join(lake.tables_under_root(settings.lake_root)) or "none"
        state = "is not configured" if table not in settings.tables else "does not exist yet"
        raise ConfigError(
            f"monitoring.labels.table: table '{table}' {state} (tables in the lake: {found}); point it at the "
            f"outcomes table, configured under tables: (tables.{table}.path)"
        )
    return lake.read_table(spark, table)


def _check_columns(
    schema: T.StructType, labels: LabelsSettings, id_column: str, label_column: str, positive: object
) -> None:
    """Every column the labels conf names is in the table and fits: the date a date, a number positive for a
    numeric outcome column."""
    named = {"id_column": id_column, "label_column": label_column, "date_column": labels.date_column}
    columns = schema.fieldNames()
    for key, column in named.items():
        if column is not None and column not in columns:
            raise ConfigError(
                f"monitoring.labels.{key}: table {labels.table} has no column {column}; set it to one of "
                f"{', '.join(columns)}"
            )
    if labels.date_column and not isinstance(schema[labels.date_column].dataType, _DATE_TYPES):
        raise ConfigError(
            f"monitoring.labels.date_column: {labels.date_column} of table {labels.table} is "
            f"{schema[labels.date_column].dataType.simpleString()}; name a date, timestamp or ISO-date string column"
        )
    outcome_type = schema[label_column].dataType
    if not isinstance(outcome_type, T.StringType) and not is_number(positive):
        raise ConfigError(
            f"monitoring.labels.positive is {positive!r} but {label_column} of table {labels.table} is "
            f"{outcome_type.simpleString()}; set monitoring.labels.positive to the number that means positive"
        )


_DATE_TYPES = (T.DateType, T.TimestampType, T.TimestampNTZType, T.StringType)


def _outcome_date(labels: LabelsSettings, score_date: dt.date) -> Column:
    """The outcome's date when it counts for `score_date` (after it, within the horizon), else null; the score date
    itself for every row when the table has no dates."""
    if labels.date_column is None:
        return F.lit(score_date)
    day = F.to_date(F.col(quote(labels.date_column)))
    last = score_date + dt.timedelta(days=labels.horizon_days)
    return F.when((day > F.lit(score_date)) & (day <= F.lit(last)), day)
