"""The counting pass of monitoring/scan.py on Arrow tables (what each executor does), against numpy by hand."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from customer_ml.monitoring import scan

ROWS = 60_000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    rng = np.random.default_rng(11)
    continuous = rng.lognormal(3, 1, ROWS)
    continuous[:50] = [np.nan, np.inf, -np.inf, -0.0, 0.0] * 10
    whole_numbers = np.round(rng.normal(40, 5, ROWS))
    return pa.table(
        {
            "_n0": pa.array(continuous, mask=rng.random(ROWS) < 0.02),
            "_n1": pa.array(whole_numbers),
            "_c0": pa.array(rng.choice(["a", "b", "c", None], ROWS, p=[0.5, 0.3, 0.15, 0.05])),
            "_s0": pa.array(rng.choice(["s1", "s2", "tiny", None], ROWS, p=[0.6, 0.35, 0.04, 0.01])),
        }
    )


def layout(grid: list[float]) -> scan.Layout:
    return scan.Layout(("x", "k"), ("c",), ("seg",), ("seg",), {"x": tuple(grid), "k": (30.0, 40.0, 50.0)})


def by_hand(table: pa.Table, segment: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The x values of a slice (None: the whole table) and the mask of its finite ones."""
    x = table.column("_n0").to_numpy(zero_copy_only=False).astype(float)
    if segment is not None:
        x = x[np.asarray(table.column("_s0").to_pylist(), dtype=object) == segment]
    return x, np.isfinite(x)


@pytest.mark.parametrize("segment", [None, "s2", "tiny"])
def test_counts_match_numpy_for_the_whole_table_and_each_slice(table: pa.Table, segment: str | None) -> None:
    grid = [1.0, 5.0, 20.0, 20.5, 100.0]
    found = scan.count_table(table, layout(grid))
    key = scan.WHOLE if segment is None else ("seg", segment)
    x, held = by_hand(table, segment)
    values = x[held] + 0.0
    column = found[key].numeric["x"]
    assert found[key].rows == len(x)
    assert (column.count, column.nulls, column.zeros) == (held.sum(), (~held).sum(), (values == 0).sum())
    assert column.mean == pytest.approx(values.mean(), rel=1e-12)
    assert column.std == pytest.approx(values.std(ddof=1), rel=1e-9)
    assert (column.minimum, column.maximum) == (values.min(), values.max())
    assert column.distinct == len(np.unique(values)) or len(np.unique(values)) > scan.SKETCH_SIZE
    # right-closed bins: a value equal to an edge falls in the bin that edge closes
    index = np.searchsorted(np.asarray(grid), values, side="left")
    assert column.bins[0].tolist() == np.bincount(index, minlength=len(grid) + 1).tolist()
    assert column.bins[1] == pytest.approx(np.bincount(index, weights=values, minlength=len(grid) + 1))
    assert np.nanmin(column.bins[2]) == values.min() and np.nanmax(column.bins[3]) == values.max()


def test_categories_are_counted_exactly_with_nulls_as_their_own(table: pa.Table) -> None:
    found = scan.count_table(table, layout([1.0]))
    categories = np.asarray(table.column("_c0").to_pylist(), dtype=object)
    segments = np.asarray(table.column("_s0").to_pylist(), dtype=object)
    expected = {value: int(np.sum((categories == value) & (segments == "s1"))) for value in ("a", "b", "c", None)}
    assert found[("seg", "s1")].categorical["c"] == expected
    assert found[("seg", None)].rows == int(np.sum(segments == None))  # noqa: E711 - elementwise over objects


def test_chunks_merged_give_the_counts_of_the_whole(table: pa.Table) -> None:
    grid = [2.0, 10.0, 40.0]
    whole = scan.count_table(table, layout(grid))
    merged: scan.Counts = {}
    for start in range(0, ROWS, 7_000):
        scan.merge(merged, scan.count_table(table.slice(start, 7_000), layout(grid)))
    for key in whole:
        a, b = whole[key].numeric["x"], merged[key].numeric["x"]
        assert (a.count, a.nulls, a.zeros, a.minimum, a.maximum) == (b.count, b.nulls, b.zeros, b.minimum, b.maximum)
        assert a.mean == pytest.approx(b.mean, rel=1e-12) and a.m2 == pytest.approx(b.m2, rel=1e-9)
        assert a.sketch.tolist() == b.sketch.tolist()  # the same smallest hashes, however the rows were split
        assert a.bins[0].tolist() == b.bins[0].tolist()
        assert whole[key].categorical == merged[key].categorical


def test_distinct_counts_are_exact_when_few_and_close_when_many(table: pa.Table) -> None:
    found = scan.count_table(table, layout([1.0]))
    whole_numbers = table.column("_n1").to_numpy()
    assert found[scan.WHOLE].numeric["k"].distinct == len(np.unique(whole_numbers))
    for key in (scan.WHOLE, ("seg", "s1")):
        x, held = by_hand(table, key[1])
        truth = len(np.unique(x[held] + 0.0))
        assert truth > scan.SKETCH_SIZE
        assert found[key].numeric["x"].distinct == pytest.approx(truth, rel=0.08)  # ~3.5 standard errors


def test_a_column_without_a_grid_has_no_bins_and_an_empty_grid_one_bin(table: pa.Table) -> None:
    found = scan.count_table(table, scan.Layout(("x", "k"), (), (), (), {"k": ()}))
    assert found[scan.WHOLE].numeric["x"].bins is None
    assert found[scan.WHOLE].numeric["k"].bins[0].tolist() == [ROWS]


def test_quantiles_are_values_of_the_sample() -> None:
    values = np.arange(1.0, 11.0)
    assert scan.quantiles(values, [0.0, 0.1, 0.5, 0.55, 1.0]) == [1.0, 1.0, 5.0, 6.0, 10.0]
    assert scan.quantiles(np.empty(0), [0.5]) is None
