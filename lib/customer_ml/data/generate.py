"""The `generate` stage: write the synthetic customers and their truth to the lake."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.data.synthetic import PROBABILITY, generate
from customer_ml.errors import ConfigError, LakeError
from customer_ml.logs import job_context, stage
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateResult:
    rows: int
    customers_version: int
    truth_version: int
    positive_rate: float
    bayes_auc: float
    seconds: float


def run(
    spark: SparkSession,
    settings: Settings,
    *,
    rows: int | None = None,
    seed: int | None = None,
    drift: float = 0.0,
    partitions: int | None = None,
) -> GenerateResult:
    """Generate the synthetic base and write `synthetic.table` and `synthetic.truth_table` (overwriting both).

    The truth table's commit records the label's Bayes-optimal ROC AUC (`customer_ml.bayes_auc`): the AUC of the
    true probabilities against the drawn labels, the ceiling any classifier can reach on this data.
    """
    spec = settings.synthetic
    if not spec.columns:
        raise ConfigError(
            "synthetic.columns is empty: nothing describes a synthetic base; add --overlay examples/retail_bank "
            "(the example bank, as `customer-ml generate` and `demo` do) or describe your own under synthetic:"
        )
    rows = rows if rows is not None else spec.rows
    seed = seed if seed is not None else spec.seed
    with stage("generate") as record, _without_whole_stage_codegen(spark):
        made = generate(spark, spec, rows, seed, drift=drift, partitions=partitions or spec.partitions)
        with job_context(seed=seed, rows=rows, drift=drift):
            customers_version = lake.write_table(made.customers, spec.table, mode="overwrite", schema_mode="overwrite")
            truth_version = lake.write_table(made.truth, spec.truth_table, mode="overwrite", schema_mode="overwrite")
        truth = lake.read_table(spark, spec.truth_table)
        written, rate, auc = auc_from_probabilities(truth, PROBABILITY, spec.label.name)
        record.count("written", written)
        _record_truth_summary(spark, spec.truth_table, auc, rate, seed, drift)
    logger.info(
        "generate: %d customers (seed %d, drift %.2f), positive rate %.4f, Bayes-optimal ROC AUC %.4f",
        rows,
        seed,
        drift,
        rate,
        auc,
    )
    return GenerateResult(rows, customers_version, truth_version, rate, auc, record.seconds)


@contextmanager
def _without_whole_stage_codegen(spark: SparkSession) -> Iterator[None]:
    """The generator is ~60 hashed draws in a few wide projections: fused into one whole-stage method it exceeds
    the JVM's JIT size limit and runs interpreted (7x slower in bench_generate); per-expression codegen splits it
    into JIT-able methods. Restored afterwards, so nothing else is affected."""
    key = "spark.sql.codegen.wholeStage"
    previous = spark.conf.get(key, "true")
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, previous)


def auc_from_probabilities(
    frame: DataFrame, probability: str, label: str, resolution: float = 1e-5
) -> tuple[int, float, float]:
    """Rows, positive rate and ROC AUC of `probability` against `label`, from one aggregation.

    Probabilities are counted in buckets of `resolution` (positives and negatives per bucket, at most
    1/resolution rows collected); the AUC is the exact rank-sum statistic over the buckets, ties counted as half.
    """
    buckets = (
        frame.groupBy(F.floor(F.col(probability) / resolution).alias("bucket"))
        .agg(F.sum(F.col(label).cast("long")).alias("positives"), F.count("*").alias("rows"))
        .orderBy("bucket")
        .toPandas()
    )
    positives = buckets["positives"].to_numpy(dtype=float)
    negatives = buckets["rows"].to_numpy(dtype=float) - positives
    total_positive, total_negative = positives.sum(), negatives.sum()
    rows = int(total_positive + total_negative)
    if not total_positive or not total_negative:
        return rows, total_positive / max(rows, 1), float("nan")
    negatives_below = np.cumsum(negatives) - negatives
    wins = float(np.sum(positives * (negatives_below + negatives / 2)))
    return rows, total_positive / rows, wins / (total_positive * total_negative)


def bayes_auc(spark: SparkSession, truth_table: str) -> float:
    """The Bayes-optimal ROC AUC recorded with the latest generation of the truth table."""
    for commit in lake.history(spark, truth_table):
        if commit["info"].get("customer_ml.bayes_auc"):
            return float(commit["info"]["customer_ml.bayes_auc"])
    raise LakeError(f"table {truth_table} records no Bayes-optimal AUC; run `customer-ml generate` again")


def _record_truth_summary(
    spark: SparkSession, truth_table: str, auc: float, rate: float, seed: int, drift: float
) -> None:
    """Store the figures with the truth table itself: a metadata-only append commit carrying them."""
    empty = lake.read_table(spark, truth_table).limit(0)
    with job_context(bayes_auc=f"{auc:.6f}", positive_rate=f"{rate:.6f}", seed=seed, drift=drift):
        lake.write_table(empty, truth_table, mode="append")
