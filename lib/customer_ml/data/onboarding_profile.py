"""`customer-ml init`, the Spark side: three aggregations over a source, each returning plain data.

1. `count_casts` over the CSV as written (untrimmed, so blank values show): per column, how many values cast to
   each candidate type.
2. `column_stats` over the source as ingest reads it, renamed, with the casts applied as ingest applies them
   (try_cast): nulls, approximate distinct counts, finite min/max, NaN/Infinity, blank values, the values a cast
   turns into null (ingest refuses those), and the id's exact distinct count.
3. `value_sets` over the same rows: the exact values of the columns with few, and the label's positive rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_ml.data.onboarding_rules import NUMERIC_TYPES, VALUE_SET_LIMIT, CastCounts, ColumnStats
from customer_ml.features import quote

COLLECT_BELOW = VALUE_SET_LIMIT + 10  # approximate distinct count under which exact values are collected
_BLANK = r"^\s*$"
_LEADING_ZERO = r"^\s*[+-]?0[0-9]"
_DECIMAL = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"  # not Spark's 1d / 1f suffixes
_NON_FINITE = r"(?i)^\s*[+-]?(nan|inf|infinity)\s*$"
_BOOLEAN = r"(?i)^\s*(true|false)\s*$"  # Spark casts yes/no/1/0 to boolean too: only the literals count here
_ISO_DATE = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"
_ATOMIC_PREFIXES = ("array", "map", "struct", "variant", "binary")
_INFINITY = float("inf")


def count_casts(frame: DataFrame) -> list[CastCounts]:
    """Pass 1: for every (text) column, in one aggregation, the counts of a CastCounts."""
    aggregates = []
    for index, column in enumerate(frame.columns):
        text = F.col(quote(column))
        filled = text.isNotNull() & ~text.rlike(_BLANK)
        conditions = {
            "values": text.isNotNull(),
            "blank": text.rlike(_BLANK),
            "leading_zero": filled & text.rlike(_LEADING_ZERO),
            "as_int": filled & _castable(column, "int"),
            "as_bigint": filled & _castable(column, "bigint"),
            "as_double": filled & _castable(column, "double") & (text.rlike(_DECIMAL) | text.rlike(_NON_FINITE)),
            "as_boolean": filled & text.rlike(_BOOLEAN),
            "as_date": filled & text.rlike(_ISO_DATE) & _castable(column, "date"),
        }
        aggregates += [F.count(F.when(condition, 1)).alias(f"c{index}_{k}") for k, condition in conditions.items()]
    row = frame.agg(*aggregates).first().asDict()
    names = [f.name for f in fields(CastCounts)]
    return [CastCounts(**{k: row[f"c{index}_{k}"] for k in names}) for index in range(len(frame.columns))]


def typed_columns(frame: DataFrame, casts: Mapping[str, str]) -> list[Column]:
    """The columns as ingest.prepare casts them: try_cast for the cast ones, the rest as they are."""
    return [
        F.expr(f"try_cast({quote(c)} AS {casts[c]})").alias(c) if c in casts else F.col(quote(c)) for c in frame.columns
    ]


def column_stats(frame: DataFrame, casts: Mapping[str, str], id_column: str) -> tuple[int, list[ColumnStats], int]:
    """Pass 2: (rows, the stats of every column in order, the id's exact distinct count) in one aggregation.

    Args:
        frame: the source as ingest reads it, renamed, before casts.
        casts: column -> Spark type, applied with try_cast as ingest does.
        id_column: the id column (after renames).
    """
    types, text_types = dict(frame.select(*typed_columns(frame, casts)).dtypes), dict(frame.dtypes)
    typed = {c: F.expr(f"try_cast({quote(c)} AS {casts[c]})") if c in casts else F.col(quote(c)) for c in frame.columns}
    aggregates = [F.count(F.lit(1)).alias("rows"), F.count_distinct(typed[id_column]).alias("id_distinct")]
    for index, column in enumerate(frame.columns):
        value, spark_type = typed[column], types[column]
        floating = spark_type in ("float", "double")
        finite = F.when(~F.isnan(value) & (F.abs(value) != _INFINITY), value) if floating else value
        numeric = spark_type in NUMERIC_TYPES or spark_type.startswith("decimal")
        raw = F.col(quote(column))
        failed = raw.isNotNull() & value.isNull() if column in casts else F.lit(False)
        blank = raw.rlike(_BLANK) if text_types[column] == "string" else F.lit(False)
        distinct = F.approx_count_distinct(value) if _atomic(spark_type) else F.lit(None)
        aggregates += [
            F.count(F.when(value.isNull(), 1)).alias(f"c{index}_nulls"),
            F.count(F.when(failed, 1)).alias(f"c{index}_failures"),
            F.count(F.when(blank, 1)).alias(f"c{index}_blank"),
            distinct.alias(f"c{index}_distinct"),
            (F.min(finite) if numeric else F.lit(None)).alias(f"c{index}_min"),
            (F.max(finite) if numeric else F.lit(None)).alias(f"c{index}_max"),
            (F.count(F.when(F.isnan(value) | (F.abs(value) == _INFINITY), 1)) if floating else F.lit(0)).alias(
                f"c{index}_non_finite"
            ),
        ]
    row = frame.agg(*aggregates).first().asDict()
    stats = [
        ColumnStats(
            name=column,
            type=types[column],
            nulls=row[f"c{index}_nulls"],
            distinct=row[f"c{index}_distinct"],
            minimum=_plain(row[f"c{index}_min"]),
            maximum=_plain(row[f"c{index}_max"]),
            non_finite=row[f"c{index}_non_finite"],
            blank=row[f"c{index}_blank"],
            cast_failures=row[f"c{index}_failures"],
        )
        for index, column in enumerate(frame.columns)
    ]
    return row["rows"], stats, row["id_distinct"]


def value_sets(
    frame: DataFrame, casts: Mapping[str, str], columns: Sequence[str], label: str, positive: Any
) -> tuple[dict[str, tuple[Any, ...]], int]:
    """Pass 3: the sorted distinct values of `columns` (chosen for having few) and the rows whose label equals
    `positive` (0 when it is None: not a value of the label's type)."""
    typed = frame.select(*typed_columns(frame, casts))
    positives = F.count(F.when(F.col(quote(label)) == F.lit(positive), 1)) if positive is not None else F.lit(0)
    aggregates = [F.array_sort(F.collect_set(F.col(quote(c)))).alias(f"c{i}") for i, c in enumerate(columns)]
    row = typed.agg(positives.alias("positive"), *aggregates).first()
    return {c: tuple(_plain(v) for v in row[f"c{i}"]) for i, c in enumerate(columns)}, row["positive"]


def few_values(stats: Sequence[ColumnStats], label: str) -> list[str]:
    """The columns whose exact values pass 3 collects: atomic, non-floating, with few distinct values."""
    return [
        s.name
        for s in stats
        if s.distinct is not None
        and s.distinct <= COLLECT_BELOW
        and (s.type in ("string", "boolean", *NUMERIC_TYPES) or s.name == label)
        and (s.type not in ("float", "double") or s.name == label)
    ]


def _castable(column: str, spark_type: str) -> Column:
    return F.expr(f"try_cast({quote(column)} AS {spark_type})").isNotNull()


def _atomic(spark_type: str) -> bool:
    return not spark_type.startswith(_ATOMIC_PREFIXES)


def _plain(item: Any) -> Any:
    """Decimals as floats, so the values render as YAML numbers."""
    return float(item) if isinstance(item, Decimal) else item
