"""The three monitoring tables, their schemas, and one score date's rows in them (each write replaces exactly that
score date's partition, so monitoring a date again is idempotent).

- profile (`monitoring.profile_table`): Lakehouse Monitoring's profile metrics table, per score date: one row per
  (column, slice) plus the `:table` rows; the whole table's `:table` row carries model versions and quality.
- drift (`monitoring.drift_table`): per (column, slice, drift_type baseline|consecutive) the statistics, status.
- alerts (`monitoring.alerts_table`): each statistic at or over its alert level, with the recommendation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from customer_ml import lake
from customer_ml.monitoring.inputs import Models, ScoredDate
from customer_ml.monitoring.policy import Alert, DriftRecord
from customer_ml.monitoring.profile import FREQUENT_ITEM, TABLE_ROW, ProfileRow
from customer_ml.monitoring.quality_check import FIGURES, ModelQuality
from customer_ml.scoring import SCORE_DATE
from customer_ml.settings import Settings

GRANULARITY = "score date"


def _fields(*pairs: tuple[str, T.DataType]) -> list[T.StructField]:
    return [T.StructField(name, kind) for name, kind in pairs]


_S, _L, _D = T.StringType(), T.LongType(), T.DoubleType()
PROFILE_SCHEMA = T.StructType(
    _fields(
        ("granularity", _S),
        ("slice_key", _S),
        ("slice_value", _S),
        ("column_name", _S),
        ("data_type", _S),
        ("count", _L),
        ("num_nulls", _L),
        ("percent_null", _D),
        ("num_zeros", _L),
        ("percent_zeros", _D),
        ("distinct_count", _L),
        ("percent_distinct", _D),
        ("avg", _D),
        ("stddev", _D),
        ("min", _D),
        ("max", _D),
        ("median", _D),
        ("quantiles", T.ArrayType(_D)),
        ("frequent_items", T.ArrayType(FREQUENT_ITEM)),
        ("input_table", _S),
        ("input_version", _L),
        ("classifier_version", _S),
        ("segmenter_version", _S),
        ("quality_source", _S),
        ("labelled_rows", _L),
        ("roc_auc", _D),
        ("pr_auc", _D),
        ("recall", _D),
        ("precision", _D),
        ("positive_rate", _D),
        ("predicted_positive_rate", _D),
        ("training_roc_auc", _D),
        ("segment_fit_ratio", _D),
        (SCORE_DATE, T.DateType()),
    )
)
DRIFT_SCHEMA = T.StructType(
    _fields(
        ("granularity", _S),
        ("drift_type", _S),
        ("slice_key", _S),
        ("slice_value", _S),
        ("column_name", _S),
        ("data_type", _S),
        ("status", _S),
        ("psi", _D),
        ("ks", _D),
        ("ks_error", _D),
        ("wasserstein", _D),
        ("wasserstein_error", _D),
        ("js", _D),
        ("chi2_p", _D),
        ("reference_rows", _L),
        ("current_rows", _L),
        ("reference_null_share", _D),
        ("current_null_share", _D),
        ("reference", _S),
        ("current", _S),
        ("classifier_version", _S),
        ("segmenter_version", _S),
        (SCORE_DATE, T.DateType()),
    )
)
ALERT_SCHEMA = T.StructType(
    _fields(
        ("column_name", _S),
        ("drift_type", _S),
        ("statistic", _S),
        ("value", _D),
        ("alert_level", _D),
        ("recommendation", _S),
        ("detail", _S),
        (SCORE_DATE, T.DateType()),
    )
)


def write(
    spark: SparkSession,
    settings: Settings,
    date: ScoredDate,
    found: Models,
    profiled: Sequence[ProfileRow],
    records: Sequence[DriftRecord],
    statuses: Sequence[str],
    alerts: Sequence[Alert],
    quality: ModelQuality | None,
    fit: float | None,
) -> None:
    """Replace the score date's partition of the three tables (profile, drift, alerts: three commits)."""
    config, day = settings.monitoring, date.day
    versions = (found.classifier.version, found.segmenter.version if found.segmenter else None)
    model_part = (date.input.table, date.input.version, *versions)
    profile_rows = [_profile_row(r, model_part, quality, fit, day) for r in profiled]
    drift_rows = [_drift_row(r, s, versions, day) for r, s in zip(records, statuses, strict=True)]
    alert_rows = [
        (a.column, a.drift_type, a.statistic, a.value, a.level, a.recommendation, a.detail, day) for a in alerts
    ]
    for rows, schema, table in (
        (profile_rows, PROFILE_SCHEMA, config.profile_table),
        (drift_rows, DRIFT_SCHEMA, config.drift_table),
        (alert_rows, ALERT_SCHEMA, config.alerts_table),
    ):
        frame = spark.createDataFrame(rows, schema)
        lake.write_table(frame, table, mode="overwrite_partitions", partition_values={SCORE_DATE: day})


def _profile_row(
    row: ProfileRow, model_part: tuple, quality: ModelQuality | None, fit: float | None, day: dt.date
) -> tuple:
    whole_table = row.column_name == TABLE_ROW and row.slice_key is None
    figures: tuple = (None,) * (len(FIGURES) + 3)
    if whole_table and quality is not None:
        figures = (
            quality.source,
            quality.labelled_rows,
            *[quality.figure(name) for name in FIGURES],
            quality.training.get("test_roc_auc"),
        )
    figures = (*figures, fit if whole_table else None)
    items = [(str(item) if item is not None else None, int(n), float(share)) for item, n, share in row.frequent_items]
    return (
        GRANULARITY,
        row.slice_key,
        row.slice_value,
        row.column_name,
        row.data_type,
        row.count,
        row.num_nulls,
        row.percent_null,
        row.num_zeros,
        row.percent_zeros,
        row.distinct_count,
        row.percent_distinct,
        row.avg,
        row.stddev,
        row.min,
        row.max,
        row.median,
        row.quantiles,
        items or None,
        *(model_part if whole_table else (None,) * 4),
        *figures,
        day,
    )


def _drift_row(record: DriftRecord, status: str, versions: tuple, day: dt.date) -> tuple:
    stat = record.stat
    return (
        GRANULARITY,
        record.drift_type,
        record.slice_key,
        record.slice_value,
        stat.column,
        stat.kind,
        status,
        stat.psi,
        stat.ks,
        stat.ks_error,
        stat.wasserstein,
        stat.wasserstein_error,
        stat.js,
        stat.chi2_p,
        stat.reference_rows,
        stat.current_rows,
        stat.reference_null_share,
        stat.current_null_share,
        record.reference,
        record.current,
        *versions,
        day,
    )
