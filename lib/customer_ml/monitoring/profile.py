"""The `monitoring_profile` rows of a score date: per column and slice, the summary Lakehouse Monitoring's profile
metrics table holds (count, nulls, zeros, approximate distinct count, mean, std, min, max, median, quantiles, the
most frequent categories with their shares), and a `:table` row per slice with its row count.

Three Spark aggregations, whatever the number of columns: one over every row once per slice it belongs to (the
whole table plus one slice per configured slice column), and over a sample of PROFILE_SKETCH_ROWS rows one for
the quantiles and one for the category counts, of which only the top `top_categories` per column and slice reach
the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml.features import quote
from customer_ml.monitoring.aggregates import finite, quantiles

TABLE_ROW = ":table"
"""column_name of the table-level row (as in Lakehouse Monitoring)."""
PROFILE_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PROFILE_RELATIVE_ERROR = 1e-3
"""Rank error of the profile's quantiles: a profile describes, the drift statistics measure (they use 1e-4)."""
PROFILE_SKETCH_ROWS = 200_000
"""Rows the profile's quantiles come from (a larger frame is sampled): they describe, within ~0.2 % of rank."""

FREQUENT_ITEM = T.StructType(
    [
        T.StructField("item", T.StringType()),
        T.StructField("count", T.LongType()),
        T.StructField("share", T.DoubleType()),
    ]
)


@dataclass
class ProfileRow:
    """One (column, slice) of a score date's profile; numbers None where they do not apply."""

    slice_key: str | None
    slice_value: str | None
    column_name: str
    data_type: str
    count: int
    num_nulls: int | None = None
    num_zeros: int | None = None
    distinct_count: int | None = None
    avg: float | None = None
    stddev: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: list[float] | None = None
    frequent_items: list[tuple[str | None, int, float]] = field(default_factory=list)

    @property
    def percent_null(self) -> float | None:
        return 100.0 * self.num_nulls / self.count if self.count and self.num_nulls is not None else None

    @property
    def percent_zeros(self) -> float | None:
        return 100.0 * self.num_zeros / self.count if self.count and self.num_zeros is not None else None

    @property
    def percent_distinct(self) -> float | None:
        return 100.0 * self.distinct_count / self.count if self.count and self.distinct_count is not None else None

    @property
    def median(self) -> float | None:
        return self.quantiles[PROFILE_QUANTILES.index(0.5)] if self.quantiles else None


def profile(
    frame: DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    slices: Sequence[str] = (),
    top: int = 10,
    sketch_rows: int = PROFILE_SKETCH_ROWS,
    prepare: Callable[[DataFrame], DataFrame] | None = None,
) -> list[ProfileRow]:
    """Profile rows for every column, for the whole frame (slice_key None) and per value of each slice column.

    Args:
        frame: the rows to profile.
        numeric: numeric columns (null, NaN and +-inf count as nulls; zeros counted).
        categorical: columns profiled as categories (values as strings; the top `top` with their shares).
        slices: columns whose values slice the rows (a null value is its own slice).
        top: most frequent categories kept per column and slice.
        sketch_rows: rows the quantiles and frequent items are estimated from (a larger frame is sampled, and a
            frequent item's count is its share in the sample times the slice's rows); the other figures are
            exact, the distinct counts approximate.
        prepare: what adds the slice columns (e.g. the segmenter), applied to the frame and, apart, to its
            sample, so that the sample's passes do not run it over every row.
    """
    prepare = prepare or (lambda rows: rows)

    def sliced(rows: DataFrame) -> DataFrame:
        return rows.select(
            F.explode(F.array(_whole(), *[_slice(name) for name in slices])).alias("_s"),
            *[finite(name).alias(f"_n{i}") for i, name in enumerate(numeric)],
            *[F.col(quote(name)).cast("string").alias(f"_c{j}") for j, name in enumerate(categorical)],
        ).select(
            "_s.key", "_s.value", *[f"_n{i}" for i in range(len(numeric))], *[f"_c{j}" for j in range(len(categorical))]
        )

    summaries = (
        sliced(prepare(frame)).groupBy("key", "value").agg(*_aggregates(len(numeric), len(categorical))).collect()
    )
    whole = next((r["_rows"] for r in summaries if r["key"] is None), 0)
    sample = sliced(prepare(frame if whole <= sketch_rows else frame.sample(fraction=sketch_rows / whole, seed=17)))
    quantiles_by_slice = _quantiles(sample, len(numeric)) if numeric else {}
    rows: list[ProfileRow] = []
    for summary in sorted(summaries, key=lambda r: (r["key"] or "", r["value"] or "")):
        found = quantiles_by_slice.get((summary["key"], summary["value"]), {})
        rows.append(ProfileRow(summary["key"], summary["value"], TABLE_ROW, "table", summary["_rows"]))
        rows += [_numeric_row(summary, i, name, found.get(i)) for i, name in enumerate(numeric)]
        rows += [_categorical_row(summary, j, name) for j, name in enumerate(categorical)]
    if categorical:
        _attach_frequent(rows, sample, categorical, top)
    return rows


def _quantiles(sample: DataFrame, numeric: int) -> dict[tuple[str | None, str | None], dict[int, list[float] | None]]:
    """Per slice, each numeric column's PROFILE_QUANTILES, from the sample."""
    found = sample.groupBy("key", "value").agg(
        *[quantiles(f"_n{i}", PROFILE_QUANTILES, PROFILE_RELATIVE_ERROR).alias(f"_q{i}") for i in range(numeric)]
    )
    return {
        (row["key"], row["value"]): {i: list(row[f"_q{i}"]) if row[f"_q{i}"] else None for i in range(numeric)}
        for row in found.collect()
    }


def _whole() -> Column:
    return F.struct(F.lit(None).cast("string").alias("key"), F.lit(None).cast("string").alias("value"))


def _slice(name: str) -> Column:
    return F.struct(F.lit(name).alias("key"), F.col(quote(name)).cast("string").alias("value"))


def _aggregates(numeric: int, categorical: int) -> list[Column]:
    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for i in range(numeric):
        value = F.col(f"_n{i}")
        aggregates += [
            F.count(value).alias(f"_count{i}"),
            F.count(F.when(value == 0, 1)).alias(f"_zeros{i}"),
            F.approx_count_distinct(value).alias(f"_distinct{i}"),
            F.avg(value).alias(f"_avg{i}"),
            F.stddev_samp(value).alias(f"_std{i}"),
            F.min(value).alias(f"_min{i}"),
            F.max(value).alias(f"_max{i}"),
        ]
    for j in range(categorical):
        value = F.col(f"_c{j}")
        aggregates += [F.count(value).alias(f"_ccount{j}"), F.approx_count_distinct(value).alias(f"_cdistinct{j}")]
    return aggregates


def _numeric_row(summary: Any, i: int, name: str, found: list[float] | None) -> ProfileRow:
    rows = summary["_rows"]
    return ProfileRow(
        summary["key"],
        summary["value"],
        name,
        "numeric",
        rows,
        num_nulls=rows - summary[f"_count{i}"],
        num_zeros=summary[f"_zeros{i}"],
        distinct_count=summary[f"_distinct{i}"],
        avg=summary[f"_avg{i}"],
        stddev=summary[f"_std{i}"],
        min=summary[f"_min{i}"],
        max=summary[f"_max{i}"],
        quantiles=found,
    )


def _categorical_row(summary: Any, j: int, name: str) -> ProfileRow:
    rows = summary["_rows"]
    return ProfileRow(
        summary["key"],
        summary["value"],
        name,
        "categorical",
        rows,
        num_nulls=rows - summary[f"_ccount{j}"],
        distinct_count=summary[f"_cdistinct{j}"],
    )


def _attach_frequent(rows: list[ProfileRow], sample: DataFrame, categorical: Sequence[str], top: int) -> None:
    """Fill each categorical row's frequent_items: its `top` most frequent values in the sample (null included),
    with their share there and that share of the slice's rows as the count."""
    entries = [F.struct(F.lit(j).alias("column"), F.col(f"_c{j}").alias("item")) for j in range(len(categorical))]
    counts = (
        sample.select("key", "value", F.inline(F.array(*entries)))
        .groupBy("key", "value", "column", "item")
        .agg(F.count(F.lit(1)).alias("n"))
        .withColumn("share", F.col("n") / F.sum("n").over(Window.partitionBy("key", "value", "column")))
    )
    rank = F.row_number().over(Window.partitionBy("key", "value", "column").orderBy(F.desc("n"), F.asc("item")))
    by_row = {(r.slice_key, r.slice_value, r.column_name): r for r in rows}
    for found in counts.withColumn("_rank", rank).where(F.col("_rank") <= top).orderBy("_rank").collect():
        row = by_row[(found["key"], found["value"], categorical[found["column"]])]
        row.frequent_items.append((found["item"], round(found["share"] * row.count), found["share"]))
