"""The `monitoring_profile` rows of a score date: per column and slice, the summary Lakehouse Monitoring's profile
metrics table holds (count, nulls, zeros, approximate distinct count, mean, std, min, max, median, quantiles, the
most frequent categories with their shares), and a `:table` row per slice with its row count.

From one measured frame (monitoring/scan.py: one pass over every row, all slices at once, and a sample of
scan.SAMPLE_ROWS rows for the quantiles): counts, means, extremes and category counts are exact, the distinct
count of a numeric column is a KMV estimate (exact below scan.SKETCH_SIZE values), the quantiles are the sample's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from customer_ml.monitoring import scan

TABLE_ROW = ":table"
"""column_name of the table-level row (as in Lakehouse Monitoring)."""
PROFILE_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

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
    sample_rows: int = scan.SAMPLE_ROWS,
    prepare: Callable[[DataFrame], DataFrame] | None = None,
) -> list[ProfileRow]:
    """Profile rows for every column, for the whole frame (slice_key None) and per value of each slice column.

    Args:
        frame: the rows to profile.
        numeric: numeric columns (null, NaN and +-inf count as nulls; zeros counted).
        categorical: columns profiled as categories (values as strings; the top `top` with their shares).
        slices: columns whose values slice the rows (a null value is its own slice).
        top: most frequent categories kept per column and slice.
        sample_rows: rows the quantiles are estimated from (a larger frame is sampled).
        prepare: what adds the slice columns (e.g. the segmenter), applied to the frame and, apart, to its
            sample.
    """
    side = scan.Side(frame, numeric, categorical, slices, (), prepare)
    return profile_rows(scan.measure([side], sample_rows=sample_rows)[0], numeric, categorical, top)


def profile_rows(
    measured: scan.Measured, numeric: Sequence[str], categorical: Sequence[str], top: int = 10
) -> list[ProfileRow]:
    """The profile rows of a measured frame: per slice its `:table` row, then its numeric and categorical columns,
    slices in (slice column, value) order after the whole frame."""
    rows: list[ProfileRow] = []
    for key in sorted(measured.counts, key=lambda k: (k[0] or "", k[1] or "")):
        found = measured.counts[key]
        rows.append(ProfileRow(*key, TABLE_ROW, "table", found.rows))
        values = measured.values.get(key, {})
        rows += [_numeric_row(key, found, name, values.get(name)) for name in numeric]
        rows += [_categorical_row(key, found, name, top) for name in categorical]
    return rows


def _numeric_row(key: scan.Slice, found: scan.SliceCounts, name: str, values: np.ndarray | None) -> ProfileRow:
    column = found.numeric[name]
    return ProfileRow(
        *key,
        name,
        "numeric",
        found.rows,
        num_nulls=column.nulls,
        num_zeros=column.zeros,
        distinct_count=column.distinct,
        avg=column.average,
        stddev=column.std,
        min=column.minimum if column.count else None,
        max=column.maximum if column.count else None,
        quantiles=scan.quantiles(values, PROFILE_QUANTILES) if values is not None else None,
    )


def _categorical_row(key: scan.Slice, found: scan.SliceCounts, name: str, top: int) -> ProfileRow:
    """Counts per category are exact: the top `top` (a null is an item; ties in item order, null first)."""
    categories = found.categorical[name]
    ranked = sorted(categories.items(), key=lambda item: (-item[1], item[0] is not None, item[0] or ""))[:top]
    return ProfileRow(
        *key,
        name,
        "categorical",
        found.rows,
        num_nulls=categories.get(None, 0),
        distinct_count=sum(1 for value in categories if value is not None),
        frequent_items=[(value, rows, rows / found.rows) for value, rows in ranked],
    )
