"""`customer-ml train-classifier`: the stage that reads, splits, searches, thresholds, evaluates, logs, registers."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import evaluation, features, reports, tracking
from customer_ml.classifier.candidates import (
    CandidateResult,
    importance_by_feature,
    model_stages,
    scored,
    search_candidates,
)
from customer_ml.classifier.split import (
    LABEL,
    SPLIT,
    WEIGHT,
    cap_train,
    check_both_classes,
    mark_split,
    parts,
    read_labelled,
    with_weights,
)
from customer_ml.columns import CLASSIFIER, SCORE
from customer_ml.lake import tables
from customer_ml.logs import StageLog, job_context, stage
from customer_ml.monitoring.calibration import CALIBRATION_ARTIFACT, Calibration
from customer_ml.monitoring.reference import SCORE_REFERENCE, StoredNumeric
from customer_ml.session import default_parallelism, require_classic
from customer_ml.settings import ClassifierSettings, Settings

logger = logging.getLogger(__name__)


KIND = CLASSIFIER


@dataclass
class TrainResult:
    """What `train-classifier` produced (the CLI prints it; tests assert on it)."""

    run_id: str
    model_name: str
    version: str
    winner: str
    threshold: evaluation.Threshold
    metrics: dict[str, float]
    candidates: list[CandidateResult]
    promotion: tracking.Promotion
    input_table: str
    input_version: int
    seconds: float


@dataclass
class Prepared:
    """The labelled rows split and turned into feature vectors: what the search and the evaluation read."""

    rows: DataFrame  # the labelled input, as read
    read: tables.TableIdentity  # where that input lives and its Delta id, taken when it was read
    marked: DataFrame  # rows with their split
    test: DataFrame  # the test rows before the feature pipeline (the champion scores them through its own)
    input_version: int
    counts: dict[str, int]  # rows per split
    profile: features.FeatureProfile
    feature_model: PipelineModel
    vectors: dict[str, DataFrame]  # train / validation / test: id, label, weight, features (cached)

    def unpersist(self) -> None:
        for frame in [*self.vectors.values(), self.marked, self.rows]:
            frame.unpersist()


@dataclass
class Evaluated:
    """The search's winner, its threshold and what it measured on the validation and test rows."""

    candidates: list[CandidateResult]
    winner: CandidateResult
    model: PipelineModel  # the feature stages and the winner's, as registered
    threshold: evaluation.Threshold
    calibration: Calibration
    test_counts: evaluation.ScoreCounts
    metrics: dict[str, float]
    importances: dict[str, float]


def run(spark: SparkSession, settings: Settings, table: str | None = None) -> TrainResult:
    """Train, evaluate, log and register the classifier on `table` (default `data.table`)."""
    require_classic(spark, "train-classifier")
    source = table or settings.data.table
    started = time.perf_counter()
    with job_context(job="train-classifier"), stage("train-classifier") as log:
        prepared = prepare(spark, settings, source, log)
        evaluated = evaluate(prepared, settings)
        run_id, name, version, decision = _track(settings, source, prepared, evaluated)
        prepared.unpersist()
    return TrainResult(
        run_id=run_id,
        model_name=name,
        version=version,
        winner=evaluated.winner.name,
        threshold=evaluated.threshold,
        metrics=evaluated.metrics,
        candidates=evaluated.candidates,
        promotion=decision,
        input_table=source,
        input_version=prepared.input_version,
        seconds=time.perf_counter() - started,
    )


def prepare(spark: SparkSession, settings: Settings, source: str, log: StageLog) -> Prepared:
    """Read the labelled rows, split them, weight the training rows, fit the feature pipeline on them and turn
    every split into cached feature vectors."""
    config, data = settings.classifier, settings.data
    rows, input_version = read_labelled(spark, source, data, config.features)
    read = tables.identity(spark, source)
    marked = mark_split(rows, config, data.id_column)
    tally = marked.groupBy(SPLIT, LABEL).count().collect()  # one job for every count the stage needs
    available = sum(r["count"] for r in tally if r[SPLIT] == "train")
    capped, tally = cap_train(marked, tally, config.split, data.id_column)
    train, validation, test = parts(capped)
    counts = {n: log.count(n, sum(r["count"] for r in tally if r[SPLIT] == n)) for n in ("train", "validation", "test")}
    check_both_classes(tally, counts, source, data.label.column)
    counts["train_available"] = available  # before the cap (logged as rows_train_available)
    positives = sum(r["count"] for r in tally if r[SPLIT] == "train" and r[LABEL] == 1.0)
    train = with_weights(train, config.class_weight, positives, counts["train"])
    exclude = [data.id_column, data.label.column, LABEL, WEIGHT, SPLIT]

    profile = features.profile_features(train, config.features, exclude)
    pipeline = features.build_feature_pipeline(config.features, train.schema, profile, exclude)
    features.choose_pca_components(pipeline, train, config.features, profile)
    feature_model = pipeline.fit(train)
    partitions = default_parallelism(spark)
    vectors = {
        name: feature_model.transform(frame.withColumn(WEIGHT, F.lit(1.0)) if WEIGHT not in frame.columns else frame)
        .select(data.id_column, LABEL, WEIGHT, features.FEATURES)
        .repartition(partitions)
        .cache()
        for name, frame in [("train", train), ("validation", validation), ("test", test)]
    }
    return Prepared(rows, read, marked, test, input_version, counts, profile, feature_model, vectors)


def evaluate(prepared: Prepared, settings: Settings) -> Evaluated:
    """Search the candidates, take the best on validation PR AUC, choose its threshold and calibration on the
    validation rows, and measure it on the test rows."""
    config, vectors = settings.classifier, prepared.vectors
    candidates = search_candidates(vectors["train"], vectors["validation"], config, settings)
    winner = max(candidates, key=lambda c: c.validation_pr_auc)
    logger.info("winner: %s (validation PR AUC %.4f)", winner.name, winner.validation_pr_auc)
    model = PipelineModel(stages=[*prepared.feature_model.stages, *model_stages(winner.model)])

    validation_counts = evaluation.score_counts(scored(winner.model, vectors["validation"]), SCORE, LABEL)
    threshold = choose_threshold(validation_counts, config)
    calibration = Calibration.fit(validation_counts)  # scores -> probabilities, for quality without labels
    test_counts = evaluation.score_counts(scored(winner.model, vectors["test"]), SCORE, LABEL)
    metrics = test_metrics(test_counts, threshold)
    metrics["validation_pr_auc"] = winner.validation_pr_auc
    importances = importance_by_feature(
        winner.model, prepared.feature_model, prepared.profile, config, vectors["train"]
    )
    return Evaluated(candidates, winner, model, threshold, calibration, test_counts, metrics, importances)


def _track(
    settings: Settings, source: str, prepared: Prepared, evaluated: Evaluated
) -> tuple[str, str, str, tracking.Promotion]:
    """One MLflow run: parameters, metrics, the monitor's references, plots, the model registered as challenger,
    and the promotion gate against the champion on the same test rows. Returns (run id, model name, version,
    the decision)."""
    import mlflow

    config, metrics = settings.classifier, evaluated.metrics
    tracking.configure(settings)
    name = tracking.model_name(settings, KIND)
    with mlflow.start_run(run_name=f"train-classifier {source}") as active, job_context(run_id=active.info.run_id):
        _log_run(settings, source, prepared, evaluated)
        # The test scores' distribution: the reference `customer-ml monitor` compares each score date with.
        stored = StoredNumeric.of_counts(evaluated.test_counts.score, evaluated.test_counts.rows)
        mlflow.log_dict(stored.to_dict(), SCORE_REFERENCE)
        mlflow.log_dict(evaluated.calibration.to_dict(), CALIBRATION_ARTIFACT)
        with tempfile.TemporaryDirectory() as folder:
            _log_plots(Path(folder), evaluated.test_counts, metrics, evaluated.threshold, evaluated.importances)
        columns = features.input_columns(config.features, prepared.profile, prepared.rows.schema)
        version = _log_model(
            evaluated.model, settings, name, prepared.rows, evaluated.threshold, evaluated.winner, columns
        )
        decision = tracking.promotion_gate(
            settings,
            name,
            version,
            "test_pr_auc",
            lambda old: evaluation.pr_auc(evaluation.score_counts(scored(old, prepared.test), SCORE, LABEL)),
            lambda figure, champion: tracking.decide_promotion(
                metrics["test_pr_auc"], figure, config.promotion.margin, champion
            ),
        )
    return active.info.run_id, name, version, decision


def choose_threshold(counts: evaluation.ScoreCounts, config: ClassifierSettings) -> evaluation.Threshold:
    spec = config.threshold
    if spec.method == "cost":
        chosen = evaluation.threshold_for_cost(counts, spec.fp_cost, spec.fn_cost)
    else:
        chosen = evaluation.threshold_for_recall(counts, spec.target_recall)
    logger.info(
        "threshold (%s): %.6f -> validation recall %.4f, precision %.4f",
        spec.method,
        chosen.value,
        chosen.recall,
        chosen.precision,
    )
    return chosen


def test_metrics(counts: evaluation.ScoreCounts, threshold: evaluation.Threshold) -> dict[str, float]:
    """ROC AUC, PR AUC and the confusion matrix at the threshold, on the test rows."""
    matrix = evaluation.confusion(counts, threshold.value)
    metrics = {
        "test_roc_auc": evaluation.roc_auc(counts),
        "test_pr_auc": evaluation.pr_auc(counts),
        "test_positive_rate": counts.total_positives / counts.total_rows,
        "threshold": threshold.value,
        "validation_recall_at_threshold": threshold.recall,
        "validation_precision_at_threshold": threshold.precision,
    }
    metrics.update({f"test_{key}": value for key, value in matrix.items()})
    return metrics


def _log_run(settings: Settings, source: str, prepared: Prepared, evaluated: Evaluated) -> None:
    import mlflow

    read, input_version, counts, winner = prepared.read, prepared.input_version, prepared.counts, evaluated.winner
    candidates, threshold, metrics = evaluated.candidates, evaluated.threshold, evaluated.metrics
    tracking.log_params(
        {
            "data": settings.data.model_dump(),
            "classifier": settings.classifier.model_dump(mode="json"),
            "input": {"table": source, "location": read.location, "version": input_version},
            "winner": {"name": winner.name, **{k: v for k, v in winner.params.items()}},
        }
    )
    tracking.record_input("train-classifier", source, input_version, read.location, read.table_id)
    mlflow.set_tag("winner", winner.name)
    mlflow.log_metrics({f"rows_{name}": float(value) for name, value in counts.items()})
    mlflow.log_metrics(metrics)
    for candidate in candidates:
        mlflow.log_metric(f"candidate.{candidate.name}.validation_pr_auc", candidate.validation_pr_auc)
        mlflow.log_metric(f"candidate.{candidate.name}.seconds", candidate.seconds)
    mlflow.log_dict(
        {
            "winner": winner.name,
            "candidates": [
                {
                    "name": c.name,
                    "validation_pr_auc": c.validation_pr_auc,
                    "params": c.params,
                    "fits": c.fits,
                    "seconds": c.seconds,
                }
                for c in candidates
            ],
        },
        "candidates.json",
    )
    mlflow.log_dict(prepared.profile.as_dict(), "feature_profile.json")
    mlflow.log_dict(threshold.__dict__, "threshold.json")


def _log_plots(
    folder: Path,
    counts: evaluation.ScoreCounts,
    metrics: dict[str, float],
    threshold: evaluation.Threshold,
    importances: dict[str, float],
) -> None:
    import mlflow

    points = evaluation.curve(counts)
    table = evaluation.deciles(counts)
    at = {"recall": metrics["test_recall"], "precision": metrics["test_precision"]}
    reports.roc_plot(points, metrics["test_roc_auc"], folder / "roc.png")
    reports.pr_plot(points, metrics["test_pr_auc"], metrics["test_positive_rate"], at, folder / "pr.png")
    reports.gain_plot(table, folder / "gain.png")
    reports.lift_plot(table, folder / "lift.png")
    reports.calibration_plot(table, folder / "calibration.png")
    matrix = {key: metrics[f"test_{key}"] for key in ("tn", "fp", "fn", "tp")}
    reports.confusion_plot(matrix, threshold.value, folder / "confusion.png")
    if importances:
        reports.importance_plot(importances, folder / "feature_importance.png")
        mlflow.log_dict(importances, "feature_importance.json")
    table.to_csv(folder / "deciles.csv", index=False)
    mlflow.log_artifacts(str(folder), "evaluation")
    for row in table.itertuples():
        mlflow.log_metric("test_lift_by_decile", float(row.lift), step=int(row.decile))
        mlflow.log_metric("test_gain_by_decile", float(row.cumulative_gain), step=int(row.decile))
        mlflow.log_metric("test_calibration_rate_by_decile", float(row.positive_rate), step=int(row.decile))
    mlflow.log_metric("test_top_decile_lift", float(table["lift"].iloc[0]))


def _log_model(
    model: PipelineModel,
    settings: Settings,
    name: str,
    rows: DataFrame,
    threshold: evaluation.Threshold,
    winner: CandidateResult,
    columns: dict[str, str],
) -> str:
    example = rows.drop(LABEL, settings.data.label.column).limit(5).toPandas()
    output = scored(model, rows.drop(LABEL).limit(5)).select(SCORE).toPandas()
    metadata = {"threshold": threshold.value, "threshold_method": threshold.method, "winner": winner.name}
    tags = {
        "threshold": repr(threshold.value),
        "label": settings.data.label.column,
        tracking.INPUT_COLUMNS: json.dumps(columns),
    }
    return tracking.log_and_register(model, settings, name, example, output, metadata, tags)
