"""The candidate estimators (Spark ML GBT, logistic regression, xgboost.spark), their grid search on the
validation rows, and what a fitted model says about its features."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_ml import features
from customer_ml.classifier.split import LABEL, WEIGHT
from customer_ml.columns import PROBABILITY, SCORE, score_expression
from customer_ml.errors import ConfigError
from customer_ml.logs import stage
from customer_ml.session import default_parallelism, thread_pool
from customer_ml.settings import CandidateSpec, ClassifierSettings, Settings

logger = logging.getLogger(__name__)


@dataclass
class CandidateResult:
    name: str
    params: dict[str, Any]
    validation_pr_auc: float
    seconds: float
    fits: int
    model: Transformer | None = field(default=None, repr=False)


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
    """The estimator of a candidate with conf's params (`classifier.candidates.<name>.params`; conf/base holds the
    defaults and the measurements behind them); unknown params fail with their names."""
    common = {"featuresCol": features.FEATURES, "labelCol": LABEL, "weightCol": WEIGHT}
    if name == "gbt":
        from pyspark.ml.classification import GBTClassifier

        estimator = GBTClassifier(**common)
    elif name == "logistic":
        from pyspark.ml.classification import LogisticRegression

        # Spark standardises internally (coefficients come back on the original scale): no scaler stage needed,
        # and it is 2x faster than fitting on a StandardScaler's dense output.
        estimator = LogisticRegression(**common, standardization=True)
    elif name == "xgboost":
        from xgboost.spark import SparkXGBClassifier

        estimator = SparkXGBClassifier(
            features_col=features.FEATURES, label_col=LABEL, weight_col=WEIGHT, num_workers=partitions
        )
    else:
        raise ConfigError(f"classifier.candidates: unknown candidate {name} (known: gbt, logistic, xgboost)")
    _set_params(estimator, params, name)
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


def scored(model: Transformer, frame: DataFrame) -> DataFrame:
    """The frame with `score` (see `score_expression`)."""
    return model.transform(frame).withColumn(SCORE, score_expression())


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


def model_stages(model: Transformer) -> list[Transformer]:
    return list(model.stages) if isinstance(model, PipelineModel) else [model]


def _raw_importances(model: Transformer, train: DataFrame) -> list[float] | None:
    final = model_stages(model)[-1]
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
