"""A monitored score date's plots and MLflow run: PSI per feature (levels drawn), the score's distribution against
the reference, the segment mix, model quality over score dates. PNGs go under `<reports>/monitoring/<date>/` and
into a run of the `<project>_monitoring` experiment (`monitoring.experiment`), with every figure as a metric.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake, tracking
from customer_ml.logs import job_context
from customer_ml.monitoring.inputs import ScoredDate
from customer_ml.monitoring.policy import SCORE_COLUMN, SEGMENT_COLUMN
from customer_ml.monitoring.profile import TABLE_ROW
from customer_ml.monitoring.quality_check import FIGURES
from customer_ml.scoring import SCORE_DATE
from customer_ml.settings import Settings

if TYPE_CHECKING:
    from customer_ml.monitoring.stage import MonitorResult

logger = logging.getLogger(__name__)

SCORE_BINS = 20


def log(spark: SparkSession, settings: Settings, result: MonitorResult, date: ScoredDate) -> tuple[str, str]:
    """Draw the plots, log them and the figures to an MLflow run; return (run id, the plots' folder)."""
    import mlflow

    folder = settings.reports_dir / "monitoring" / result.score_date.isoformat()
    plots = draw(spark, settings, result, date, folder)
    experiment = settings.monitoring.experiment or f"{settings.project.name}_monitoring"
    tracking.configure(settings, experiment)
    with mlflow.start_run(run_name=f"monitor {result.score_date}") as active:
        with job_context(run_id=active.info.run_id):
            mlflow.set_tags(
                {
                    "stage": "monitor",
                    "score_date": result.score_date.isoformat(),
                    "baseline": result.baseline,
                    "current": str(result.current),
                    "reference": str(result.reference) if result.reference else "",
                    "classifier_version": result.classifier_version,
                    "segmenter_version": result.segmenter_version or "",
                }
            )
            mlflow.log_metrics(figures(result))
            for plot in plots:
                mlflow.log_artifact(str(plot), "plots")
    return active.info.run_id, str(folder)


def figures(result: MonitorResult) -> dict[str, float]:
    """Every figure of the run as an MLflow metric: `<drift_type>.<statistic>.<column>`, quality, fit, alerts."""
    found: dict[str, float] = {"alerts": float(len(result.alerts))}
    for record, status in zip(result.records, result.statuses, strict=True):
        if record.slice_key is not None:
            continue
        stat = record.stat
        for name in ("psi", "ks", "wasserstein", "js", "chi2_p"):
            value = getattr(stat, name)
            if value is not None:
                found[f"{record.drift_type}.{name}.{_metric_name(stat.column)}"] = float(value)
        found[f"{record.drift_type}.alert.{_metric_name(stat.column)}"] = float(status == "alert")
    if result.segment_fit is not None:
        found["segment_fit_ratio"] = result.segment_fit
    quality = result.quality
    if quality is not None:
        for name in FIGURES:
            value = quality.figure(name)
            if value is not None:
                found[f"{quality.source}.{name}"] = float(value)
    return found


def draw(spark: SparkSession, settings: Settings, result: MonitorResult, date: ScoredDate, folder: Path) -> list[Path]:
    """The PNGs for one score date (each skipped when its figures are missing)."""
    from customer_ml import reports

    paths = []
    baseline = [r for r in result.records if r.slice_key is None and r.drift_type == result.judged]
    features = [r for r in baseline if r.stat.column not in (SCORE_COLUMN, SEGMENT_COLUMN)]
    if features:
        values = {r.stat.column: r.stat.psi for r in features}
        levels = settings.monitoring.psi
        title = f"PSI per feature, {result.score_date} vs {features[0].reference}"
        paths.append(reports.psi_plot(values, levels.warn, levels.alert, title, folder / "psi_by_feature.png"))
    current = _score_histogram(date.partition)
    title = f"Score distribution, {result.score_date}"
    paths.append(
        reports.score_distribution_plot(current, _reference_scores(result), title, folder / "score_distribution.png")
    )
    mix = _segment_mix(result)
    if mix:
        paths.append(reports.segment_mix_plot(*mix, f"Segment mix, {result.score_date}", folder / "segment_mix.png"))
    history = _quality_history(spark, settings)
    if history:
        paths.append(reports.quality_plot(history, folder / "quality_over_score_dates.png"))
    return paths


def _metric_name(column: str) -> str:
    """MLflow metric names take letters, digits, _ - . space and /: anything else becomes _."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", column)


def _score_histogram(partition: DataFrame) -> np.ndarray:
    """Rows per twentieth of [0, 1] (the score is a probability)."""
    bucket = F.least(F.floor(F.col(SCORE_COLUMN) * SCORE_BINS), F.lit(SCORE_BINS - 1)).cast("int")
    counts = np.zeros(SCORE_BINS)
    for row in partition.groupBy(bucket.alias("b")).count().collect():
        if row["b"] is not None:
            counts[row["b"]] += row["count"]
    return counts


def _reference_scores(result: MonitorResult) -> np.ndarray | None:
    """The stored training scores per twentieth (each grid bin's rows placed at its mean), if stored."""
    stored = result.stored.scores if result.stored else None
    if stored is None:
        return None
    counts = np.asarray(stored.binned.counts, dtype=float)
    sums = np.asarray(stored.binned.sums, dtype=float)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    index = np.clip(np.floor(means * SCORE_BINS), 0, SCORE_BINS - 1).astype(int)
    return np.bincount(index, weights=counts, minlength=SCORE_BINS)


def _segment_mix(result: MonitorResult) -> tuple[dict[str, float], dict[str, float]] | None:
    """Reference and current shares per segment name (reference: the segmenter's training mix)."""
    reference = result.stored.segment_mix if result.stored else None
    if result.segmenter_version is None or not reference:
        return None
    return _shares(reference), _shares({str(name): n for name, n in result.current_mix.items()})


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {name: n / total for name, n in counts.items()}


def _quality_history(spark: SparkSession, settings: Settings) -> list[tuple[dt.date, str, float, float | None]]:
    """(score date, source, ROC AUC, training's) from every score date's whole-table profile row."""
    table = settings.monitoring.profile_table
    if not lake.table_exists(spark, table):
        return []
    rows = (
        lake.read_table(spark, table)
        .where((F.col("column_name") == TABLE_ROW) & F.col("slice_key").isNull() & F.col("roc_auc").isNotNull())
        .select(SCORE_DATE, "quality_source", "roc_auc", "training_roc_auc")
        .orderBy(SCORE_DATE)
        .collect()
    )
    return [tuple(r) for r in rows]
