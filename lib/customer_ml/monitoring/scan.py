"""One pass over a frame that counts, per slice, everything the drift statistics and the profile need of it.

`count` sends the frame's rows through numpy in Arrow batches (mapInArrow) and brings back, per partition, one
small pickled summary, merged on the driver: per slice (the whole frame, and each value of each slice column)
  - rows;
  - per numeric column: values, nulls (null, NaN, +-inf), zeros, mean and sum of squared deviations (merged with
    Chan's formula), min, max, a KMV sketch of the distinct values (the SKETCH_SIZE smallest 40-bit hashes:
    exact below SKETCH_SIZE distinct values, else within ~2 % at one standard error), and, where the layout
    gives the column a grid, per right-closed grid bin its rows, value sum, min and max;
  - per categorical column: rows per category (None holds the nulls), exactly.
Bins per slice only for the slice columns drift is compared by (`Layout.binned_slices`); other slice columns get
the figures without bins, so a slice column with thousands of values stays cheap.

Why not Spark aggregations: counting 340M values into their bins as (side, column, bin) groups took ~32 s at 10M
rows and 17 columns per side (an `inline` and a hash aggregation), and the profile and every drift comparison each
read the rows again, the segmenter applied each time; here one pass per frame feeds all of them (measured in
bench/README.md). `measure` also brings a bounded sample of each frame to the driver for the quantiles (bin edges,
profile quantiles) and shares one grid per column among the frames it measures.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_ml.features import quote
from customer_ml.monitoring.divergence import BinnedValues

logger = logging.getLogger(__name__)

HASH_BITS = 40
"""Bits of a value's hash in the distinct-count sketch; the bits above hold its slice while a chunk is counted."""
SKETCH_SIZE = 2048
"""Hashes kept per (slice, column): the KMV estimate's relative standard error is about 1 / sqrt(SKETCH_SIZE)."""
SAMPLE_ROWS = 200_000
"""Rows of a frame its quantiles come from (the PSI deciles, the KS / Wasserstein grid, the profile's quantiles): a
larger frame is sampled. Only bin edges and the profile's quantiles come from the sample; every row is counted in
its bin, so the statistics are exact over those bins, and a decile edge is within ~0.2 % of rank of the true one."""
BATCH_ROWS = 100_000
"""Rows per Arrow batch of the counting pass (Spark's default is 10,000): 20 % less time converting 10M rows of 24
columns (15.5 s -> 12.3 s, measured), about 20 MB a batch."""
BATCH_ROWS_SETTING = "spark.sql.execution.arrow.maxRecordsPerBatch"
CHUNK_ROWS = 500_000
"""Arrow batches are gathered to about this many rows before numpy counts them (fewer calls, same memory order)."""

Slice = tuple[str | None, str | None]
"""(slice column, value as a string); WHOLE is the whole frame."""
WHOLE: Slice = (None, None)
_MASK = np.uint64((1 << HASH_BITS) - 1)


@dataclass(frozen=True)
class Layout:
    """What `count` counts: the frame's numeric and categorical columns, its slice columns, those of them whose
    slices are binned (a subset), and the grids of sorted finite edges of the numeric columns that are binned."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    slices: tuple[str, ...] = ()
    binned_slices: tuple[str, ...] = ()
    grids: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass
class NumericCounts:
    """A numeric column in one slice."""

    count: int = 0
    nulls: int = 0
    zeros: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = float("nan")
    maximum: float = float("nan")
    sketch: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    bins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # rows, sums, mins, maxs per bin

    @property
    def rows(self) -> int:
        return self.count + self.nulls

    @property
    def std(self) -> float | None:
        """Sample standard deviation of the values (None below two values)."""
        return float(np.sqrt(self.m2 / (self.count - 1))) if self.count > 1 else None

    @property
    def average(self) -> float | None:
        return self.mean if self.count else None

    @property
    def distinct(self) -> int:
        """Distinct values: exact below SKETCH_SIZE, else the KMV estimate (k - 1) / (k-th smallest hash)."""
        if len(self.sketch) < SKETCH_SIZE:
            return len(self.sketch)
        return int(round((SKETCH_SIZE - 1) / ((float(self.sketch[SKETCH_SIZE - 1]) + 1.0) / 2.0**HASH_BITS)))

    def binned(self) -> BinnedValues:
        """The values over the grid's bins (empty bins: min and max NaN)."""
        if self.bins is None:
            raise ValueError("this column was counted without a grid")
        rows, sums, minimums, maximums = self.bins
        return BinnedValues(rows.tolist(), sums.tolist(), minimums.tolist(), maximums.tolist())

    def merge(self, other: NumericCounts) -> None:
        total = self.count + other.count
        if total:
            delta = other.mean - self.mean
            self.m2 += other.m2 + delta * delta * self.count * other.count / total
            self.mean += delta * other.count / total
        self.count, self.nulls, self.zeros = total, self.nulls + other.nulls, self.zeros + other.zeros
        self.minimum, self.maximum = (
            float(np.fmin(self.minimum, other.minimum)),
            float(np.fmax(self.maximum, other.maximum)),
        )
        self.sketch = np.union1d(self.sketch, other.sketch)[:SKETCH_SIZE]
        if other.bins is not None:
            if self.bins is None:
                self.bins = tuple(array.copy() for array in other.bins)  # type: ignore[assignment]
            else:
                rows, sums, minimums, maximums = self.bins
                self.bins = (
                    rows + other.bins[0],
                    sums + other.bins[1],
                    np.fmin(minimums, other.bins[2]),
                    np.fmax(maximums, other.bins[3]),
                )


@dataclass
class SliceCounts:
    """One slice's rows and columns (by name)."""

    rows: int = 0
    numeric: dict[str, NumericCounts] = field(default_factory=dict)
    categorical: dict[str, dict[str | None, int]] = field(default_factory=dict)

    def merge(self, other: SliceCounts) -> None:
        self.rows += other.rows
        for name, found in other.numeric.items():
            self.numeric.setdefault(name, NumericCounts()).merge(found)
        for name, categories in other.categorical.items():
            mine = self.categorical.setdefault(name, {})
            for value, rows in categories.items():
                mine[value] = mine.get(value, 0) + rows


Counts = dict[Slice, SliceCounts]


def merge(into: Counts, found: Counts) -> Counts:
    for key, counts in found.items():
        into.setdefault(key, SliceCounts()).merge(counts)
    return into


@dataclass(frozen=True)
class Side:
    """A frame to measure: its columns, its slice columns (and which of them get bins per slice), and what adds
    slice columns it lacks (e.g. the segmenter), applied to its sample and to its rows apart."""

    frame: DataFrame
    numeric: Sequence[str]
    categorical: Sequence[str]
    slices: Sequence[str] = ()
    binned_slices: Sequence[str] = ()
    prepare: Callable[[DataFrame], DataFrame] | None = None

    def layout(self, grids: Mapping[str, Sequence[float]]) -> Layout:
        return Layout(
            tuple(self.numeric),
            tuple(self.categorical),
            tuple(self.slices),
            tuple(self.binned_slices),
            {name: tuple(grids[name]) for name in self.numeric if name in grids},
        )


@dataclass
class Measured:
    """A side's rows, its Counts (bins over `grids`, shared by the sides measured together) and its sample's
    sorted finite values per slice and numeric column."""

    rows: int
    counts: Counts
    values: dict[Slice, dict[str, np.ndarray]]
    grids: dict[str, list[float]]

    def slice(self, key: Slice) -> SliceCounts | None:
        found = self.counts.get(key)
        return found if found is not None and found.rows else None


def measure(
    sides: Sequence[Side],
    probabilities: Sequence[float] | None = None,
    extra_edges: Mapping[str, Sequence[float]] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 17,
) -> list[Measured]:
    """Each side in three Spark jobs: its row count, a sample of at most `sample_rows` rows to the driver, and one
    `count` pass. With `probabilities`, each numeric column is binned over one grid shared by all sides: every
    side's sample quantiles at those probabilities (0 and 1 included: min and max), plus `extra_edges`."""
    started = time.perf_counter()
    ready = [side.prepare or (lambda rows: rows) for side in sides]
    totals = [side.frame.count() for side in sides]
    values = []
    for side, prepare, total in zip(sides, ready, totals, strict=True):
        layout = side.layout({})
        part = side.frame if total <= sample_rows else side.frame.sample(fraction=sample_rows / total, seed=seed)
        values.append(sample_values(prepared(prepare(part), layout).toArrow(), layout))
    sampled = time.perf_counter()
    grids: dict[str, list[float]] = {}
    if probabilities is not None:
        for name in dict.fromkeys(name for side in sides for name in side.numeric):
            edges = set((extra_edges or {}).get(name, ()))
            for found in values:
                edges |= set(quantiles(found.get(WHOLE, {}).get(name, np.empty(0)), probabilities) or [])
            grids[name] = sorted(edges)
    measured = [
        Measured(total, count(prepare(side.frame), side.layout(grids)), found, grids)
        for side, prepare, total, found in zip(sides, ready, totals, values, strict=True)
    ]
    logger.info(
        "measured %d frame(s) of %s rows: samples %.1f s, counting %.1f s",
        len(sides),
        " + ".join(f"{total:,}" for total in totals),
        sampled - started,
        time.perf_counter() - sampled,
    )
    return measured


def prepared(frame: DataFrame, layout: Layout) -> DataFrame:
    """The frame's columns as `count` and `sample` read them: _n<i> doubles, _c<j> and _s<k> strings."""
    return frame.select(
        *[F.col(quote(name)).cast("double").alias(f"_n{i}") for i, name in enumerate(layout.numeric)],
        *[F.col(quote(name)).cast("string").alias(f"_c{j}") for j, name in enumerate(layout.categorical)],
        *[F.col(quote(name)).cast("string").alias(f"_s{k}") for k, name in enumerate(layout.slices)],
    )


def count(frame: DataFrame, layout: Layout) -> Counts:
    """One pass over `frame` (a Spark job; only per-partition summaries reach the driver). A frame without rows
    gives {}."""
    found: Counts = {}
    conf = frame.sparkSession.conf
    before = conf.get(BATCH_ROWS_SETTING, None)
    conf.set(BATCH_ROWS_SETTING, str(BATCH_ROWS))
    try:
        rows = prepared(frame, layout).mapInArrow(_counter(layout), "payload binary").collect()
    finally:
        conf.unset(BATCH_ROWS_SETTING) if before is None else conf.set(BATCH_ROWS_SETTING, before)
    for row in rows:
        merge(found, pickle.loads(row["payload"]))  # noqa: S301 - our own executors' output of this job
    return found


def sample_values(table: pa.Table, layout: Layout) -> dict[Slice, dict[str, np.ndarray]]:
    """Per slice of a sample, each numeric column's finite values, sorted."""
    found: dict[Slice, dict[str, np.ndarray]] = {}
    table = table.combine_chunks()
    groupings = _groupings(table, layout)
    for i, name in enumerate(layout.numeric):
        x = _doubles(table.column(f"_n{i}"))
        held = np.isfinite(x)
        for column, codes, values, _ in groupings:
            for code, value in enumerate(values):
                found.setdefault((column, value), {})[name] = np.sort(x[held & (codes == code)] + 0.0)
    return found


def quantiles(values: np.ndarray, probabilities: Sequence[float]) -> list[float] | None:
    """Quantiles that are values of the sample (the smallest value whose rank reaches p), None without values."""
    if not len(values):
        return None
    ranks = np.clip(np.ceil(np.asarray(probabilities) * len(values)).astype(np.int64) - 1, 0, len(values) - 1)
    return [float(v) for v in values[ranks]]


def _counter(layout: Layout):  # noqa: ANN202 - the mapInArrow function, shipped to the executors
    def count_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        found: Counts = {}
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= CHUNK_ROWS:
                merge(found, count_table(pa.Table.from_batches(pending), layout))
                pending, rows = [], 0
        if rows:
            merge(found, count_table(pa.Table.from_batches(pending), layout))
        if found:
            yield pa.RecordBatch.from_pydict({"payload": [pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)]})

    return count_partition


def count_table(table: pa.Table, layout: Layout) -> Counts:
    """The Counts of an Arrow table of `prepared` columns (what each executor does with a chunk of rows)."""
    table = table.combine_chunks()
    groupings = _groupings(table, layout)
    found: Counts = {}
    for column, codes, values, _ in groupings:
        sizes = np.bincount(codes, minlength=len(values))
        for code, value in enumerate(values):
            found[(column, value)] = SliceCounts(int(sizes[code]))
    for i, name in enumerate(layout.numeric):
        _count_numeric(found, name, _doubles(table.column(f"_n{i}")), layout.grids.get(name), groupings)
    for j, name in enumerate(layout.categorical):
        _count_categorical(found, name, table.column(f"_c{j}"), groupings)
    return found


Grouping = tuple[str | None, np.ndarray, list[str | None], bool]
"""(slice column or None for the whole frame, each row's slice code, the slice values by code, binned?)."""


def _groupings(table: pa.Table, layout: Layout) -> list[Grouping]:
    groupings: list[Grouping] = [(None, np.zeros(table.num_rows, np.int64), [None], True)]
    for k, name in enumerate(layout.slices):
        codes, values = _codes(table.column(f"_s{k}"))
        groupings.append((name, codes, values, name in layout.binned_slices))
    return groupings


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
    """Each row's value as a code into the values (None, the nulls, is the last code when there are nulls)."""
    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    values: list[str | None] = encoded.dictionary.to_pylist()
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(len(values))
        values.append(None)
    return indices.to_numpy(zero_copy_only=False).astype(np.int64), values


def _doubles(column: pa.ChunkedArray) -> np.ndarray:
    return (
        column.to_numpy().astype(np.float64, copy=False)
        if column.null_count == 0
        else pc.fill_null(column, float("nan")).to_numpy()
    )


def _count_numeric(
    found: Counts, name: str, x: np.ndarray, grid: Sequence[float] | None, groupings: list[Grouping]
) -> None:
    """Sorts the column's values once (numpy's vectorised sort is ~3x faster than a binary search per value):
    bins, extremes and distinct values of the whole frame follow from the order, slices bin by their codes."""
    held = np.isfinite(x)
    order = np.argsort(x[held])
    ordered = x[held][order] + 0.0  # -0.0 becomes 0.0
    size = len(grid) + 1 if grid is not None else 0
    ends = np.searchsorted(ordered, np.asarray(grid, dtype=float), side="right") if grid is not None else None
    bin_rows = np.diff(ends, prepend=0, append=len(ordered)) if ends is not None else None
    distinct = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
    for column, codes, slice_values, binned in groupings:
        if column is None:
            found[WHOLE].numeric[name] = _whole_numeric(ordered, int(len(x) - len(ordered)), distinct, ends, bin_rows)
            continue
        groups = len(slice_values)
        held_codes = codes[held][order]
        counts = np.bincount(held_codes, minlength=groups)
        nulls = np.bincount(codes[~held], minlength=groups)
        zeros = np.bincount(held_codes[ordered == 0], minlength=groups)
        means = np.bincount(held_codes, weights=ordered, minlength=groups) / np.maximum(counts, 1)
        m2 = np.bincount(held_codes, weights=(ordered - means[held_codes]) ** 2, minlength=groups)
        minimums, maximums = _extremes(held_codes, ordered, groups)
        sketches = _sketches(ordered, held_codes, counts, len(distinct))
        per_bin = None
        if bin_rows is not None and binned:
            key = held_codes * size + np.repeat(np.arange(size), bin_rows)
            rows = np.bincount(key, minlength=groups * size).reshape(groups, size)
            sums = np.bincount(key, weights=ordered, minlength=groups * size).reshape(groups, size)
            low, high = _extremes(key, ordered, groups * size)
            per_bin = (rows, sums, low.reshape(groups, size), high.reshape(groups, size))
        for code, value in enumerate(slice_values):
            found[(column, value)].numeric[name] = NumericCounts(
                int(counts[code]),
                int(nulls[code]),
                int(zeros[code]),
                float(means[code]),
                float(m2[code]),
                float(minimums[code]),
                float(maximums[code]),
                sketches[code],
                tuple(part[code].copy() for part in per_bin) if per_bin is not None else None,  # type: ignore[arg-type]
            )


def _whole_numeric(
    ordered: np.ndarray, nulls: int, distinct: np.ndarray, ends: np.ndarray | None, bin_rows: np.ndarray | None
) -> NumericCounts:
    """A column of the whole frame from its sorted values."""
    n = len(ordered)
    mean = float(ordered.mean()) if n else 0.0
    hashes = _hash(distinct)
    if len(hashes) > SKETCH_SIZE:
        hashes = np.partition(hashes, SKETCH_SIZE - 1)[:SKETCH_SIZE]
    bins = None
    if ends is not None and bin_rows is not None:
        starts = np.concatenate(([0], ends))
        held = bin_rows > 0
        sums, minimums, maximums = (
            np.zeros(len(bin_rows)),
            np.full(len(bin_rows), np.nan),
            np.full(len(bin_rows), np.nan),
        )
        if n:
            sums[held] = np.add.reduceat(ordered, starts[held])
            minimums[held] = ordered[starts[held]]
            maximums[held] = ordered[starts[held] + bin_rows[held] - 1]
        bins = (bin_rows.astype(np.int64), sums, minimums, maximums)
    return NumericCounts(
        n,
        nulls,
        int(np.searchsorted(ordered, 0.0, side="right") - np.searchsorted(ordered, 0.0, side="left")),
        mean,
        float(((ordered - mean) ** 2).sum()) if n else 0.0,
        float(ordered[0]) if n else float("nan"),
        float(ordered[-1]) if n else float("nan"),
        np.sort(hashes),
        bins,
    )


def _extremes(keys: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of the values per key (NaN for a key without values)."""
    minimums, maximums = np.full(size, np.nan), np.full(size, np.nan)
    if size == 1:
        if len(values):
            minimums[0], maximums[0] = values.min(), values.max()
        return minimums, maximums
    np.fmin.at(minimums, keys, values)
    np.fmax.at(maximums, keys, values)
    return minimums, maximums


def _count_categorical(found: Counts, name: str, column: pa.ChunkedArray, groupings: list[Grouping]) -> None:
    codes, values = _codes(column)
    width = len(values)
    for slice_column, slice_codes, slice_values, _ in groupings:
        rows = np.bincount(slice_codes * width + codes, minlength=len(slice_values) * width).reshape(-1, width)
        for code, value in enumerate(slice_values):
            present = np.flatnonzero(rows[code])
            found[(slice_column, value)].categorical[name] = {values[v]: int(rows[code, v]) for v in present}


def _hash(values: np.ndarray) -> np.ndarray:
    """splitmix64 of the doubles' bits, cut to HASH_BITS: the same value gives the same hash on every executor."""
    z = values.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) >> np.uint64(64 - HASH_BITS)


def _sketches(ordered: np.ndarray, codes: np.ndarray, counts: np.ndarray, distinct: int) -> list[np.ndarray]:
    """Per slice code, the SKETCH_SIZE smallest distinct hashes of its values, sorted. Only values whose hash is
    small enough to be among them are deduplicated: about 3 * SKETCH_SIZE per slice when the slice holds its share
    of the frame's `distinct` values; a slice left short (fewer distinct values than its share) is done in full."""
    groups = len(counts)
    hashes = _hash(ordered)
    share = np.where(counts > 0, distinct * counts / max(len(ordered), 1), 0.0)
    limit = np.where(share > 3 * SKETCH_SIZE, 3.0 * SKETCH_SIZE / np.maximum(share, 1.0), 2.0) * float(1 << HASH_BITS)
    chosen = hashes.astype(np.float64) < limit[codes]
    sketches = _smallest(hashes[chosen], codes[chosen], groups)
    for g in range(groups):
        if limit[g] <= float(1 << HASH_BITS) and len(sketches[g]) < SKETCH_SIZE:
            sketches[g] = _smallest(hashes[codes == g], np.zeros(int(counts[g]), np.int64), 1)[0]
    return sketches


def _smallest(hashes: np.ndarray, codes: np.ndarray, groups: int) -> list[np.ndarray]:
    unique = np.sort(pd.unique((codes.astype(np.uint64) << np.uint64(HASH_BITS)) | hashes))
    bounds = np.searchsorted(unique >> np.uint64(HASH_BITS), np.arange(groups + 1, dtype=np.uint64))
    return [unique[bounds[g] : min(bounds[g + 1], bounds[g] + SKETCH_SIZE)] & _MASK for g in range(groups)]
