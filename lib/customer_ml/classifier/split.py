"""The labelled rows: read with the label as 0/1, cut into train / validation / test per class, weighed."""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_ml import features
from customer_ml.columns import describe_value, label_expression
from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.lake import tables
from customer_ml.settings import ClassifierSettings, DataSpec, FeatureSpec, SplitSpec

logger = logging.getLogger(__name__)


LABEL = "_label"  # the label as 0/1
WEIGHT = "_weight"  # the class weight of a train row
SPLIT = "_split"  # train, validation or test


def check_both_classes(tally: list, counts: dict[str, int], source: str, column: str) -> None:
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
        f"data.label.positive is {describe_value(data.label.positive)}, which label column {data.label.column} of "
        f"table {source} never holds (values: {shown or 'none'}{', …' if len(found) > 20 else ''}); values compare "
        f"exactly, case included{hint}"
    )


def split(rows: DataFrame, config: ClassifierSettings, id_column: str) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Stratified train / validation / test frames (see `mark_split`)."""
    return parts(mark_split(rows, config, id_column))


def parts(marked: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    return tuple(marked.filter(F.col(SPLIT) == name).drop(SPLIT) for name in ("train", "validation", "test"))


def mark_split(rows: DataFrame, config: ClassifierSettings, id_column: str) -> DataFrame:
    """The rows with `_split` (cached): within each class, rows ordered by a hash of (seed, id) and cut at the
    fractions, so the same seed gives the same rows. Classes of up to `split.exact_max_rows` rows are ranked and cut
    in exactly the configured shares; when a class is larger, each row goes by its hash alone (a uniform number
    in [0, 1)), which needs no sort and no task that holds a class."""
    spec = config.split
    largest = max((r["count"] for r in rows.groupBy(LABEL).count().collect()), default=0)
    if largest <= spec.exact_max_rows:
        key = F.xxhash64(F.lit(spec.seed), F.col(features.quote(id_column)))
        by_class = Window.partitionBy(LABEL).orderBy(key, F.col(features.quote(id_column)))
        position = F.percent_rank().over(by_class)
    else:
        position = _uniform(spec.seed, id_column)
        logger.info("split: classes of up to %d rows, cut by hash (exact up to %d)", largest, spec.exact_max_rows)
    marked = rows.withColumn("_position", position).withColumn(
        SPLIT,
        F.when(F.col("_position") < spec.train, "train")
        .when(F.col("_position") < spec.train + spec.validation, "validation")
        .otherwise("test"),
    )
    return marked.drop("_position").cache()


_HASH_SLOTS = 1 << 30  # a row's place in [0, 1): its hash modulo this, divided by it


def _uniform(seed: int, id_column: str) -> Column:
    """A row's number in [0, 1) from a hash of (seed, id): the same seed, the same number; no sort, no window."""
    key = F.xxhash64(F.lit(seed), F.col(features.quote(id_column)))
    return F.pmod(key, F.lit(_HASH_SLOTS)) / F.lit(float(_HASH_SLOTS))


def train_quota(available: dict[float, int], max_rows: int | None) -> dict[float, int]:
    """How many train rows of each class (label -> rows) to keep under a cap of `max_rows`: all of them when they
    fit; otherwise the smaller class keeps up to half the cap and the larger one fills the rest, so a rare class
    loses nothing until it alone would fill half."""
    if max_rows is None or sum(available.values()) <= max_rows:
        return dict(available)
    minority = min(available, key=lambda label: (available[label], label))
    kept = {minority: min(available[minority], max_rows // 2)}
    for label in available:
        if label != minority:
            kept[label] = min(available[label], max_rows - kept[minority])
    return kept


def cap_train(marked: DataFrame, tally: list, spec: SplitSpec, id_column: str) -> tuple[DataFrame, list]:
    """The marked rows with each class's train rows thinned to its `train_quota` under `split.max_train_rows`, and
    the (split, label) tally recounted. Rows are kept by a hash of (seed + 1, id), independent of the split's: the
    same seed keeps the same rows, nothing is ranked or sorted, and validation and test rows pass untouched."""
    available = {r[LABEL]: r["count"] for r in tally if r[SPLIT] == "train"}
    kept = train_quota(available, spec.max_train_rows)
    if kept == available:
        return marked, tally
    logger.info(
        "train rows: %d of %d kept under classifier.split.max_train_rows = %d (per class %s of %s)",
        sum(kept.values()),
        sum(available.values()),
        spec.max_train_rows,
        kept,
        available,
    )
    draw = _uniform(spec.seed + 1, id_column)
    keep = F.lit(False)
    for label, rows in available.items():
        keep = keep | ((F.col(LABEL) == F.lit(label)) & (draw < F.lit(kept[label] / rows)))
    capped = marked.filter((F.col(SPLIT) != "train") | keep)
    recount = capped.where(F.col(SPLIT) == "train").groupBy(SPLIT, LABEL).count().collect()
    return capped, [r for r in tally if r[SPLIT] != "train"] + recount


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


def read_labelled(spark: SparkSession, source: str, data: DataSpec, spec: FeatureSpec) -> tuple[DataFrame, int]:
    frame, version = tables.read_snapshot(spark, source, required={data.require_id(): "data.id_column"})
    rows = frame.withColumn(LABEL, label_expression(data, frame.schema))
    features.check_spec(spec, frame, "classifier.features", source, exclude=[data.require_id(), data.label.column])
    check_label(rows, data, source)
    unlabelled = rows.filter(F.col(LABEL).isNull()).count()
    if unlabelled:
        logger.warning("table %s: %d rows without a label are left out of training", source, unlabelled)
        rows = rows.filter(F.col(LABEL).isNotNull())
    return rows.cache(), version
