"""`customer-ml train-classifier`: split, class weights, features, candidate search, threshold, evaluation, MLflow.

Flow (each step logged, every figure in the MLflow run):
1. read `data.table` (its path and Delta version go to the run), label = (label column == positive value);
2. stratified train / validation / test split (exact fractions per class, deterministic by seed and id);
3. feature profile and pipeline fitted on the train rows only;
4. every enabled candidate (gbt, logistic, xgboost when installed) searched over its grid in parallel threads, each
   fit scored by PR AUC on the validation rows; the best candidate wins;
5. the decision threshold from the validation rows (target recall, or FP / FN costs);
6. evaluation on the test rows, plots, the model logged and registered, alias `challenger`, the promotion gate.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from customer_ml import evaluation, features, reports, tracking
from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.lake import tables
from customer_ml.logs import job_context, stage
from customer_ml.monitoring.calibration import CALIBRATION_ARTIFACT, Calibration
from customer_ml.monitoring.reference import SCORE_REFERENCE, StoredNumeric
from customer_ml.session import default_parallelism, require_classic, thread_pool
from customer_ml.settings import CandidateSpec, ClassifierSettings, DataSpec, FeatureSpec, Settings

logger = logging.getLogger(__name__)

LABEL = "_label"
WEIGHT = "_weight"
SPLIT = "_split"
SCORE = "score"
PROBABILITY = "probability"
KIND = "classifier"

# Spark ML GBT defaults chosen for speed at equal or better AUC; conf's params override them. Measured on 210k
# synthetic train rows, 2 cores (bench/README.md): Spark's defaults (20 trees, step 0.1) 27.7 s, AUC 0.9323; these
# 20.3 s, AUC 0.9339. The node-id cache (cacheNodeIds + checkpoints) made each tree ~1.6x slower here: left off.
GBT_DEFAULTS: dict[str, Any] = {
    "maxIter": 20,
    "maxDepth": 5,
    "stepSize": 0.3,
    "maxBins": 32,
    "subsamplingRate": 0.5,
    "minInstancesPerNode": 20,
    "cacheNodeIds": False,
    "maxMemoryInMB": 512,
}


@dataclass
class CandidateResult:
    name: str
    params: dict[str, Any]
    validation_pr_auc: float
    seconds: float
    fits: int
    model: Transformer | None = field(default=None, repr=False)


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


def run(spark: SparkSession, settings: Settings, table: str | None = None) -> TrainResult:
    """Train, evaluate, log and register the classifier on `table` (default `data.table`)."""
    import mlflow

    require_classic(spark, "train-classifier")
    config, data = settings.classifier, settings.data
    source = table or data.table
    started = time.perf_counter()
    with job_context(job="train-classifier"), stage("train-classifier") as log:
        rows, input_version = _read_labelled(spark, source, data, config.features)
        read = tables.identity(spark, source)
        marked = mark_split(rows, config, data.id_column)
        train, validation, test = _parts(marked)
        tally = marked.groupBy(SPLIT, LABEL).count().collect()  # one job for every count the stage needs
        counts = {
            n: log.count(n, sum(r["count"] for r in tally if r[SPLIT] == n)) for n in ("train", "validation", "test")
        }
        _check_both_classes(tally, counts, source, data.label.column)
        positives = sum(r["count"] for r in tally if r[SPLIT] == "train" and r[LABEL] == 1.0)
        train = with_weights(train, config.class_weight, positives, counts["train"])
        exclude = [data.id_column, data.label.column, LABEL, WEIGHT, SPLIT]

        profile = features.profile_features(train, config.features, exclude)
        pipeline = features.build_feature_pipeline(config.features, train.schema, profile, exclude)
        features.choose_pca_components(pipeline, train, config.features, profile)
        feature_model = pipeline.fit(train)
        partitions = default_parallelism(spark)
        prepared = {
            name: feature_model.transform(
                frame.withColumn(WEIGHT, F.lit(1.0)) if WEIGHT not in frame.columns else frame
            )
            .select(data.id_column, LABEL, WEIGHT, features.FEATURES)
            .repartition(partitions)
            .cache()
            for name, frame in [("train", train), ("validation", validation), ("test", test)]
        }

        candidates = search_candidates(prepared["train"], prepared["validation"], config, settings)
        winner = max(candidates, key=lambda c: c.validation_pr_auc)
        logger.info("winner: %s (validation PR AUC %.4f)", winner.name, winner.validation_pr_auc)
        model = PipelineModel(stages=[*feature_model.stages, *_model_stages(winner.model)])

        validation_counts = evaluation.score_counts(scored(winner.model, prepared["validation"]), SCORE, LABEL)
        threshold = choose_threshold(validation_counts, config)
        calibration = Calibration.fit(validation_counts)  # scores -> probabilities, for quality without labels
        test_counts = evaluation.score_counts(scored(winner.model, prepared["test"]), SCORE, LABEL)
        metrics = test_metrics(test_counts, threshold)
        metrics["validation_pr_auc"] = winner.validation_pr_auc
        importances = importance_by_feature(winner.model, feature_model, profile, config, prepared["train"])

        tracking.configure(settings)
        name = tracking.model_name(settings, KIND)
        with mlflow.start_run(run_name=f"train-classifier {source}") as active:
            run_id = active.info.run_id
            with job_context(run_id=run_id):
                _log_run(settings, source, read, input_version, counts, profile, candidates, winner, threshold, metrics)
                # The test scores' distribution: the reference `customer-ml monitor` compares each score date with.
                stored = StoredNumeric.of_counts(test_counts.score, test_counts.rows)
                mlflow.log_dict(stored.to_dict(), SCORE_REFERENCE)
                mlflow.log_dict(calibration.to_dict(), CALIBRATION_ARTIFACT)
                with tempfile.TemporaryDirectory() as folder:
                    _log_plots(Path(folder), test_counts, metrics, threshold, importances)
                columns = features.input_columns(config.features, profile, rows.schema)
                version = _log_model(model, settings, name, rows, threshold, winner, columns)
                champion_metric, champion = tracking.champion_figure(
                    settings,
                    name,
                    version,
                    lambda old: evaluation.pr_auc(evaluation.score_counts(scored(old, test), SCORE, LABEL)),
                )
                decision = tracking.decide_promotion(
                    metrics["test_pr_auc"], champion_metric, config.promotion.margin, champion
                )
                tracking.record_promotion(settings, name, version, decision, "test_pr_auc")
        for frame in [*prepared.values(), marked, rows]:
            frame.unpersist()
    return TrainResult(
        run_id=run_id,
        model_name=name,
        version=version,
        winner=winner.name,
        threshold=threshold,
        metrics=metrics,
        candidates=candidates,
        promotion=decision,
        input_table=source,
        input_version=input_version,
        seconds=time.perf_counter() - started,
    )


def _check_both_classes(tally: list, counts: dict[str, int], source: str, column: str) -> None:
    """Every part of the split must hold both classes: the model learns on the train rows, the threshold is chosen
    on the validation rows and the evaluation (and the promotion gate) use the test rows. With a handful of
    positives the stratified split leaves a part without any, and that part's figures would mean nothing (a
    threshold of 0 that flags every customer, an AUC of 0 for an undefined one)."""
    for part in ("train", "validation", "test"):
        positives = sum(r["count"] for r in tally if r[SPLIT] == part and r[LABEL] == 1.0)
        if 0 < positives < counts[part]:
            continue
        if part == "train":
            raise CustomerMLError(
                f"table {source}: the train rows hold only one class of {column}; a classifier needs both"
            )
        in_all = sum(r["count"] for r in tally if r[LABEL] == 1.0)
        raise CustomerMLError(
            f"table {source}: the {part} rows hold only one class of {column} ({in_all} of {sum(counts.values())} "
            f"rows are positive, too few to split); the threshold is chosen on the validation rows and the model "
            f"evaluated on the test rows, so each needs both classes: add labelled rows, or widen "
            f"classifier.split.{part}"
        )


def label_expression(data: DataSpec, schema: T.StructType) -> F.Column:
    """1.0 where the label column equals the positive value, 0.0 otherwise, null where the label is null."""
    if data.label is None:
        raise ConfigError(
            "data.label is not set: name the label column and its positive value in your overlay, e.g. "
            'data.label: {column: churn, positive: "Yes"}'
        )
    column = data.label.column
    if column not in schema.fieldNames():
        raise ConfigError(
            f"label column {column} (data.label.column) is not in the table; it has: {', '.join(schema.fieldNames())}"
        )
    positive = data.label.positive
    value = F.col(features.quote(column))
    if isinstance(schema[column].dataType, T.StringType):
        return F.when(value.isNull(), F.lit(None)).otherwise((value == F.lit(str(positive))).cast("double"))
    if not _is_number(positive):
        raise ConfigError(
            f"data.label.positive is {_describe_value(positive)} but label column {column} is "
            f"{schema[column].dataType.simpleString()}; set data.label.positive to one of its values"
        )
    return F.when(value.isNull(), F.lit(None)).otherwise(
        (value.cast("double") == F.lit(float(positive))).cast("double")
    )


def check_label(rows: DataFrame, data: DataSpec, source: str) -> None:
    """Fail in one line when the positive value occurs nowhere in the label column: the values found, the
    value's YAML type, and why `yes` is not "yes" (bare yes/no/on/off/true/false are YAML booleans)."""
    if data.label is None or rows.where(F.col(LABEL) == 1.0).limit(1).count():
        return
    column = features.quote(data.label.column)
    found = [r[0] for r in rows.select(column).where(F.col(column).isNotNull()).distinct().limit(21).collect()]
    shown = ", ".join(sorted((repr(v) if isinstance(v, str) else str(v)) for v in found)[:20])
    hint = ""
    if isinstance(data.label.positive, bool):
        hint = (
            "; bare yes/no/on/off/true/false are YAML booleans: quote the value, e.g. "
            f'positive: "{next((v for v in found if isinstance(v, str)), "Yes")}"'
        )
    raise ConfigError(
        f"data.label.positive is {_describe_value(data.label.positive)}, which label column {data.label.column} of "
        f"table {source} never holds (values: {shown or 'none'}{', …' if len(found) > 20 else ''}); values compare "
        f"exactly, case included{hint}"
    )


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _describe_value(value: object) -> str:
    kind = {bool: "a YAML boolean", int: "a number", float: "a number", str: "a string"}.get(type(value), "a value")
    return f"{value!r} ({kind})" if not isinstance(value, bool) else f"{str(value).lower()} ({kind})"


def split(rows: DataFrame, config: ClassifierSettings, id_column: str) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Stratified train / validation / test frames (see `mark_split`)."""
    return _parts(mark_split(rows, config, id_column))


def _parts(marked: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    return tuple(marked.filter(F.col(SPLIT) == name).drop(SPLIT) for name in ("train", "validation", "test"))


def mark_split(rows: DataFrame, config: ClassifierSettings, id_column: str) -> DataFrame:
    """The rows with `_split` (cached): within each class, rows ordered by a hash of (seed, id) and cut at the
    fractions, so the same seed gives the same rows. Classes of up to `split.exact_max_rows` rows are ranked and cut
    in exactly the configured shares; when a class is larger, each row goes by its hash alone (a uniform number
    in [0, 1)), which needs no sort and no task that holds a class."""
    spec = config.split
    key = F.xxhash64(F.lit(spec.seed), F.col(features.quote(id_column)))
    largest = max((r["count"] for r in rows.groupBy(LABEL).count().collect()), default=0)
    if largest <= spec.exact_max_rows:
        by_class = Window.partitionBy(LABEL).orderBy(key, F.col(features.quote(id_column)))
        position = F.percent_rank().over(by_class)
    else:
        position = F.pmod(key, F.lit(_HASH_SLOTS)) / F.lit(float(_HASH_SLOTS))
        logger.info("split: classes of up to %d rows, cut by hash (exact up to %d)", largest, spec.exact_max_rows)
    marked = rows.withColumn("_position", position).withColumn(
        SPLIT,
        F.when(F.col("_position") < spec.train, "train")
        .when(F.col("_position") < spec.train + spec.validation, "validation")
        .otherwise("test"),
    )
    return marked.drop("_position").cache()


_HASH_SLOTS = 1 << 30  # a row's place in [0, 1): its hash modulo this, divided by it


def with_weights(train: DataFrame, class_weight: str | float, positives: int, total: int) -> DataFrame:
    """A weight column: `balanced` weighs positives by negatives / positives, a number is the positives' weight,
    `none` weighs every row 1."""
    if class_weight == "none":
        weight = 1.0
    elif class_weight == "balanced":
        weight = (total - positives) / positives
    else:
        weight = float(class_weight)
    logger.info("class weights: positive %.3f, negative 1.0", weight)
    return train.withColumn(WEIGHT, F.when(F.col(LABEL) == 1.0, F.lit(weight)).otherwise(F.lit(1.0)))


def available_candidates(config: ClassifierSettings) -> list[str]:
    """Enabled candidates, xgboost only when xgboost.spark is importable."""
    names = [n for n, spec in config.candidates.items() if spec.enabled]
    if "xgboost" in names and importlib.util.find_spec("xgboost") is None:
        logger.warning("candidate xgboost skipped: install the extra (pip install 'customer-ml[xgboost]')")
        names.remove("xgboost")
    if not names:
        raise ConfigError("classifier.candidates: no candidate is enabled (gbt, logistic, xgboost)")
    return names


def make_estimator(name: str, params: dict[str, Any], partitions: int):  # noqa: ANN201 - three estimator types
    """The estimator of a candidate with our defaults, then conf's params; unknown params fail with their names."""
    common = {"featuresCol": features.FEATURES, "labelCol": LABEL, "weightCol": WEIGHT}
    if name == "gbt":
        from pyspark.ml.classification import GBTClassifier

        estimator, merged = GBTClassifier(**common, seed=17), {**GBT_DEFAULTS, **params}
    elif name == "logistic":
        from pyspark.ml.classification import LogisticRegression

        # Spark standardises internally (coefficients come back on the original scale): no scaler stage needed,
        # and it is 2x faster than fitting on a StandardScaler's dense output.
        estimator = LogisticRegression(**common, standardization=True)
        merged = {"maxIter": 30, **params}
    elif name == "xgboost":
        from xgboost.spark import SparkXGBClassifier

        # max_bin 64 (xgboost's default is 256): 1.7x faster at the same AUC on 210k synthetic rows (bench/README.md).
        defaults = {
            "n_estimators": 200,
            "max_depth": 6,
            "learning_rate": 0.1,
            "tree_method": "hist",
            "max_bin": 64,
            "verbose": False,
        }
        estimator = SparkXGBClassifier(
            features_col=features.FEATURES, label_col=LABEL, weight_col=WEIGHT, num_workers=partitions
        )
        merged = {**defaults, **params}
    else:
        raise ConfigError(f"classifier.candidates: unknown candidate {name} (known: gbt, logistic, xgboost)")
    _set_params(estimator, merged, name)
    return estimator


def search_candidates(
    train: DataFrame, validation: DataFrame, config: ClassifierSettings, settings: Settings
) -> list[CandidateResult]:
    """Fit every grid point of every enabled candidate on `train`, score each on `validation` by PR AUC."""
    partitions = default_parallelism(train.sparkSession)
    results = []
    for name in available_candidates(config):
        spec: CandidateSpec = config.candidates[name]
        with stage(f"candidate {name}"):
            results.append(_search(name, spec, train, validation, config.parallelism, partitions))
        logger.info(
            "candidate %s: validation PR AUC %.4f with %s (%d fits, %.1f s)",
            name,
            results[-1].validation_pr_auc,
            results[-1].params,
            results[-1].fits,
            results[-1].seconds,
        )
    return results


def score_expression() -> F.Column:
    """The probability of the positive class, rounded to `evaluation.SCORE_DECIMALS`.

    Thresholds are chosen on scores at that precision (evaluation aggregates by rounded score), so the rounded
    score is what training, scoring and the users' `score >= threshold` all compare: the same rows are positive.
    """
    return F.round(vector_to_array(F.col(PROBABILITY)).getItem(1), evaluation.SCORE_DECIMALS)


def scored(model: Transformer, frame: DataFrame) -> DataFrame:
    """The frame with `score` (see `score_expression`)."""
    return model.transform(frame).withColumn(SCORE, score_expression())


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


def importance_by_feature(
    model: Transformer,
    feature_model: PipelineModel,
    profile: features.FeatureProfile,
    config: ClassifierSettings,
    train: DataFrame,
) -> dict[str, float]:
    """The model's importances summed back to the original features (one-hot slots per column), as shares,
    largest first, the top `importance_top`. Trees: their importances; the logistic baseline: |coefficient| x the
    feature's standard deviation on the train rows. Under PCA the slots are components, named pc1, pc2 …"""
    raw = _raw_importances(model, train)
    if raw is None:
        return {}
    if config.features.pca is not None:
        names = [f"pc{i + 1}" for i in range(len(raw))]
    else:
        names = [feature for feature, _ in features.slot_names(feature_model, profile)]
    totals: dict[str, float] = {}
    for feature, value in zip(names, raw, strict=False):
        totals[feature] = totals.get(feature, 0.0) + abs(float(value))
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[: config.importance_top]
    return {name: value / whole for name, value in ranked}


def _read_labelled(spark: SparkSession, source: str, data: DataSpec, spec: FeatureSpec) -> tuple[DataFrame, int]:
    frame, version = tables.read_snapshot(spark, source, required={data.require_id(): "data.id_column"})
    rows = frame.withColumn(LABEL, label_expression(data, frame.schema))
    features.check_spec(spec, frame, "classifier.features", source, exclude=[data.require_id(), data.label.column])
    check_label(rows, data, source)
    unlabelled = rows.filter(F.col(LABEL).isNull()).count()
    if unlabelled:
        logger.warning("table %s: %d rows without a label are left out of training", source, unlabelled)
        rows = rows.filter(F.col(LABEL).isNotNull())
    return rows.cache(), version


def _search(
    name: str, spec: CandidateSpec, train: DataFrame, validation: DataFrame, parallelism: int, partitions: int
) -> CandidateResult:
    started = time.perf_counter()
    estimator = make_estimator(name, dict(spec.params), partitions)
    # Estimators cache their own instances only when the input is not cached; on a cached DataFrame they re-read
    # and re-decode the columnar cache every iteration. A projection of the cache counts as "not cached".
    train = train.select("*", F.lit(0).alias("_fit"))
    grid = _param_grid(estimator, spec.grid, name)
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=PROBABILITY, labelCol=LABEL, metricName="areaUnderPR")
    # xgboost.spark runs barrier stages that take every core: its fits run one at a time.
    threads = 1 if name == "xgboost" else min(parallelism, len(grid))

    def fit_one(params: dict) -> tuple[float, Transformer]:
        fitted = estimator.copy(params).fit(train)
        return evaluator.evaluate(fitted.transform(validation)), fitted

    with thread_pool(train.sparkSession, threads) as pool:
        outcomes = list(pool.map(fit_one, grid))
    best = max(range(len(grid)), key=lambda i: outcomes[i][0])
    chosen = {param.name: value for param, value in grid[best].items()}
    model = outcomes[best][1]
    return CandidateResult(
        name=name,
        params={**_explicit(estimator), **chosen},
        validation_pr_auc=float(outcomes[best][0]),
        seconds=time.perf_counter() - started,
        fits=len(grid),
        model=model,
    )


def _param_grid(estimator: Any, grid: dict[str, list[Any]], name: str) -> list[dict]:
    if not grid:
        return [{}]
    params = []
    for key in grid:
        if not estimator.hasParam(key):
            raise ConfigError(f"classifier.candidates.{name}.grid: {key} is not a parameter of {name}")
        params.append(estimator.getParam(key))
    return [dict(zip(params, values, strict=True)) for values in itertools.product(*grid.values())]


def _set_params(estimator: Any, params: dict[str, Any], name: str) -> None:
    unknown = [key for key in params if not estimator.hasParam(key)]
    if unknown:
        raise ConfigError(f"classifier.candidates.{name}.params: unknown parameters {unknown}")
    estimator._set(**params)


def _explicit(estimator: Any) -> dict[str, Any]:
    skip = {"featuresCol", "labelCol", "weightCol", "features_col", "label_col", "weight_col"}
    return {p.name: v for p, v in estimator.extractParamMap().items() if estimator.isSet(p) and p.name not in skip}


def _model_stages(model: Transformer) -> list[Transformer]:
    return list(model.stages) if isinstance(model, PipelineModel) else [model]


def _raw_importances(model: Transformer, train: DataFrame) -> list[float] | None:
    final = _model_stages(model)[-1]
    if hasattr(final, "featureImportances"):
        return list(final.featureImportances.toArray())
    if hasattr(final, "coefficients"):
        from pyspark.ml.stat import Summarizer

        spread = train.select(Summarizer.std(F.col(features.FEATURES)).alias("sd")).first()["sd"].toArray()
        return [abs(c) * s for c, s in zip(final.coefficients.toArray(), spread, strict=True)]
    if hasattr(final, "get_feature_importances"):
        scores = final.get_feature_importances(importance_type="gain")
        width = max((int(k[1:]) for k in scores), default=-1) + 1
        return [scores.get(f"f{i}", 0.0) for i in range(width)]
    return None


def _log_run(
    settings: Settings,
    source: str,
    read: tables.TableIdentity,
    input_version: int,
    counts: dict[str, int],
    profile: features.FeatureProfile,
    candidates: list[CandidateResult],
    winner: CandidateResult,
    threshold: evaluation.Threshold,
    metrics: dict[str, float],
) -> None:
    import mlflow

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
    mlflow.log_dict(profile.as_dict(), "feature_profile.json")
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
