"""The Spark aggregations behind the drift statistics: what comes back is per-bin counts, never rows.

The reference and current rows are tagged (side 0 / 1) and unioned, so each aggregation below is one query that
reads both frames once, whatever the number of columns:
  - `summarise`: per side, rows, and per numeric column min, max, sample std and approximate quantiles;
  - `count_bins`: every numeric value in its right-closed grid bin and every category, one (side, column, bin or
    category) group each, with rows, value sum, min and max.

Missing values: null, NaN and +-inf all count as null (`finite`), so they are left out of quantiles and bins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_ml.monitoring.divergence import BinnedValues

SIDES = (0, 1)
"""0 is the reference, 1 the current frame."""

Group = tuple[int, int, int | None, str | None]
"""(side, column index, bin or None, category or None); a numeric column's nulls have neither bin nor category."""


@dataclass(frozen=True)
class NumericSummary:
    """One numeric column of one side: None throughout when it has no values (std also with a single value)."""

    minimum: float | None
    maximum: float | None
    std: float | None
    quantiles: list[float] | None


@dataclass(frozen=True)
class Summary:
    """One side's rows and a NumericSummary per numeric column, in column order."""

    rows: int
    columns: list[NumericSummary]


@dataclass(frozen=True)
class BinTable:
    """The result of `count_bins`: (rows, value sum, min, max) per group."""

    groups: dict[Group, tuple[int, float | None, float | None, float | None]]

    def binned(self, side: int, column: int, edges: int) -> BinnedValues:
        """One side's non-null values of a numeric column over a grid of `edges` edges."""
        rows, sums = [0] * (edges + 1), [0.0] * (edges + 1)
        minimums, maximums = [float("nan")] * (edges + 1), [float("nan")] * (edges + 1)
        for (group_side, group_column, bin_index, _), (n, total, smallest, largest) in self.groups.items():
            if (group_side, group_column) == (side, column) and bin_index is not None:
                rows[bin_index], sums[bin_index] = n, total
                minimums[bin_index], maximums[bin_index] = smallest, largest
        return BinnedValues(rows, sums, minimums, maximums)

    def nulls(self, side: int, column: int) -> int:
        """Rows of a numeric column that have no value."""
        return self.groups.get((side, column, None, None), (0,))[0]

    def categories(self, side: int, column: int) -> dict[str | None, int]:
        """Rows per category of a categorical column (None holds the nulls)."""
        return {key[3]: value[0] for key, value in self.groups.items() if key[:2] == (side, column)}

    def rows(self, side: int, column: int) -> int:
        """All rows of one side, as counted for one column."""
        return sum(value[0] for key, value in self.groups.items() if key[:2] == (side, column))


def finite(column: str) -> Column:
    """The column as a double with NaN and +-inf made null, and -0.0 made 0.0 (x + 0.0)."""
    value = F.col(column).cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value + F.lit(0.0))


def quantiles(column: str, probabilities: Sequence[float], relative_error: float) -> Column:
    """percentile_approx of a column, the aggregate form of approxQuantile (the same Greenwald-Khanna sketch).

    Written as SQL text: passed as a Python list, 1,001 probabilities cost ~1,000 py4j calls per column (12 s of
    driver time for 24 columns, measured), as text one parse."""
    listed = ", ".join(repr(float(p)) for p in probabilities)
    return F.expr(f"percentile_approx(`{column}`, array({listed}), {int(round(1 / relative_error))})")


def tagged_union(
    reference: DataFrame,
    current: DataFrame,
    numeric_cols: Sequence[str],
    categorical_cols: Sequence[str],
    slice_column: str | None = None,
    slice_values: Sequence[str | None] = (),
) -> DataFrame:
    """Both frames' columns of interest as _n<i> (finite doubles) and _c<j> (strings), with _side 0 / 1; with a
    slice column, each row whose value is slice_values[k] once more as side 2 + 2k (reference) / 3 + 2k (current),
    so that every aggregation below gives each slice's figures beside the whole frames' (`slice_sides`)."""

    def tagged(frame: DataFrame, side: int) -> DataFrame:
        sides = F.array(F.lit(side))
        if slice_column is not None:
            sliced = F.lit(None).cast("int")
            for k, value in enumerate(slice_values):
                matches = F.col(slice_column).isNull() if value is None else F.col(slice_column) == F.lit(value)
                sliced = F.when(matches, F.lit(2 + 2 * k + side)).otherwise(sliced)
            sides = F.filter(F.array(F.lit(side), sliced), lambda x: x.isNotNull())
        return frame.select(
            F.explode(sides).alias("_side"),
            *[finite(name).alias(f"_n{i}") for i, name in enumerate(numeric_cols)],
            *[F.col(name).cast("string").alias(f"_c{j}") for j, name in enumerate(categorical_cols)],
        )

    return tagged(reference, 0).unionByName(tagged(current, 1))


def slice_sides(slices: int) -> list[tuple[int, int]]:
    """The (reference, current) sides of the whole frames, then of each slice in `tagged_union`'s order."""
    return [(0, 1)] + [(2 + 2 * k, 3 + 2 * k) for k in range(slices)]


def summarise(
    both: DataFrame, numeric: int, probabilities: Sequence[float], relative_error: float, sides: int = 2
) -> list[Summary]:
    """Per side 0 .. sides - 1 (a side without rows gets rows = 0): rows and each of the `numeric` columns'
    summary."""
    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for i in range(numeric):
        value = F.col(f"_n{i}")
        aggregates += [
            F.min(value).alias(f"_min{i}"),
            F.max(value).alias(f"_max{i}"),
            F.stddev_samp(value).alias(f"_std{i}"),
            quantiles(f"_n{i}", probabilities, relative_error).alias(f"_q{i}"),
        ]
    found = {row["_side"]: row for row in both.groupBy("_side").agg(*aggregates).collect()}
    summaries = []
    for side in range(sides):
        row = found.get(side)
        columns = [
            NumericSummary(row[f"_min{i}"], row[f"_max{i}"], row[f"_std{i}"], row[f"_q{i}"])
            if row
            else NumericSummary(None, None, None, None)
            for i in range(numeric)
        ]
        summaries.append(Summary(row["_rows"] if row else 0, columns))
    return summaries


def grid_edges(summaries: Sequence[Summary], index: int) -> list[float]:
    """The KS / Wasserstein grid of numeric column `index`: both sides' quantiles, minima and maxima."""
    edges: set[float] = set()
    for summary in summaries:
        column = summary.columns[index]
        edges |= set(column.quantiles or [])
        edges |= {value for value in (column.minimum, column.maximum) if value is not None}
    return sorted(edges)


def count_bins(both: DataFrame, grids: Sequence[Sequence[float]], categorical: int) -> BinTable:
    """Two aggregations: every _n<i> binned over grids[i], and the categories of _c0 .. _c<categorical> (column
    indexes follow the numeric ones). Apart, not in one: a string category in the numeric rows' grouping key
    made the numeric part 50 % slower (measured at 10M rows: 52 s together, 32 s + 6 s apart)."""
    groups: dict[Group, tuple[int, float | None, float | None, float | None]] = {}
    if grids:
        width = max(len(edges) for edges in grids) + 2  # bins per column: edges + 1, and the null bin
        entries = [
            F.struct(
                (F.lit(i * width) + F.coalesce(F.col(f"_b{i}"), F.lit(width - 1))).alias("key"),
                F.col(f"_n{i}").alias("value"),
            )
            for i in range(len(grids))
        ]
        numeric = (
            with_bins(both, grids)
            .select("_side", F.inline(F.array(*entries)))
            .groupBy("_side", "key")
            .agg(F.count(F.lit(1)).alias("rows"), F.sum("value"), F.min("value"), F.max("value"))
        )
        for row in numeric.collect():
            column, bin_index = divmod(row["key"], width)
            groups[(row["_side"], column, None if bin_index == width - 1 else bin_index, None)] = tuple(row[2:])
    if categorical:
        entries = [
            F.struct(F.lit(len(grids) + j).alias("column"), F.col(f"_c{j}").alias("category"))
            for j in range(categorical)
        ]
        found = both.select("_side", F.inline(F.array(*entries))).groupBy("_side", "column", "category").count()
        for row in found.collect():
            groups[(row["_side"], row["column"], None, row["category"])] = (row["count"], None, None, None)
    return BinTable(groups)


def with_bins(frame: DataFrame, grids: Sequence[Sequence[float]]) -> DataFrame:
    """Add _b<i>, the right-closed bin of _n<i> over grids[i]: the number of edges below the value (null stays null).

    Bucketizer's bins are left-closed [s_j, s_j+1), so it bins -x over the negated edges: -x in [-e_i+1, -e_i) is
    x in (e_i, e_i+1]. `finite` leaves no -0.0, so a value equal to an edge lands in the bin that edge closes."""
    bucketed = [i for i, edges in enumerate(grids) if edges]
    frame = frame.withColumns({f"_m{i}": -F.col(f"_n{i}") for i in bucketed})
    if bucketed:
        splits = [[float("-inf"), *sorted(-(edge + 0.0) for edge in grids[i]), float("inf")] for i in bucketed]
        bucketizer = Bucketizer(
            inputCols=[f"_m{i}" for i in bucketed], outputCols=[f"_k{i}" for i in bucketed], handleInvalid="keep"
        )
        _set_splits(bucketizer, splits)
        frame = bucketizer.transform(frame)
    return frame.withColumns(
        {
            f"_b{i}": (F.lit(len(edges)) - F.col(f"_k{i}")).cast("int")
            if edges
            else F.when(F.col(f"_n{i}").isNotNull(), F.lit(0))
            for i, edges in enumerate(grids)
        }
    )


def _set_splits(bucketizer: Bucketizer, splits: list[list[float]]) -> None:
    """Set splitsArray on the JVM side from JSON text: as a Python list of lists, 24 columns of 1,000 edges took
    ~1 py4j call per edge (3.6 s of driver time, measured); as text, one call to the param's own decoder. The
    decoder takes no infinities: the outer splits become -+Double.MAX_VALUE, which still hold every finite value
    (`finite` leaves no other), the last split being inclusive."""
    text = json.dumps([[max(min(v, sys.float_info.max), -sys.float_info.max) for v in row] for row in splits])
    java = bucketizer._java_obj  # noqa: SLF001 - the wrapped JVM transformer, to set a param from its JSON form
    param = java.splitsArray()
    java.set(param, param.jsonDecode(text))
