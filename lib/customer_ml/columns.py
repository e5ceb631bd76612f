"""What the model stages share: the columns training writes and scoring and monitoring read, the label as 0/1,
and the kinds under which MLflow registers the models.

Scoring and monitoring import this module, not the trainers, so a change inside a trainer cannot reach them.
"""

from __future__ import annotations

from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml import evaluation, features
from customer_ml.errors import ConfigError
from customer_ml.settings import DataSpec

CLASSIFIER = "classifier"  # model kinds: registered model names and MLflow tags
SEGMENTER = "segmenter"
SCORE = "score"  # the classifier's score (probability of the positive class, rounded)
PROBABILITY = "probability"  # Spark ML's probability vector
SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"
SEGMENT_MIX = "segment_mix.json"  # the segmenter run's artifact: its training rows' share per segment
MEAN_DISTANCE = "mean_centroid_distance"  # the segmenter run's metric: mean distance to the assigned centre


def label_expression(data: DataSpec, schema: T.StructType) -> Column:
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
    if not is_number(positive):
        raise ConfigError(
            f"data.label.positive is {describe_value(positive)} but label column {column} is "
            f"{schema[column].dataType.simpleString()}; set data.label.positive to one of its values"
        )
    return F.when(value.isNull(), F.lit(None)).otherwise(
        (value.cast("double") == F.lit(float(positive))).cast("double")
    )


def score_expression() -> Column:
    """The probability of the positive class, rounded to `evaluation.SCORE_DECIMALS`.

    Thresholds are chosen on scores at that precision (evaluation aggregates by rounded score), so the rounded
    score is what training, scoring and the users' `score >= threshold` all compare: the same rows are positive.
    """
    return F.round(vector_to_array(F.col(PROBABILITY)).getItem(1), evaluation.SCORE_DECIMALS)


def is_number(value: object) -> bool:
    """A label value that reads as a number (a YAML boolean does not)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def describe_value(value: object) -> str:
    kind = {bool: "a YAML boolean", int: "a number", float: "a number", str: "a string"}.get(type(value), "a value")
    return f"{value!r} ({kind})" if not isinstance(value, bool) else f"{str(value).lower()} ({kind})"
