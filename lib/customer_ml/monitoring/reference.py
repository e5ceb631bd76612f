"""Distributions kept without their rows: what training stores so that a later score date can be compared with it.

The classifier's test scores (distinct scores with their row counts, already on the driver when training
evaluates) become a `StoredNumeric`: the 1000-quantile grid of monitoring/stats.py with per-bin rows, value sums,
minima and maxima, the deciles, the std. That is all PSI, KS and Wasserstein need of the reference side, so
`numeric_drift` bins only the current frame (one counting pass) and compares it with the stored side exactly as
`frame_drift` compares two frames (or, when that frame is counted anyway, its finer bins are merged onto the
stored grid: `stored_drift`). The segment mix is a `dict` of counts per segment name (`categorical_drift`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame

from customer_ml.errors import MonitoringError
from customer_ml.monitoring import scan
from customer_ml.monitoring.divergence import EMPTY_BIN_EPSILON, BinnedValues, regrid
from customer_ml.monitoring.stats import DECILES, GRID_QUANTILES, DriftStat, categorical_stat, numeric_stat

SCORE_REFERENCE = "score_reference.json"
"""The artifact of a classifier's training run holding its test scores as a StoredNumeric."""


@dataclass(frozen=True)
class StoredNumeric:
    """A numeric column's distribution as right-closed bins over `edges` (its grid quantiles, deciles, min, max),
    with the rows that had no value (`nulls`), its sample std and its deciles."""

    edges: list[float]
    binned: BinnedValues
    nulls: int
    std: float | None
    deciles: list[float]

    @property
    def rows(self) -> int:
        return int(sum(self.binned.counts)) + self.nulls

    @classmethod
    def of_counts(cls, values: Sequence[float], counts: Sequence[float], nulls: int = 0) -> StoredNumeric:
        """From distinct values and how many rows hold each (e.g. a ScoreCounts' scores and rows)."""
        order = np.argsort(np.asarray(values, dtype=float), kind="stable")
        x, n = np.asarray(values, dtype=float)[order], np.asarray(counts, dtype=float)[order]
        held = np.isfinite(x) & (n > 0)
        x, n = x[held], np.rint(n[held]).astype(np.int64)
        if not len(x):
            raise MonitoringError("a stored distribution needs at least one value")
        cumulative = np.cumsum(n)
        deciles = [_lower_quantile(x, cumulative, p) for p in DECILES]
        grid = [_lower_quantile(x, cumulative, i / GRID_QUANTILES) for i in range(1, GRID_QUANTILES)]
        edges = sorted({*grid, *deciles, float(x[0]), float(x[-1])})
        index = np.searchsorted(np.asarray(edges), x, side="left")
        size = len(edges) + 1
        minimums, maximums = np.full(size, np.nan), np.full(size, np.nan)
        np.fmin.at(minimums, index, x)
        np.fmax.at(maximums, index, x)
        binned = BinnedValues(
            np.bincount(index, weights=n, minlength=size).astype(np.int64).tolist(),
            np.bincount(index, weights=n * x, minlength=size).tolist(),
            minimums.tolist(),
            maximums.tolist(),
        )
        total = int(cumulative[-1])
        mean = float(np.sum(n * x) / total)
        std = float(np.sqrt(np.sum(n * (x - mean) ** 2) / (total - 1))) if total > 1 else None
        return cls(edges, binned, int(nulls), std, sorted(set(deciles)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN, which marks an empty bin's min and max, becomes None)."""
        binned = {key: [None if _nan(v) else v for v in values] for key, values in asdict(self.binned).items()}
        return {"edges": self.edges, "binned": binned, "nulls": self.nulls, "std": self.std, "deciles": self.deciles}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> StoredNumeric:
        try:
            binned = {key: [np.nan if v is None else v for v in values] for key, values in stored["binned"].items()}
            return cls(
                [float(e) for e in stored["edges"]],
                BinnedValues(**binned),
                int(stored["nulls"]),
                stored["std"],
                [float(d) for d in stored["deciles"]],
            )
        except (KeyError, TypeError) as error:
            raise MonitoringError(f"a stored distribution is incomplete ({error}); retrain the model") from None


def numeric_drift(
    name: str, stored: StoredNumeric, current: DataFrame, column: str, epsilon: float = EMPTY_BIN_EPSILON
) -> DriftStat:
    """`column` of `current` against a stored distribution: PSI over the stored deciles, KS and Wasserstein-1 over
    the stored grid (its error bound widens where current values crowd into one stored bin), one pass."""
    found = scan.count(current, scan.Layout((column,), (), grids={column: tuple(stored.edges)})).get(scan.WHOLE)
    if found is None:
        raise MonitoringError(f"{name}: the current frame has no rows")
    counted = found.numeric[column]
    return stored_drift(name, stored, stored.edges, counted.binned(), counted.nulls, epsilon)


def stored_drift(
    name: str,
    stored: StoredNumeric,
    edges: Sequence[float],
    binned: BinnedValues,
    nulls: int,
    epsilon: float = EMPTY_BIN_EPSILON,
) -> DriftStat:
    """A column counted over `edges` (which hold every stored edge) against a stored distribution: the counts are
    merged onto the stored grid first."""
    if not int(sum(binned.counts)) + nulls:
        raise MonitoringError(f"{name}: the current frame has no rows")
    current = regrid(edges, binned, stored.edges)
    return numeric_stat(
        name, stored.edges, (stored.binned, current), (stored.nulls, nulls), stored.deciles, stored.std, epsilon
    )


def categorical_drift(
    name: str,
    reference: Mapping[str | None, int],
    current: Mapping[str | None, int],
    epsilon: float = EMPTY_BIN_EPSILON,
) -> DriftStat:
    """Two category mixes (rows per category, None for the rows without one), e.g. a stored segment mix and a
    score date's: `categorical_stat`, with a one-line error when a side has no rows."""
    if not sum(reference.values()) or not sum(current.values()):
        raise MonitoringError(f"{name}: a category mix needs rows on both sides")
    return categorical_stat(name, reference, current, epsilon)


def _lower_quantile(values: np.ndarray, cumulative: np.ndarray, probability: float) -> float:
    """The smallest value whose cumulative row count reaches `probability` of all rows."""
    return float(values[min(np.searchsorted(cumulative, probability * cumulative[-1], side="left"), len(values) - 1)])


def _nan(value: float) -> bool:
    return isinstance(value, float) and value != value
