"""`customer-ml demo`: the whole chain on a synthetic base in one Spark session, timed stage by stage.

The example's `demo` pipeline (generate → validate → train-classifier, train-segmenter → score → monitor, as
`customer-ml run demo` runs it, each task in pipeline_runs), the segment summary and top candidates, a second
month drifted and monitored, then where everything is (MLflow UI command, Data Docs, tables). The stages are the
library functions the jobs call; one session instead of one per stage saves a JVM start (~10 s) and an import of
GX per stage.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from customer_ml import pipeline, scoring, sql, tracking
from customer_ml.data import generate
from customer_ml.monitoring import stage as monitoring
from customer_ml.session import get_spark
from customer_ml.settings import Settings
from customer_ml.validation import stage as validation


def run(settings: Settings, rows: int) -> str:
    """Run the chain; return the report (summary, candidates, locations, seconds per stage)."""
    timings: list[tuple[str, float]] = []

    def timed(name: str, step: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = step()
        timings.append((name, time.perf_counter() - started))
        return result

    # Imports (GX ~8 s, MLflow, xgboost, matplotlib) and the MLflow store's creation (~5 s of migrations) run in a
    # thread while the JVM starts and generates: the driver's Python is idle during those Spark jobs.
    warm = threading.Thread(target=_warm_up, args=(settings,), daemon=True)
    warm.start()
    spark = timed("spark session", lambda: get_spark(settings))
    first, second = _score_dates()
    settings = settings.model_copy(update={"synthetic": settings.synthetic.model_copy(update={"rows": rows})})

    def finished(result: pipeline.TaskResult) -> None:
        timings.append((result.task, result.seconds))
        if result.task == "generate":
            warm.join()

    # The first month is the example's `demo` pipeline (customer-ml run demo): generate → validate → both models
    # → score → monitor, each task's outcome in pipeline_runs. One task at a time: side by side in two threads the
    # models competed for the 2 cores and took longer (measured).
    done = pipeline.run(spark, settings, "demo", score_date=first, report=finished)
    if done.failed:
        raise pipeline.failure(done)
    outcome = {r.task: r.outcome.result for r in done.results if r.outcome is not None}
    generated, report, trained = outcome["generate"], outcome["validate"], outcome["train-classifier"]
    segments, scored, quiet = outcome["train-segmenter"], outcome["score"], outcome["monitor"]
    summary = sql.query(
        spark,
        settings,
        "SELECT segment_id, segment_name, customers, mean_score, share_predicted_positive, candidates "
        f"FROM segment_summary WHERE score_date = DATE'{scored.score_date}' ORDER BY segment_id",
    )
    summary_text = sql.show(summary, 20).rstrip()  # now: the views show the latest score date, the drifted one later
    top = sql.query(
        spark,
        settings,
        f"SELECT candidate_rank, {settings.data.id_column}, round(score, 4) AS score, segment_name "
        "FROM top_candidates ORDER BY candidate_rank",
    )
    top_text = sql.show(top, 10).rstrip()
    # Next month's base has moved (`generate --drift 1`): three columns and the segment mix. Monitoring says so.
    timed(
        "generate drifted", lambda: generate.run(spark, settings, rows=rows, seed=settings.synthetic.seed + 1, drift=1)
    )
    timed("validate drifted", lambda: validation.run(spark, settings, settings.synthetic.table))
    timed("score drifted", lambda: scoring.run(spark, settings, score_date=second))
    drifted = timed("monitor drifted", lambda: monitoring.run(spark, settings, score_date=second))
    stability = "skipped" if segments.stability is None else f"{segments.stability:.3f}"
    lines = [
        "",
        f"customer-ml demo: {rows:,} synthetic customers, end to end",
        f"  generate          {generated.rows:,} rows, positive rate {generated.positive_rate:.3f}, "
        f"Bayes-optimal ROC AUC {generated.bayes_auc:.3f}",
        f"  validate          {report.validated_rows:,} validated, {report.quarantined_rows:,} quarantined",
        f"  train-classifier  {trained.model_name} v{trained.version} ({trained.winner}): test ROC AUC "
        f"{trained.metrics['test_roc_auc']:.3f}, PR AUC {trained.metrics['test_pr_auc']:.3f}, threshold "
        f"{trained.threshold.value:.3f} -> recall {trained.metrics['test_recall']:.3f}, precision "
        f"{trained.metrics['test_precision']:.3f}; {'champion' if trained.promotion.promoted else 'challenger'}",
        f"  train-segmenter   {segments.model_name} v{segments.version}: k = {segments.k}, silhouette "
        f"{segments.silhouette:.3f}, stability (ARI) {stability}",
        f"  score             {scored.rows:,} scored for {scored.score_date}, {scored.predicted_positive:,} predicted "
        f"positive, {scored.candidates:,} upgrade candidates",
        "",
        "Segment summary (segment_summary view):",
        summary_text,
        "",
        "Top 10 upgrade candidates (top_candidates view):",
        top_text,
        "",
        "Monitoring (customer-ml monitor; tables monitoring_profile, monitoring_drift, monitoring_alerts):",
        *[f"  {line}" for line in monitoring.summary(quiet)],
        *[f"  {line}" for line in monitoring.summary(drifted)],
        "",
        "Where things are:",
        f"  MLflow UI         .venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}",
        f"  Data Docs (GX)    {report.data_docs}",
        f"  lake tables       {settings.lake_root}",
        '  SQL               .venv/bin/customer-ml sql "SELECT * FROM segment_summary"',
        '  pipeline runs     .venv/bin/customer-ml sql "SELECT task, status, seconds, summary FROM pipeline_runs"',
        "",
        "Seconds per stage:",
        *[f"  {name:18s}{seconds:7.1f}" for name, seconds in timings],
        f"  {'total':18s}{sum(s for _, s in timings):7.1f}",
        "",
    ]
    return "\n".join(lines)


def _score_dates() -> tuple[dt.date, dt.date]:
    """Last month's end (the training base is scored) and today (the drifted base)."""
    today = dt.date.today()
    return today.replace(day=1) - dt.timedelta(days=1), today


def _warm_up(settings: Settings) -> None:
    for module in ("great_expectations", "mlflow.spark", "xgboost.spark", "matplotlib.pyplot", "sklearn.metrics"):
        try:
            importlib.import_module(module)
        except ImportError:  # an optional extra; the stage that needs it says so
            continue
    try:
        tracking.configure(settings)
    except Exception as error:  # noqa: BLE001 - the training stage configures again and reports properly
        logging.getLogger(__name__).debug("MLflow warm-up failed: %s", error)
