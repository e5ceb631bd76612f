"""`customer-ml run PIPELINE`: the stages of a pipeline (conf `pipelines:`) in order, in one Spark session.

Each stage is the library function its own command calls; one session for all saves a JVM start and the imports
per stage. The first failure stops the run and is raised as it is (the CLI prints it in one line, exit 2).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from customer_ml.errors import ConfigError
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskResult:
    task: str
    summary: str
    seconds: float


def _generate(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml.data import generate

    result = generate.run(spark, settings)
    return f"{result.rows:,} rows into {settings.synthetic.table} (version {result.customers_version})"


def _ingest(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml.data import ingest

    reports = ingest.run(spark, settings)
    return "; ".join(f"{r.rows_written:,} rows into {r.table} (version {r.version})" for r in reports)


def _validate(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml.validation import stage

    report = stage.run(spark, settings, settings.ingest.table)
    generic = " (generic checks: no suite configured)" if report.generic else ""
    return f"{report.validated_rows:,} validated, {report.quarantined_rows:,} quarantined{generic}"


def _train_classifier(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml import classifier

    result = classifier.run(spark, settings)
    role = "champion" if result.promotion.promoted else "challenger"
    return (
        f"{result.model_name} v{result.version} ({result.winner}, {role}): test ROC AUC "
        f"{result.metrics['test_roc_auc']:.3f}, PR AUC {result.metrics['test_pr_auc']:.3f}"
    )


def _train_segmenter(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml import segmenter

    result = segmenter.run(spark, settings)
    role = "champion" if result.promotion.promoted else f"challenger: {result.promotion.reason}"
    return f"{result.model_name} v{result.version} ({role}): k = {result.k}, silhouette {result.silhouette:.3f}"


def _score(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml import scoring

    result = scoring.run(spark, settings, score_date=score_date)
    return (
        f"{result.rows:,} rows of {result.input_table} scored for {result.score_date}: "
        f"{result.predicted_positive:,} predicted positive, {result.candidates:,} candidates"
    )


def _monitor(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> str:
    from customer_ml.monitoring import stage

    return "\n".join(stage.summary(stage.run(spark, settings, score_date=score_date)))


TASKS: dict[str, Callable[[SparkSession, Settings, dt.date | None], str]] = {
    "generate": _generate,
    "ingest": _ingest,
    "validate": _validate,
    "train-classifier": _train_classifier,
    "train-segmenter": _train_segmenter,
    "score": _score,
    "monitor": _monitor,
}


def tasks_of(settings: Settings, pipeline: str) -> list[str]:
    """The stages of `pipeline`, checked before anything runs."""
    if pipeline not in settings.pipelines:
        raise ConfigError(
            f"no pipeline '{pipeline}' (pipelines: {', '.join(settings.pipelines) or 'none'}); add it under "
            "pipelines: in your overlay"
        )
    stages = settings.pipelines[pipeline]
    unknown = [s for s in stages if s not in TASKS]
    if unknown:
        raise ConfigError(f"pipelines.{pipeline}: unknown stage(s) {unknown}; stages: {', '.join(TASKS)}")
    return list(stages)


def run(
    spark: SparkSession,
    settings: Settings,
    pipeline: str,
    *,
    score_date: dt.date | None = None,
    report: Callable[[TaskResult], None] | None = None,
) -> list[TaskResult]:
    """Run the pipeline's stages in order; `report` hears of each as it finishes."""
    results = []
    for task in tasks_of(settings, pipeline):
        logger.info("run %s: %s", pipeline, task)
        started = time.perf_counter()
        summary = TASKS[task](spark, settings, score_date)
        result = TaskResult(task, summary, time.perf_counter() - started)
        results.append(result)
        if report:
            report(result)
    return results
