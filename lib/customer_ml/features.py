"""Features from a data spec: which columns, how they are transformed, and the Spark ML Pipeline that does it.

Two steps, so the Pipeline stays pure and testable without data:

1. `profile_features(df, spec, exclude)` looks at the training rows once: the numeric and categorical columns, the
   capping bounds (quantiles), which columns get log1p (listed, or automatic above a skewness threshold), and which
   are dropped (all null, or collinear with an earlier column). Its result is plain data, logged with the model.
2. `build_feature_pipeline(spec, schema, profile)` turns spec + profile into Spark ML stages, built-in ones only
   (SQLTransformer, Imputer, StringIndexer, OneHotEncoder, VectorAssembler, StandardScaler, PCA), so a saved model
   loads anywhere Spark runs, with no Python class of ours on the classpath.

Unseen categories and nulls never fail at scoring time: nulls of a categorical become their own level
(`__null__`), an unseen level falls in StringIndexer's `keep` bucket (its own one-hot slot), numeric nulls are
imputed with the training median.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml.feature import (
    PCA,
    Imputer,
    OneHotEncoder,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    StringIndexerModel,
    VectorAssembler,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml.errors import ConfigError
from customer_ml.settings import FeatureSpec

logger = logging.getLogger(__name__)

FEATURES = "features"
NULL_LEVEL = "__null__"
_NUMERIC_TYPES = (T.NumericType, T.BooleanType)


@dataclass
class FeatureProfile:
    """What the training rows decided: feature columns, caps, log1p columns, drops (with reasons), PCA size."""

    numeric: list[str]
    categorical: list[str]
    caps: dict[str, tuple[float, float]] = field(default_factory=dict)
    log1p: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    pca_components: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quote(column: str) -> str:
    """A column name as a Spark SQL identifier."""
    return "`" + column.replace("`", "``") + "`"


def select_columns(spec: FeatureSpec, schema: T.StructType, exclude: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns of `schema` (plus the derived ones) under `spec`.

    Detection: numeric and boolean Spark types are numeric, strings categorical; `spec.numeric` /
    `spec.categorical` override it. Derived features are numeric unless listed as categorical. Columns of other
    types (dates, arrays …) are left out unless included by name, which is an error.
    """
    types = {f.name: f.dataType for f in schema.fields}
    excluded = set(spec.exclude) | set(exclude)
    missing = [c for c in [*spec.include, *(spec.numeric or []), *(spec.categorical or [])] if c not in types]
    missing = [c for c in missing if c not in spec.derived]
    if missing:
        raise ConfigError(
            f"feature columns not in the table: {', '.join(missing)} (the table has: {', '.join(types)}); "
            "fix features.include / numeric / categorical"
        )
    clash = [name for name in spec.derived if name in types]
    if clash:
        raise ConfigError(f"derived features {clash} have the name of a table column; rename them in features.derived")
    candidates = list(spec.include) if spec.include else [c for c in types if c not in excluded]
    candidates = [c for c in candidates if c not in excluded] + [d for d in spec.derived if d not in excluded]
    numeric, categorical = [], []
    for column in candidates:
        if spec.categorical is not None and column in spec.categorical:
            categorical.append(column)
        elif (spec.numeric is not None and column in spec.numeric) or column in spec.derived:
            numeric.append(column)
        elif isinstance(types[column], _NUMERIC_TYPES):
            numeric.append(column)
        elif isinstance(types[column], T.StringType):
            categorical.append(column)
        elif spec.include:
            raise ConfigError(
                f"feature column {column} has type {types[column].simpleString()}, neither numeric nor string; "
                "derive a number from it in features.derived or leave it out"
            )
        else:
            logger.info("features: leaving out %s (type %s)", column, types[column].simpleString())
    if not numeric and not categorical:
        raise ConfigError("no feature columns: features.include / exclude leave nothing to learn from")
    return numeric, categorical


def check_spec(spec: FeatureSpec, frame: DataFrame, setting: str, table: str, exclude: Iterable[str] = ()) -> None:
    """Fail before any work, in one line naming the setting and the column, when a feature column or a derived
    feature's SQL does not resolve on `frame` (analysis only: no Spark job runs).

    Args:
        setting: where the spec comes from, e.g. `classifier.features`.
        table: the table `frame` was read from, for the message.
    """
    from pyspark.errors import AnalysisException, ParseException

    try:
        select_columns(spec, frame.schema, exclude)
    except ConfigError as error:
        raise ConfigError(f"{setting} on table {table}: {error}") from None
    for name, sql in spec.derived.items():
        try:
            frame.limit(0).selectExpr(f"({sql}) AS {quote(name)}").schema  # noqa: B018 - analyse now
        except ParseException as error:
            raise ConfigError(
                f"{setting}.derived.{name}: {sql!r} is not valid Spark SQL ({str(error).splitlines()[0]})"
            ) from None
        except AnalysisException as error:
            parameters = error.getMessageParameters() or {}
            what = (
                f"column {parameters['objectName']} is not in table {table}"
                if "objectName" in parameters
                else str(error).splitlines()[0]
            )
            raise ConfigError(
                f"{setting}.derived.{name}: {sql!r} does not resolve: {what} (columns: {', '.join(frame.columns)}); "
                f"fix or remove {setting}.derived.{name} in your overlay"
            ) from None


def input_columns(spec: FeatureSpec, profile: FeatureProfile, schema: T.StructType) -> dict[str, str]:
    """The table columns a fitted feature pipeline reads, with their Spark types: the kept raw features and every
    column a derived feature's SQL names. What a table to score must have (recorded with the model version)."""
    types = {f.name: f.dataType.simpleString() for f in schema.fields}
    used = [c for c in [*profile.numeric, *profile.categorical] if c in types]
    for sql in spec.derived.values():
        tokens = set(re.findall(r"`((?:[^`]|``)+)`|([A-Za-z_][A-Za-z0-9_]*)", sql))
        named = {(quoted.replace("``", "`") or bare) for quoted, bare in tokens}
        used += [c for c in types if c in named or c.lower() in {n.lower() for n in named}]
    return {c: types[c] for c in dict.fromkeys(used)}


def derive(df: DataFrame, spec: FeatureSpec) -> DataFrame:
    """The rows with the derived features added (the same SQL the pipeline's first stage runs)."""
    return df if not spec.derived else SQLTransformer(statement=_derive_statement(spec)).transform(df)


def profile_features(df: DataFrame, spec: FeatureSpec, exclude: Iterable[str] = (), seed: int = 11) -> FeatureProfile:
    """Decide the data-dependent parts of the features on the training rows (see the module docstring).

    The numeric columns of a sample of at most `spec.profile_sample_rows` rows come to the driver (Arrow) and the
    statistics are computed there: one small transfer instead of a Spark job per statistic.

    Args:
        df: training rows.
        spec: the feature spec.
        exclude: columns that are never features (id, label, weight …).
        seed: the sample's seed.
    """
    numeric, categorical = select_columns(spec, df.schema, exclude)
    rows = derive(df, spec)
    total = rows.count()
    if total > spec.profile_sample_rows:
        rows = rows.sample(fraction=min(1.0, 1.1 * spec.profile_sample_rows / total), seed=seed)
    sample = rows.select(*[F.col(quote(c)).cast("double").alias(c) for c in numeric]).toPandas() if numeric else None
    profile = profile_numeric(sample, spec, numeric, categorical)
    for column, reason in profile.dropped.items():
        logger.info("features: dropping %s (%s)", column, reason)
    logger.info(
        "features: %d numeric (%d log1p, %d capped), %d categorical, %d dropped (profiled on %d rows)",
        len(profile.numeric),
        len(profile.log1p),
        len(profile.caps),
        len(profile.categorical),
        len(profile.dropped),
        0 if sample is None else len(sample),
    )
    return profile


def profile_numeric(
    sample: pd.DataFrame | None, spec: FeatureSpec, numeric: list[str], categorical: list[str]
) -> FeatureProfile:
    """The profile from a pandas sample of the numeric columns: drops (all null, collinear), caps, log1p."""
    profile = FeatureProfile(numeric=list(numeric), categorical=list(categorical))
    if not numeric or sample is None:
        return profile
    for column in numeric:
        if sample[column].notna().sum() == 0:
            profile.dropped[column] = "all values null"
    kept = [c for c in numeric if c not in profile.dropped]
    if spec.cap_quantiles is not None:
        low, high = spec.cap_quantiles
        bounds = sample[kept].quantile([low, high], interpolation="lower")
        profile.caps = {
            c: (float(bounds[c].iloc[0]), float(bounds[c].iloc[1]))
            for c in kept
            if bounds[c].iloc[0] < bounds[c].iloc[1]
        }
    if spec.log1p == "auto":
        skew = sample[kept].skew()
        minimum = sample[kept].min()
        profile.log1p = [c for c in kept if skew[c] > spec.skew_threshold and minimum[c] >= 0]
    else:
        unknown = [c for c in spec.log1p if c not in numeric]
        if unknown:
            raise ConfigError(f"features.log1p names columns that are not numeric features: {unknown}")
        profile.log1p = [c for c in spec.log1p if c in kept]
    if spec.max_correlation is not None and len(kept) > 1:
        transformed = pd.DataFrame({c: _transform_numeric(sample[c], c, profile) for c in kept})
        matrix = transformed.corr().abs()
        pairs = [
            (float(matrix.loc[a, b]), i, j, a, b)
            for i, a in enumerate(kept)
            for j, b in enumerate(kept)
            if i < j and matrix.loc[a, b] == matrix.loc[a, b]
        ]
        for value, _, _, a, b in sorted(pairs, key=lambda item: (-item[0], item[1], item[2])):
            if value <= spec.max_correlation or a in profile.dropped or b in profile.dropped:
                continue
            profile.dropped[b] = f"|corr| with {a} = {value:.3f} > {spec.max_correlation}"
    profile.numeric = [c for c in numeric if c not in profile.dropped]
    profile.caps = {c: v for c, v in profile.caps.items() if c in profile.numeric}
    profile.log1p = [c for c in profile.log1p if c in profile.numeric]
    return profile


def _transform_numeric(values: pd.Series, column: str, profile: FeatureProfile) -> pd.Series:
    """What the pipeline's SQL does to a numeric column (caps, then log1p), in pandas."""
    if column in profile.caps:
        values = values.clip(*profile.caps[column])
    if column in profile.log1p:
        values = np.log1p(values.clip(lower=0))
    return values


def build_feature_pipeline(
    spec: FeatureSpec, schema: T.StructType, profile: FeatureProfile | None = None, exclude: Iterable[str] = ()
) -> Pipeline:
    """The Spark ML Pipeline that turns rows of `schema` into a `features` vector. Pure: nothing is fitted.

    Args:
        spec: the feature spec from conf.
        schema: the input table's schema.
        profile: the training rows' decisions (caps, log1p, drops); without it, every selected column is used,
            log1p only for listed columns and no capping.
        exclude: columns that are never features (id, label …).
    """
    if profile is None:
        numeric, categorical = select_columns(spec, schema, exclude)
        profile = FeatureProfile(numeric, categorical, log1p=[] if spec.log1p == "auto" else list(spec.log1p))
    stages: list[Any] = []
    if spec.derived:
        stages.append(SQLTransformer(statement=_derive_statement(spec)))
    selects = [f"{_numeric_expression(c, profile)} AS {quote(_name('num', c))}" for c in profile.numeric]
    selects += [
        f"coalesce(cast({quote(c)} AS string), '{NULL_LEVEL}') AS {quote(_name('cat', c))}" for c in profile.categorical
    ]
    stages.append(SQLTransformer(statement=f"SELECT *, {', '.join(selects)} FROM __THIS__"))
    assembled = []
    if profile.numeric:
        imputed = [_name("imp", c) for c in profile.numeric]
        stages.append(
            Imputer(strategy="median", inputCols=[_name("num", c) for c in profile.numeric], outputCols=imputed)
        )
        assembled += imputed
    if profile.categorical:
        indexed = [_name("idx", c) for c in profile.categorical]
        encoded = [_name("ohe", c) for c in profile.categorical]
        stages.append(
            StringIndexer(
                inputCols=[_name("cat", c) for c in profile.categorical],
                outputCols=indexed,
                handleInvalid="keep",
                stringOrderType="frequencyDesc",
            )
        )
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep", dropLast=True))
        assembled += encoded
    scaled = spec.scale or spec.pca is not None
    stages.append(
        VectorAssembler(inputCols=assembled, outputCol=FEATURES + "_raw" if scaled else FEATURES, handleInvalid="keep")
    )
    if scaled:
        stages.append(
            StandardScaler(
                inputCol=FEATURES + "_raw",
                outputCol=FEATURES + "_scaled" if spec.pca else FEATURES,
                withMean=True,
                withStd=True,
            )
        )
    if spec.pca is not None:
        components = profile.pca_components or spec.pca.components
        if components is None:
            raise ConfigError("features.pca.variance needs a profile (profile_features) to choose the components")
        stages.append(PCA(k=components, inputCol=FEATURES + "_scaled", outputCol=FEATURES))
    return Pipeline(stages=stages)


def choose_pca_components(pipeline: Pipeline, df: DataFrame, spec: FeatureSpec, profile: FeatureProfile) -> None:
    """For `pca.variance`: fit the stages before PCA, then keep the fewest components reaching the variance."""
    if spec.pca is None or spec.pca.variance is None:
        return
    before = Pipeline(stages=pipeline.getStages()[:-1]).fit(df)
    vectors = before.transform(df)
    width = len(vectors.select(FEATURES + "_scaled").first()[0])
    explained = PCA(k=width, inputCol=FEATURES + "_scaled").fit(vectors).explainedVariance.toArray()
    total, components = 0.0, width
    for i, share in enumerate(explained):
        total += share
        if total >= spec.pca.variance - 1e-12:
            components = i + 1
            break
    profile.pca_components = components
    pipeline.getStages()[-1].setK(components)
    logger.info("features: PCA keeps %d of %d components (%.3f of the variance)", components, width, total)


def slot_names(model: PipelineModel, profile: FeatureProfile) -> list[tuple[str, str]]:
    """(original feature, slot label) for every slot of the assembled vector, before scaling and PCA.

    Numeric features take one slot; a categorical one takes one slot per training level plus one for every level
    training never saw (StringIndexer's `keep` bucket; OneHotEncoder drops its own extra bucket).
    """
    slots = [(c, c) for c in profile.numeric]
    indexers = [s for s in model.stages if isinstance(s, StringIndexerModel)]
    if profile.categorical:
        for column, labels in zip(profile.categorical, indexers[0].labelsArray, strict=True):
            slots += [(column, f"{column}={label}") for label in [*labels, "(unseen)"]]
    return slots


def feature_stage_count(model: PipelineModel | Pipeline) -> int:
    """How many leading stages of a fitted pipeline build features (everything up to the last feature stage)."""
    stages: Sequence[Transformer] = model.stages if isinstance(model, PipelineModel) else model.getStages()
    last = 0
    for i, stage in enumerate(stages):
        out = stage.getOutputCol() if stage.hasParam("outputCol") and stage.isDefined("outputCol") else None
        if out == FEATURES:
            last = i + 1
    return last


def _derive_statement(spec: FeatureSpec) -> str:
    return (
        "SELECT *, " + ", ".join(f"({sql}) AS {quote(name)}" for name, sql in spec.derived.items()) + " FROM __THIS__"
    )


def _numeric_expression(column: str, profile: FeatureProfile) -> str:
    value = f"cast({quote(column)} AS double)"
    if column in profile.caps:
        low, high = profile.caps[column]
        value = f"least(greatest({value}, CAST('{low!r}' AS DOUBLE)), CAST('{high!r}' AS DOUBLE))"
    if column in profile.log1p:
        value = f"log1p(greatest({value}, 0D))"
    return value


def _name(kind: str, column: str) -> str:
    return f"_{kind}_{column}"
