"""The feature pipeline builder: stages and columns without fitting; unseen categories and nulls; the profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml.feature import (
    PCA,
    Imputer,
    OneHotEncoder,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from customer_ml import features
from customer_ml.errors import ConfigError
from customer_ml.settings import FeatureSpec

SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType()),
        T.StructField("label", T.IntegerType()),
        T.StructField("balance", T.DoubleType()),
        T.StructField("limit_", T.DoubleType()),
        T.StructField("visits", T.IntegerType()),
        T.StructField("active", T.BooleanType()),
        T.StructField("region", T.StringType()),
        T.StructField("opened", T.DateType()),
    ]
)
ROWS = [
    ("a", 0, 100.0, 1000.0, 3, True, "north", None),
    ("b", 1, 2000.0, 5000.0, 10, False, "south", None),
    ("c", 0, 50.0, 800.0, 1, True, "north", None),
    ("d", 1, 3000.0, 6000.0, 12, True, "east", None),
    ("e", 0, 10.0, 500.0, 2, False, "south", None),
]


def test_columns_are_detected_from_the_schema_and_overridable() -> None:
    spec = FeatureSpec(derived={"ratio": "balance / nullif(limit_, 0)"})
    numeric, categorical = features.select_columns(spec, SCHEMA, exclude=["id", "label"])
    assert numeric == ["balance", "limit_", "visits", "active", "ratio"]
    assert categorical == ["region"]  # the date column is left out
    spec = FeatureSpec(include=["visits", "region"], categorical=["visits"])
    assert features.select_columns(spec, SCHEMA, exclude=["id"]) == ([], ["visits", "region"])
    spec = FeatureSpec(exclude=["balance", "active"], numeric=["limit_"])
    assert features.select_columns(spec, SCHEMA, exclude=["id", "label"]) == (["limit_", "visits"], ["region"])


def test_unknown_or_unusable_columns_fail_with_their_names() -> None:
    with pytest.raises(ConfigError, match="feature columns not in the table: nosuch"):
        features.select_columns(FeatureSpec(include=["nosuch"]), SCHEMA)
    with pytest.raises(ConfigError, match="opened has type date"):
        features.select_columns(FeatureSpec(include=["opened"]), SCHEMA)
    with pytest.raises(ConfigError, match="derived features \\['balance'\\]"):
        features.select_columns(FeatureSpec(derived={"balance": "1"}), SCHEMA)
    with pytest.raises(ValueError, match="both categorical and numeric"):
        FeatureSpec(categorical=["a"], numeric=["a"])


def test_pipeline_stages_and_columns_without_fitting(spark: SparkSession) -> None:
    # Stages are built, not fitted (a Spark ML stage needs a running JVM to exist, nothing more).

    spec = FeatureSpec(derived={"ratio": "balance / nullif(limit_, 0)"}, log1p=["balance"], scale=True)
    pipeline = features.build_feature_pipeline(spec, SCHEMA, exclude=["id", "label"])
    stages = pipeline.getStages()
    assert [type(s) for s in stages] == [
        SQLTransformer,
        SQLTransformer,
        Imputer,
        StringIndexer,
        OneHotEncoder,
        VectorAssembler,
        StandardScaler,
    ]
    assert "log1p(greatest(cast(`balance` AS double), 0D)) AS `_num_balance`" in stages[1].getStatement()
    assert stages[2].getInputCols() == ["_num_balance", "_num_limit_", "_num_visits", "_num_active", "_num_ratio"]
    assert stages[3].getHandleInvalid() == "keep"
    assert stages[5].getInputCols()[-1] == "_ohe_region"
    assert stages[-1].getOutputCol() == features.FEATURES
    pca = features.build_feature_pipeline(FeatureSpec(pca={"components": 2}), SCHEMA, exclude=["id", "label"])
    assert isinstance(pca.getStages()[-1], PCA) and pca.getStages()[-1].getK() == 2


def test_unseen_category_and_nulls_at_scoring_time(spark: SparkSession) -> None:
    train = spark.createDataFrame(ROWS, SCHEMA)
    spec = FeatureSpec(derived={"ratio": "balance / nullif(limit_, 0)"}, cap_quantiles=None)
    model = features.build_feature_pipeline(spec, SCHEMA, exclude=["id", "label"]).fit(train)
    new = spark.createDataFrame(
        [("x", None, None, 0.0, None, None, "atlantis", None), ("y", None, 5.0, None, 4, True, None, None)], SCHEMA
    )
    rows = model.transform(new).select("id", features.FEATURES).collect()
    width = len(model.transform(train).first()[features.FEATURES])
    assert [len(r[features.FEATURES]) for r in rows] == [width, width]
    unseen = rows[0][features.FEATURES].toArray()
    # Numeric nulls are the training medians; ratio is null (limit 0) and imputed too.
    assert unseen[0] == 100.0  # median balance
    assert unseen[2] == 3.0  # median visits
    # Region: one slot per training level (north, south, east) and one for every level training never saw.
    assert unseen[5:].tolist() == [0.0, 0.0, 0.0, 1.0]
    # A null region training never saw lands in the same unseen slot: never a failure.
    assert rows[1][features.FEATURES].toArray()[5:].tolist() == [0.0, 0.0, 0.0, 1.0]
    names = [
        label
        for _, label in features.slot_names(
            model, features.FeatureProfile(["balance", "limit_", "visits", "active", "ratio"], ["region"])
        )
    ]
    assert names[5:] == ["region=north", "region=south", "region=east", "region=(unseen)"]


def test_profile_caps_log1p_and_collinear_drops() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=2000)
    sample = pd.DataFrame(
        {
            "x": base,
            "x_copy": base * 2 + 0.001 * rng.normal(size=2000),  # |corr| ~ 1 with x: dropped
            "skewed": np.exp(rng.normal(size=2000) * 1.5),  # positive, skewness >> 2: log1p
            "negative_skewed": -np.exp(rng.normal(size=2000)) + np.exp(rng.normal(size=2000) * 2),
            "empty": np.full(2000, np.nan),
        }
    )
    spec = FeatureSpec(log1p="auto", cap_quantiles=(0.01, 0.99), max_correlation=0.9)
    profile = features.profile_numeric(sample, spec, list(sample.columns), ["region"])
    assert profile.dropped["empty"] == "all values null"
    assert profile.dropped["x_copy"].startswith("|corr| with x = ")
    assert profile.numeric == ["x", "skewed", "negative_skewed"]
    assert profile.log1p == ["skewed"]  # negative_skewed has negative values
    low, high = profile.caps["x"]
    assert low == pytest.approx(np.quantile(base, 0.01, method="lower"))
    assert high == pytest.approx(np.quantile(base, 0.99, method="lower"))


def test_profiled_pipeline_caps_and_logs_in_spark(spark: SparkSession) -> None:
    train = spark.createDataFrame(ROWS, SCHEMA)
    spec = FeatureSpec(include=["balance", "visits"], log1p=["balance"], cap_quantiles=(0.0, 0.5))
    profile = features.profile_features(train, spec, exclude=["id", "label"])
    assert profile.caps == {"balance": (10.0, 100.0), "visits": (1.0, 3.0)}
    model = features.build_feature_pipeline(spec, SCHEMA, profile, exclude=["id", "label"]).fit(train)
    vectors = [r[features.FEATURES].toArray().tolist() for r in model.transform(train).orderBy("id").collect()]
    assert vectors[1] == pytest.approx([np.log1p(100.0), 3.0])  # 2000 capped at 100, then log1p
    assert vectors[4] == pytest.approx([np.log1p(10.0), 2.0])
