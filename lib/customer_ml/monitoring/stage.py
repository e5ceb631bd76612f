"""The `monitor` stage: how far a score date's input has drifted from the rows its classifier was trained on.

Reference: the exact table version the classifier version that scored the date was trained on (its MLflow run
records table and version; read by time travel). Current: the input snapshot that score date scored (the scoring
commit records table and version). Columns: the features that model version reads (its `input_columns` tag).
Writes one row per feature to `monitoring.drift_table` and one per alert to `monitoring.alerts_table`, both
replaced per score date; an alert is a statistic at or over its `alert` level in conf.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml import classifier, lake, tracking
from customer_ml.errors import CustomerMLError
from customer_ml.logs import job_context, stage
from customer_ml.monitoring.stats import DriftStat, frame_drift
from customer_ml.scoring import SCORE_DATE, resolve_model
from customer_ml.session import bind_settings
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

CATEGORICAL_TYPES = ("string", "boolean")
DRIFT_SCHEMA = T.StructType(
    [
        T.StructField("column_name", T.StringType()),
        T.StructField("kind", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("psi", T.DoubleType()),
        T.StructField("ks", T.DoubleType()),
        T.StructField("wasserstein", T.DoubleType()),
        T.StructField("js", T.DoubleType()),
        T.StructField("chi2_p", T.DoubleType()),
        T.StructField("reference_rows", T.LongType()),
        T.StructField("current_rows", T.LongType()),
        T.StructField("reference_null_share", T.DoubleType()),
        T.StructField("current_null_share", T.DoubleType()),
        T.StructField("reference_table", T.StringType()),
        T.StructField("reference_version", T.LongType()),
        T.StructField("current_table", T.StringType()),
        T.StructField("current_version", T.LongType()),
        T.StructField("classifier_version", T.StringType()),
        T.StructField(SCORE_DATE, T.DateType()),
    ]
)
ALERT_SCHEMA = T.StructType(
    [
        T.StructField("column_name", T.StringType()),
        T.StructField("statistic", T.StringType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("alert_level", T.DoubleType()),
        T.StructField("recommendation", T.StringType()),
        T.StructField(SCORE_DATE, T.DateType()),
    ]
)


@dataclass(frozen=True)
class Alert:
    column: str
    statistic: str
    value: float
    level: float
    recommendation: str


@dataclass(frozen=True)
class MonitorResult:
    score_date: dt.date
    reference: tuple[str, int]
    current: tuple[str, int]
    classifier_version: str
    stats: list[DriftStat]
    statuses: dict[str, str]
    alerts: list[Alert]


def run(spark: SparkSession, settings: Settings, score_date: dt.date | None = None) -> MonitorResult:
    """Compare the score date's input with the classifier's training rows; write the drift and alert tables.

    Raises:
        CustomerMLError: nothing scored for that date (or at all), or the scoring commit does not say what it read.
    """
    config, scored_table = settings.monitoring, settings.scoring.scored_table
    with stage("monitor") as record:
        if not lake.table_exists(spark, scored_table):
            raise CustomerMLError(f"no table {scored_table} yet: run `customer-ml score` before monitoring")
        scored = lake.read_table(spark, scored_table)
        day = score_date or scored.agg(F.max(SCORE_DATE)).first()[0]
        partition = scored.where(F.col(SCORE_DATE) == F.lit(day)) if day else scored.limit(0)
        versions = [r[0] for r in partition.select("classifier_version").distinct().collect()]
        if not versions:
            raise CustomerMLError(
                f"nothing scored for {day or 'any date'} in {scored_table}: run `customer-ml score --score-date "
                f"{day or 'YYYY-MM-DD'}` first"
            )
        model = resolve_model(settings, classifier.KIND, str(versions[0]))
        trained = tracking.client(settings).get_run(model.run_id).data.tags
        reference_at = (trained["input.table"], int(trained["input.version"]))
        current_at = _scored_input(spark, scored_table, day)
        # A table scoring or training was pointed at with --input-table / --table is in no conf: imply it here too.
        settings = settings.with_tables([reference_at[0], current_at[0]])
        bind_settings(spark, settings)
        reference = lake.read_table(spark, reference_at[0], version=reference_at[1])
        current = lake.read_table(spark, current_at[0], version=current_at[1])
        skip = {settings.data.id_column, settings.data.label.column if settings.data.label else None}
        columns = {c: t for c, t in model.input_columns.items() if c not in skip and c in current.columns}
        categorical = [c for c, t in columns.items() if t in CATEGORICAL_TYPES]
        numeric = [c for c in columns if c not in categorical]
        stats = frame_drift(reference, current, numeric, categorical)
        record.count("features", len(stats))
        statuses, alerts = _judge(stats, settings)
        rows = [_drift_row(s, statuses[s.column], reference_at, current_at, model.version, day) for s in stats]
        with job_context(job="monitor", score_date=day.isoformat()):
            lake.write_table(
                spark.createDataFrame(rows, DRIFT_SCHEMA),
                config.drift_table,
                mode="overwrite_partitions",
                partition_values={SCORE_DATE: day},
            )
            alert_rows = [(a.column, a.statistic, a.value, a.level, a.recommendation, day) for a in alerts]
            lake.write_table(
                spark.createDataFrame(alert_rows, ALERT_SCHEMA),
                config.alerts_table,
                mode="overwrite_partitions",
                partition_values={SCORE_DATE: day},
            )
        record.count("alerts", len(alerts))
    return MonitorResult(day, reference_at, current_at, model.version, stats, statuses, alerts)


def _scored_input(spark: SparkSession, scored_table: str, day: dt.date) -> tuple[str, int]:
    """The table and version the newest scoring of `day` read, from its commit."""
    for commit in lake.history(spark, scored_table):
        info = commit["info"]
        if info.get("customer_ml.score_date") == day.isoformat() and "customer_ml.input_table" in info:
            return info["customer_ml.input_table"], int(info["customer_ml.input_version"])
    raise CustomerMLError(
        f"the commits of {scored_table} do not say which table scoring read for {day}; score that date again"
    )


def _judge(stats: list[DriftStat], settings: Settings) -> tuple[dict[str, str], list[Alert]]:
    """Each feature's status (ok, warn, alert) and the alerts, from the levels in conf."""
    levels = settings.monitoring
    statuses, alerts = {}, []
    for stat in stats:
        measured = [("psi", stat.psi, levels.psi)] + ([("js", stat.js, levels.js)] if stat.js is not None else [])
        status = "ok"
        for name, value, level in measured:
            if value >= level.alert:
                status = "alert"
                alerts.append(
                    Alert(
                        stat.column,
                        name,
                        value,
                        level.alert,
                        f"check the source of {stat.column}; if the change is real, retrain the classifier on "
                        "recent rows",
                    )
                )
            elif value >= level.warn and status == "ok":
                status = "warn"
        statuses[stat.column] = status
    return statuses, alerts


def _drift_row(
    stat: DriftStat,
    status: str,
    reference: tuple[str, int],
    current: tuple[str, int],
    classifier_version: str,
    day: dt.date,
) -> tuple:
    return (
        stat.column,
        stat.kind,
        status,
        stat.psi,
        stat.ks,
        stat.wasserstein,
        stat.js,
        stat.chi2_p,
        stat.reference_rows,
        stat.current_rows,
        stat.reference_null_share,
        stat.current_null_share,
        *reference,
        *current,
        classifier_version,
        day,
    )
